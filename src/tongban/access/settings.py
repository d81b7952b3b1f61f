"""Access settings (``TONGBAN_ACCESS_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_ACCESS_", env_file=".env", extra="ignore")

    # Session cookies carry the Secure flag. Unset (the default): always, except for plain http to localhost
    # (127.0.0.1, ::1, localhost), so `tongban serve` works on a developer's machine; set true behind a proxy
    # that terminates TLS on localhost.
    cookie_secure: bool | None = None
    session_cookie: str = "tongban_session"
    anon_cookie: str = "tongban_anon"
    session_ttl_s: int = 8 * 3600
    # A session half-way through sign-in (second factor pending) lives this long.
    pending_ttl_s: int = 600
    # Consecutive failed sign-ins that lock an account; how long it stays locked (0 = until an admin).
    lockout_threshold: int = 10
    lockout_s: int = 0
    # Sign-in attempts per client address and per login within the window.
    rate_limit_attempts: int = 30
    rate_limit_window_s: float = 60.0
    # argon2id parameters (the defaults follow RFC 9106's second recommendation).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    totp_issuer: str = "tongban"
    # Access records of views: buffered and committed in groups.
    view_flush_interval_s: float = 1.0
    view_batch: int = 200
    view_buffer_max: int = 10_000
    # Start the background flusher of access records for each node served.
    flusher_enabled: bool = True
