"""Fixtures of the cases tests: a second node database for the tests across two nodes."""

from tests.exchange.exchange_support import other_db

__all__ = ["other_db"]
