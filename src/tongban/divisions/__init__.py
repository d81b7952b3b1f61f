"""Administrative divisions (GB/T 2260) by code and year, with names in hanzi and pinyin."""
