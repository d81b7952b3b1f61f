"""All settings in one place, read from ``TONGBAN_*`` environment variables.

No engine, connection or file is created here: settings are plain values, and the code that needs
a resource builds it from them when it runs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of a tongban process (one node, or several nodes embedded)."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", env_file=".env", extra="ignore")

    # Where SQLite node files, keys and the synthetic nation live in the embedded default.
    data_dir: Path = Path("var")
    # A single node's database URL (production: one PostgreSQL database per node).
    # When unset, each node uses ``sqlite:///{data_dir}/{code}.sqlite3``.
    db_url: str | None = None
    # NATS server for the JetStream transport; unset means the embedded in-process exchange.
    nats_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    # Default language of pages and messages.
    default_locale: str = "zh_CN"

    # Storage timeouts (seconds). SQLite's busy timeout; PostgreSQL's lock and idle-in-transaction timeouts.
    sqlite_busy_timeout_s: float = 30.0
    pg_lock_timeout_s: float = 10.0
    pg_idle_in_transaction_timeout_s: float = 60.0
    pg_statement_timeout_s: float = 0.0  # 0 = no limit
    db_pool_size: int = 10

    # Secret used to sign session cookies and CSRF tokens; generated into data_dir when unset.
    secret_key: str | None = Field(default=None, repr=False)

    # Largest upload accepted, in bytes.
    max_upload_bytes: int = 10 * 1024 * 1024

    log_level: str = "INFO"

    # Cases: operators' holiday schedules (<year>.toml) for years the chinese_calendar library does not cover.
    calendar_dir: Path | None = None
    # Cases: local settlement policy files; unset means the samples shipped with the cases capability.
    policy_dir: Path | None = None

    def node_db_url(self, code: str) -> str:
        """The database URL of node ``code``: the configured one, or its SQLite file under data_dir."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / f'{code}.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings, read once from the environment."""
    return Settings()
