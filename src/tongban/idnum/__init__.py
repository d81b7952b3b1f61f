"""Resident ID numbers (GB 11643-1999)."""
