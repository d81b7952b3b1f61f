"""Crash points for crash tests: with ``TONGBAN_EXCHANGE_CRASH_AT=<point>`` the process SIGKILLs itself the
``TONGBAN_EXCHANGE_CRASH_AFTER``-th time it reaches that point. Unset (the default) they do nothing.

Points: ``relay.before_publish`` (outbox row committed, not published), ``relay.after_publish`` (published,
outbox not updated), ``receive.after_inbox`` (inbox row committed, broker not acknowledged),
``apply.after_commit`` (effects committed, receipt not sent).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

from tongban.exchange.settings import ExchangeSettings

_reached: Counter[str] = Counter()


def crashpoint(settings: ExchangeSettings, name: str) -> None:
    if settings.crash_at != name:
        return
    _reached[name] += 1
    if _reached[name] >= settings.crash_after:
        os.kill(os.getpid(), signal.SIGKILL)
