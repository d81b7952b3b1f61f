"""How citizens prove who they are: behind ``IdentityProvider``, so a national e-ID can replace it.

Today's provider checks an ID number and a password against the node's own accounts. An OIDC provider
for the national e-ID would implement the same protocol: ``begin`` answers the URL to send the browser to
(``None`` for the password form), and ``authenticate`` turns what comes back (form fields, or the
authorization code and state of the redirect) into the id of a local account (creating or linking it is
the provider's business), raising ``Unauthenticated`` otherwise. Sign-in pages only call these two.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from tongban.access import credentials, service
from tongban.access.domain import N_, Role
from tongban.access.settings import AccessSettings
from tongban.core.errors import Unauthenticated
from tongban.core.node import NodeContext


class IdentityProvider(Protocol):
    name: str

    def begin(self, node: NodeContext, *, return_to: str) -> str | None:
        """Where to send the browser to sign in, or None when the sign-in form itself is used."""
        ...

    def authenticate(
        self, node: NodeContext, *, credentials: Mapping[str, str], now: datetime
    ) -> service.UserInfo:
        """The local account proven by ``credentials``; ``Unauthenticated`` / ``AccountLocked`` otherwise."""
        ...


class StaffPasswords:
    """Staff: user name and password (the second factor follows on its own page)."""

    name = "staff"

    def __init__(self, settings: AccessSettings) -> None:
        self.settings = settings

    def begin(self, node: NodeContext, *, return_to: str) -> str | None:
        return None

    def authenticate(
        self, node: NodeContext, *, credentials: Mapping[str, str], now: datetime
    ) -> service.UserInfo:
        login = credentials.get("login", "").strip()
        user = service.check_password(
            node.db, settings=self.settings, login=login, password=credentials.get("password", ""), now=now
        )
        if user.role is Role.CITIZEN:
            raise Unauthenticated(N_("Wrong sign-in name or password."))
        return user


class CitizenPasswords:
    """Citizens: ID number and password, against the node's accounts (login = keyed digest of the ID)."""

    name = "citizen"

    def __init__(self, settings: AccessSettings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret

    def begin(self, node: NodeContext, *, return_to: str) -> str | None:
        return None

    def login_for(self, id_number: str) -> str:
        return credentials.citizen_login(self.secret, id_number)

    def authenticate(
        self, node: NodeContext, *, credentials: Mapping[str, str], now: datetime
    ) -> service.UserInfo:
        id_number = credentials.get("login", "").strip().upper()
        user = service.check_password(
            node.db,
            settings=self.settings,
            login=self.login_for(id_number),
            password=credentials.get("password", ""),
            now=now,
        )
        if user.role is not Role.CITIZEN:
            raise Unauthenticated(N_("Wrong sign-in name or password."))
        return user
