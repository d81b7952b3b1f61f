"""Fixtures of the CERT tests (their support code is in ``cert_support``)."""

from tests.exchange.exchange_support import other_db

__all__ = ["other_db"]
