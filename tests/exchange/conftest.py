"""Fixtures of the exchange tests (their support code is in ``exchange_support``)."""

from exchange_support import nation, other_db

__all__ = ["nation", "other_db"]
