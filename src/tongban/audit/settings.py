"""Audit settings (``TONGBAN_AUDIT_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_AUDIT_", env_file=".env", extra="ignore")

    # How often each node's sealer links newly committed audit rows into the chain.
    seal_interval_s: float = 2.0
    # Rows sealed per transaction.
    seal_batch: int = 500
    # Start a sealer for each node served (off for maintenance runs that seal explicitly).
    sealer_enabled: bool = True
    # How often each node sends its sealed chain head to its peers over the exchange (only when the node has
    # one, and only when the head moved). Peers holding heads is what catches a complete rewrite of a node's
    # history; the interval bounds how much recent history a rewrite could still hide from them.
    head_interval_s: float = 300.0
