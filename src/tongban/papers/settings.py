"""Settings of the papers capability's background work (``TONGBAN_PAPERS_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PapersSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_PAPERS_", env_file=".env", extra="ignore")

    # How often a served process asks every other issuer in the directory for its current revocation list
    # over the exchange (0: never). Issuers also push their list to every node whenever it changes; the
    # pull is the safety net (a node that joined later, a push parked by an operator) and what keeps "as
    # of" recent when nothing was revoked.
    revocation_pull_interval_s: float = 900.0
