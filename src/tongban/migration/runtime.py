"""Start-up: importing the service registers the migration message types and their handlers; a served node's
migration settings come from ``TONGBAN_MIGRATION_*`` (``automatic_move_out``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

import tongban.migration.service  # noqa: F401  (registers mig.*.v1 types and handlers)
from tongban.migration.common import SETTINGS_SERVICE, MigrationSettings
from tongban.web.app import Runtime


class MigrationProcessSettings(BaseSettings):
    """What a ``tongban serve`` process sets for the nodes it serves (``TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT``)."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_MIGRATION_", extra="ignore")

    automatic_move_out: bool = False


def attach(runtime: Runtime) -> None:
    """Nothing to start (the saga's work runs in the exchange's apply loop and in the use cases); the nodes'
    migration settings, unless a node already has its own."""
    env = MigrationProcessSettings()
    if env.automatic_move_out:
        for node in runtime.nodes.values():
            node.services.setdefault(SETTINGS_SERVICE, MigrationSettings(automatic_move_out=True))
