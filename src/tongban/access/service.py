"""Access use cases: users, sign-in with a second factor, sessions, API tokens. One transaction each.

Every change to an account is audited in its own transaction (``tongban.audit.service.record_audit``).
Nothing personal goes to logs: users are named by their numeric id.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tongban.access import credentials as cred
from tongban.access import store
from tongban.access.domain import (
    N_,
    STAFF_ROLES,
    AccountLocked,
    Grant,
    Principal,
    PrincipalKind,
    Role,
    Scope,
    is_division_code,
)
from tongban.access.settings import AccessSettings
from tongban.access.tables import ApiToken, User, WebSession
from tongban.audit.service import record_audit
from tongban.core.db import Database
from tongban.core.errors import Conflict, InvalidInput, NotFound, Unauthenticated

STAGE_ACTIVE = "active"
STAGE_TOTP = "totp"
STAGE_ENROL = "enrol"


@dataclass(frozen=True)
class UserInfo:
    id: int
    login: str
    kind: PrincipalKind
    role: Role
    display_name: str
    division_code: str | None
    office_code: str | None
    person_ref: str | None
    enterprise_id: str | None
    totp_enrolled: bool
    locked: bool
    disabled: bool
    failed_attempts: int
    last_sign_in_at: datetime | None

    def principal(self, node: str) -> Principal:
        return Principal(
            id=str(self.id),
            kind=self.kind,
            role=self.role,
            display_name=self.display_name,
            node=node,
            division_code=self.division_code,
            office_code=self.office_code,
            person_ref=self.person_ref,
            enterprise_id=self.enterprise_id,
        )


def info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        login=user.login,
        kind=PrincipalKind(user.kind),
        role=Role(user.role),
        display_name=user.display_name,
        division_code=user.division_code,
        office_code=user.office_code,
        person_ref=user.person_ref,
        enterprise_id=user.enterprise_id,
        totp_enrolled=user.totp_enrolled_at is not None,
        locked=user.locked_at is not None,
        disabled=user.disabled_at is not None,
        failed_attempts=user.failed_attempts,
        last_sign_in_at=user.last_sign_in_at,
    )


def kind_of(role: Role) -> PrincipalKind:
    if role in STAFF_ROLES:
        return PrincipalKind.STAFF
    if role is Role.CITIZEN:
        return PrincipalKind.CITIZEN
    return PrincipalKind.ENTERPRISE


def add_user(
    db: Database,
    *,
    settings: AccessSettings,
    now: datetime,
    actor: str,
    login: str,
    role: Role,
    display_name: str,
    password: str,
    division_code: str | None = None,
    office_code: str | None = None,
    person_ref: str | None = None,
    enterprise_id: str | None = None,
) -> UserInfo:
    """Create an account. Staff need a division (and office); citizens a person; enterprise users theirs.

    ``login`` is a staff user name, or for a citizen the keyed digest from ``credentials.citizen_login``.
    """
    kind = kind_of(role)
    weak = cred.check_password_strength(password)
    if weak:
        raise InvalidInput(weak)
    if kind is PrincipalKind.STAFF:
        if not division_code or not is_division_code(division_code):
            raise InvalidInput(N_("Staff need the six-digit division code of their office."))
        if not office_code:
            raise InvalidInput(N_("Staff need an office code."))
    if kind is PrincipalKind.CITIZEN and not person_ref:
        raise InvalidInput(N_("A citizen account needs the person it belongs to."))
    if kind is PrincipalKind.ENTERPRISE and not enterprise_id:
        raise InvalidInput(N_("An enterprise account needs its enterprise."))
    pw_hash = cred.hash_password(settings, password)
    with db.transaction() as s:
        if store.user_by_login(s, login) is not None:
            raise Conflict(N_("An account with this sign-in name exists already."))
        user = User(
            login=login,
            kind=kind.value,
            role=role.value,
            display_name=display_name,
            division_code=division_code,
            office_code=office_code,
            person_ref=person_ref,
            enterprise_id=enterprise_id,
            password_hash=pw_hash,
            must_change_password=False,
            failed_attempts=0,
            created_at=now,
        )
        s.add(user)
        s.flush()
        record_audit(
            s,
            actor=actor,
            action="access.user.create",
            object_type="user",
            object_id=str(user.id),
            change={"role": role.value, "division_code": division_code, "office_code": office_code},
            at=now,
        )
        return info(user)


def get_user(db: Database, *, user_id: int | None = None, login: str | None = None) -> UserInfo:
    with db.session() as s:
        user = store.user_by_id(s, user_id) if user_id is not None else None
        if user is None and login is not None:
            user = store.user_by_login(s, login)
        if user is None:
            raise NotFound(N_("No such account."))
        return info(user)


def list_users(
    db: Database, *, division_prefix: str | None, office_code: str | None = None, limit: int = 500
) -> list[UserInfo]:
    with db.session() as s:
        return [
            info(u)
            for u in store.users(s, division_prefix=division_prefix, office_code=office_code, limit=limit)
        ]


def set_disabled(db: Database, *, user_id: int, disabled: bool, actor: str, now: datetime) -> UserInfo:
    with db.transaction() as s:
        user = store.user_by_id(s, user_id, for_update=True)
        if user is None:
            raise NotFound(N_("No such account."))
        user.disabled_at = now if disabled else None
        if disabled:
            store.delete_sessions_of(s, user.id)
        record_audit(
            s,
            actor=actor,
            action="access.user.disable" if disabled else "access.user.enable",
            object_type="user",
            object_id=str(user.id),
            change={"disabled": disabled},
            at=now,
        )
        return info(user)


def reset_password(
    db: Database,
    *,
    settings: AccessSettings,
    user_id: int,
    password: str,
    actor: str,
    now: datetime,
    reset_totp: bool = False,
) -> UserInfo:
    """Set a new password, unlock the account and end its sessions (optionally re-enrol the second factor)."""
    weak = cred.check_password_strength(password)
    if weak:
        raise InvalidInput(weak)
    pw_hash = cred.hash_password(settings, password)
    with db.transaction() as s:
        user = store.user_by_id(s, user_id, for_update=True)
        if user is None:
            raise NotFound(N_("No such account."))
        user.password_hash = pw_hash
        user.failed_attempts = 0
        user.locked_at = None
        if reset_totp:
            user.totp_secret = None
            user.totp_enrolled_at = None
            user.totp_last_step = None
        store.delete_sessions_of(s, user.id)
        record_audit(
            s,
            actor=actor,
            action="access.user.reset_password",
            object_type="user",
            object_id=str(user.id),
            change={"locked": False, "totp_enrolled": user.totp_enrolled_at is not None},
            at=now,
        )
        return info(user)


# -- sign-in ---------------------------------------------------------------------------------------


def _is_locked(user: User, settings: AccessSettings, now: datetime) -> bool:
    if user.locked_at is None:
        return False
    expired = settings.lockout_s > 0 and now - user.locked_at >= timedelta(seconds=settings.lockout_s)
    return not expired


def check_password(
    db: Database, *, settings: AccessSettings, login: str, password: str, now: datetime
) -> UserInfo:
    """Check a password; count failures and lock the account at the threshold.

    Unknown logins, wrong passwords and disabled accounts all answer the same ``Unauthenticated`` (no
    account enumeration); a locked account answers ``AccountLocked`` even with the right password.
    """
    with db.session() as s:
        user = store.user_by_login(s, login)
        stored = user.password_hash if user is not None else None
    if stored is None:
        cred.burn_time(settings, password)
        raise Unauthenticated(N_("Wrong sign-in name or password."))
    good = cred.verify_password(settings, stored, password)
    with db.transaction() as s:
        user = store.user_by_login(s, login, for_update=True)
        if user is None:
            raise Unauthenticated(N_("Wrong sign-in name or password."))
        if _is_locked(user, settings, now):
            raise AccountLocked(
                N_("This account is locked after too many failed sign-ins; ask an administrator.")
            )
        if user.locked_at is not None:  # the lock expired
            user.locked_at = None
            user.failed_attempts = 0
        if not good or user.disabled_at is not None:
            user.failed_attempts += 1
            if user.failed_attempts >= settings.lockout_threshold:
                user.locked_at = now
                record_audit(
                    s,
                    actor="system:sign-in",
                    action="access.user.lock",
                    object_type="user",
                    object_id=str(user.id),
                    change={"locked": True, "count": user.failed_attempts},
                    at=now,
                )
        else:
            user.failed_attempts = 0
            if cred.hasher(settings).check_needs_rehash(stored):
                user.password_hash = cred.hash_password(settings, password)
            return info(user)
    # Outside the transaction, so the counted failure is committed before the refusal is raised.
    if user.locked_at is not None:
        raise AccountLocked(
            N_("This account is locked after too many failed sign-ins; ask an administrator.")
        )
    raise Unauthenticated(N_("Wrong sign-in name or password."))


def stage_after_password(user: UserInfo) -> str:
    """Staff need a second factor (enrolling it first if they have none); others are signed in."""
    if user.kind is PrincipalKind.STAFF:
        return STAGE_TOTP if user.totp_enrolled else STAGE_ENROL
    return STAGE_ACTIVE


def start_totp_enrolment(db: Database, *, user_id: int, key: bytes) -> str:
    """Give the account a new (not yet confirmed) TOTP secret and return it (stored encrypted with ``key``)."""
    secret = cred.new_totp_secret()
    with db.transaction() as s:
        user = store.user_by_id(s, user_id, for_update=True)
        if user is None:
            raise NotFound(N_("No such account."))
        if user.totp_enrolled_at is not None:
            raise Conflict(N_("A second factor is enrolled already."))
        user.totp_secret = cred.seal_totp_secret(key, secret, user_id=user.id)
    return secret


def pending_totp_secret(db: Database, *, user_id: int, key: bytes) -> str | None:
    with db.session() as s:
        user = store.user_by_id(s, user_id)
        if user is None or user.totp_enrolled_at is not None or user.totp_secret is None:
            return None
        return cred.open_totp_secret(key, user.totp_secret, user_id=user.id)


def check_totp(
    db: Database, *, settings: AccessSettings, key: bytes, user_id: int, code: str, now: datetime, actor: str
) -> None:
    """Check a TOTP code (confirming enrolment when pending). A code is accepted once; failures count
    towards the lock-out like wrong passwords."""
    with db.transaction() as s:
        user = store.user_by_id(s, user_id, for_update=True)
        if user is None or user.totp_secret is None:
            raise Unauthenticated(N_("No second factor is being set up for this account."))
        if _is_locked(user, settings, now):
            raise AccountLocked(
                N_("This account is locked after too many failed sign-ins; ask an administrator.")
            )
        secret = cred.open_totp_secret(key, user.totp_secret, user_id=user.id)
        step = cred.totp_matching_step(secret, code, now)
        if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
            user.failed_attempts += 1
            if user.failed_attempts >= settings.lockout_threshold:
                user.locked_at = now
            failed = True
        else:
            failed = False
            user.totp_last_step = step
            user.failed_attempts = 0
            if user.totp_enrolled_at is None:
                user.totp_enrolled_at = now
                record_audit(
                    s,
                    actor=actor,
                    action="access.user.enroll_totp",
                    object_type="user",
                    object_id=str(user.id),
                    change={"totp_enrolled": True},
                    at=now,
                )
    if failed:
        raise Unauthenticated(N_("The code is wrong or was used already."))


# -- sessions --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    ttl_s: int


def open_session(
    db: Database, *, settings: AccessSettings, user_id: int, stage: str, now: datetime
) -> NewSession:
    token = cred.new_token()
    csrf = secrets.token_urlsafe(32)
    ttl = settings.session_ttl_s if stage == STAGE_ACTIVE else settings.pending_ttl_s
    expires = now + timedelta(seconds=ttl)
    with db.transaction() as s:
        store.delete_expired_sessions(s, now)
        store.add_session(
            s,
            WebSession(
                token_hash=cred.token_digest(token),
                user_id=user_id,
                stage=stage,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
            ),
        )
        if stage == STAGE_ACTIVE:
            user = store.user_by_id(s, user_id)
            if user is not None:
                user.last_sign_in_at = now
                record_audit(
                    s,
                    actor=str(user_id),
                    action="access.session.open",
                    object_type="user",
                    object_id=str(user_id),
                    change=None,
                    at=now,
                )
    return NewSession(token=token, csrf_token=csrf, expires_at=expires, ttl_s=ttl)


@dataclass(frozen=True)
class LoadedSession:
    token_hash: str
    stage: str
    csrf_token: str
    expires_at: datetime
    user: UserInfo


def load_session(db: Database, *, token: str, now: datetime) -> LoadedSession | None:
    """The session of a cookie token, if it exists, has not expired, and its account is usable."""
    digest = cred.token_digest(token)
    with db.session() as s:
        found = store.session_by_hash(s, digest)
        if found is None:
            return None
        row, user = found
        if row.expires_at <= now or user.disabled_at is not None or user.locked_at is not None:
            return None
        return LoadedSession(
            token_hash=digest,
            stage=row.stage,
            csrf_token=row.csrf_token,
            expires_at=row.expires_at,
            user=info(user),
        )


def close_session(db: Database, *, token_hash: str) -> None:
    with db.transaction() as s:
        store.delete_session(s, token_hash)


# -- API tokens ------------------------------------------------------------------------------------


def create_api_token(
    db: Database,
    *,
    name: str,
    actions: list[str],
    scope: Scope,
    division_code: str | None,
    actor: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> str:
    """Create a token for another system; returns it once (only its SHA-256 is stored)."""
    if not actions or any(len(a.split(".")) != 3 for a in actions):
        raise InvalidInput(N_("Token actions look like capability.object.verb."))
    if scope not in (Scope.NATION,) and (not division_code or not is_division_code(division_code)):
        raise InvalidInput(N_("A token scoped below the nation needs a six-digit division code."))
    if scope in (Scope.OWN, Scope.OFFICE):
        raise InvalidInput(N_("Tokens are scoped to a county, prefecture, province or the nation."))
    token = "tbt_" + cred.new_token()
    with db.transaction() as s:
        row = ApiToken(
            name=name,
            token_hash=cred.token_digest(token),
            actions=" ".join(actions),
            scope=scope.name.lower(),
            division_code=division_code,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
        )
        store.add_token(s, row)
        record_audit(
            s,
            actor=actor,
            action="access.token.create",
            object_type="api_token",
            object_id=str(row.id),
            change={"scopes": actions, "division_code": division_code, "kind": scope.name.lower()},
            at=now,
        )
    return token


def principal_for_token(db: Database, *, token: str, node: str, now: datetime) -> Principal | None:
    with db.session() as s:
        row = store.token_by_hash(s, cred.token_digest(token))
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        scope = Scope[row.scope.upper()]
        return Principal(
            id=f"token:{row.id}",
            kind=PrincipalKind.SYSTEM,
            role=None,
            display_name=row.name,
            node=node,
            division_code=row.division_code,
            token_grants=tuple(Grant(a, scope) for a in row.actions.split()),
        )


def revoke_api_token(db: Database, *, token_id: int, actor: str, now: datetime) -> None:
    with db.transaction() as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFound(N_("No such token."))
        row.revoked_at = now
        record_audit(
            s,
            actor=actor,
            action="access.token.revoke",
            object_type="api_token",
            object_id=str(token_id),
            change=None,
            at=now,
        )


def user_rows_for_names(db: Database, ids: set[int]) -> dict[int, tuple[str, str, str | None]]:
    with db.session() as s:
        return store.display_names(s, ids)
