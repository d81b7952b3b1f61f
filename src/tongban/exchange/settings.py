"""Settings of the exchange (``TONGBAN_EXCHANGE_*``): every window, timeout and limit, with its reason."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ExchangeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_EXCHANGE_", env_file=".env", extra="ignore")

    # Envelopes created more than this long ago (or this far in the future) are stale. It must exceed the
    # longest re-send period below, because a re-send is byte-identical and keeps its created-at.
    accept_window_s: float = 7 * 86400.0
    future_skew_s: float = 300.0
    # Received ids are kept at least this long (longer than the window plus the longest re-send period).
    inbox_retention_s: float = 30 * 86400.0
    # How often the expired inbox ids, closed outbox rows and old rejections are purged.
    purge_interval_s: float = 3600.0
    # Largest envelope accepted, in bytes (a JetStream message is 1 MiB at most by default).
    max_envelope_bytes: int = 512 * 1024
    # Grace after the directory's expiry during which it is still used.
    directory_grace_s: float = 3 * 86400.0
    # `exchange status` and the exchange page warn when the directory expires in fewer days than this
    # (the national operator re-signs it with `tongban directory resign`).
    directory_warn_days: float = 7.0

    # Relay: first re-send after this, doubling up to the maximum, parked after this many sends.
    resend_initial_s: float = 5.0
    resend_max_s: float = 3600.0
    resend_max_attempts: int = 60
    relay_batch: int = 200
    # The relay signs up to this many envelopes with one Ed25519 signature over their Merkle root; each
    # envelope carries its path (about 45 bytes per doubling: 64 adds six steps, some 290 bytes), and a
    # receiver verifies one signature per batch instead of one per envelope.
    sign_batch: int = 64

    # Worker: a failing handler is retried this many times (with backoff), then parked.
    apply_max_attempts: int = 5
    apply_retry_s: float = 2.0
    # A message waiting for an earlier one is retried this often, and parked after waiting this long.
    waiting_retry_s: float = 1.0
    waiting_max_s: float = 86400.0
    apply_batch: int = 200
    # Messages applied per commit (each in its own savepoint): fewer commits, same atomicity per message.
    apply_group: int = 50

    # Each node re-reads the directory this often (and at once on an unknown key id).
    directory_refresh_s: float = 60.0
    # Loops poll this often when idle.
    poll_interval_s: float = 0.05
    # Receipts are sent at most this many ids per receipt envelope.
    receipt_batch: int = 500

    # Crash tests only (see failpoints.py): the point where the process kills itself, and at which visit.
    crash_at: str | None = None
    crash_after: int = 1

    # Fault injection around the transport (chaos tests only): probabilities per publication, and the seed.
    fault_drop: float = 0.0
    fault_duplicate: float = 0.0
    fault_delay: float = 0.0
    fault_reorder: float = 0.0
    fault_seed: int = 0

    # JetStream (see docs/exchange.md for the reasons).
    stream_name: str = "TONGBAN"
    subject_prefix: str = "tongban.node"
    stream_replicas: int = 1
    duplicate_window_s: float = 120.0
    ack_wait_s: float = 30.0
    max_deliver: int = -1
    max_ack_pending: int = 10000
    fetch_batch: int = 256
    fetch_timeout_s: float = 0.2
    publish_timeout_s: float = 5.0
    max_age_s: float = 14 * 86400.0
