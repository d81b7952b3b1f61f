"""The node's secret key: from settings, or generated once into the data dir (mode 0600)."""

from __future__ import annotations

import os
import secrets as pysecrets
import threading
from pathlib import Path

from tongban.core.settings import Settings

_lock = threading.Lock()
_cache: dict[str, bytes] = {}
SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret


def app_secret(settings: Settings) -> bytes:
    """Key for CSRF tokens of anonymous visitors and for digests of citizens' login IDs."""
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    key = str(path.resolve())
    with _lock:
        if key in _cache:
            return _cache[key]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(pysecrets.token_hex(32))
        value = path.read_text().strip().encode("utf-8")
        _cache[key] = value
        return value
