"""Errors every capability raises, with what the web layer needs to render them.

Plain Python: the domain raises these; the web layer turns them into RFC 9457 problem documents (API) or
a page in the user's language. ``message`` is an English msgid with ``{name}`` placeholders, translated
when shown; ``params`` fill the placeholders. ``code`` is a stable machine-readable slug.
"""

from __future__ import annotations

from typing import Any, ClassVar


def N_(message: str) -> str:  # noqa: N802 - gettext convention; kept here so the domain needs no i18n import
    return message


class TongbanError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "error"
    title: ClassVar[str] = N_("Request could not be processed")

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(self.render())

    def render(self) -> str:
        """The English text with its placeholders filled (for logs of non-personal errors and the CLI)."""
        try:
            return self.message.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.message


class InvalidInput(TongbanError):
    status = 422
    code = "invalid-input"
    title = N_("Invalid input")


class NotFound(TongbanError):
    status = 404
    code = "not-found"
    title = N_("Not found")


class Conflict(TongbanError):
    """The request is well-formed but the current state forbids it (e.g. an illegal transition)."""

    status = 409
    code = "conflict"
    title = N_("Conflict with the current state")


class Forbidden(TongbanError):
    status = 403
    code = "forbidden"
    title = N_("Forbidden")


class Unauthenticated(TongbanError):
    status = 401
    code = "unauthenticated"
    title = N_("Sign-in required")


class TooLarge(TongbanError):
    status = 413
    code = "too-large"
    title = N_("Content too large")
