"""CERT settings (``TONGBAN_CERT_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from tongban.core.node import NodeContext

SERVICE = "cert.settings"


class CertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_CERT_", env_file=".env", extra="ignore")

    # Hukou nodes (comma-separated codes) whose registry has every certificate decided by a reviewer, even
    # where the CERT matter allows automatic issuing (``allows_automatic`` in ``CERT.toml``).
    review_nodes: str = ""

    def reviews_all(self, node_code: str) -> bool:
        return node_code in {c.strip() for c in self.review_nodes.split(",") if c.strip()}


def cert_settings(node: NodeContext) -> CertSettings:
    """The node's CERT settings (read from the environment once, then kept in its services)."""
    settings = node.services.get(SERVICE)
    if not isinstance(settings, CertSettings):
        settings = CertSettings()
        node.services[SERVICE] = settings
    return settings
