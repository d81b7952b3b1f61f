"""tongban: cross-province household-registration services."""

__version__ = "0.1.0"
