"""The registry: persons, households, the registration journal, name search, ID numbers, import and export."""
