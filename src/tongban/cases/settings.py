"""Settings of the cases capability's background work (``TONGBAN_CASES_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class CasesJobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_CASES_", env_file=".env", extra="ignore")

    # How often a served process sweeps its nodes' deadlines (overdue cases and tasks, expired materials
    # waits), in seconds; 0 turns the sweep off (another process sweeps). Deadlines are days, so a minute
    # is prompt; several processes sweeping one database is safe (compare-and-set on every row).
    sweep_interval_s: float = 60.0
