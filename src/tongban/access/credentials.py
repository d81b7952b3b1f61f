"""Passwords (argon2id), TOTP second factors (RFC 6238) and their enrolment QR code, token digests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import secrets
from datetime import datetime
from functools import lru_cache

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tongban.access.domain import N_
from tongban.access.settings import AccessSettings

TOTP_STEP_S = 30


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(settings: AccessSettings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


def hash_password(settings: AccessSettings, password: str) -> str:
    return hasher(settings).hash(password)


def verify_password(settings: AccessSettings, stored: str, password: str) -> bool:
    try:
        return hasher(settings).verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY: dict[tuple[int, int, int], str] = {}


def burn_time(settings: AccessSettings, password: str) -> None:
    """Verify against a dummy hash, so an unknown login takes as long as a wrong password."""
    key = (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    if key not in _DUMMY:
        _DUMMY[key] = hash_password(settings, secrets.token_hex(8))
    verify_password(settings, _DUMMY[key], password)


def check_password_strength(password: str) -> str | None:
    """A reason the password is too weak, or None."""
    if len(password) < 10:
        return N_("Passwords need at least 10 characters.")
    if password.isdigit() or password.isalpha():
        return N_("Passwords need letters and digits or other characters.")
    return None


def new_totp_secret() -> str:
    return pyotp.random_base32()


def _totp_aead(key: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tongban totp secret v1").derive(
        key
    )
    return AESGCM(derived)


def seal_totp_secret(key: bytes, secret: str, *, user_id: int) -> str:
    """The TOTP secret encrypted for storage (AES-GCM under a key derived from the node secret, bound to
    the account), so a copy of the database does not hand out second factors."""
    nonce = os.urandom(12)
    sealed = _totp_aead(key).encrypt(nonce, secret.encode("ascii"), f"totp:{user_id}".encode())
    return "v1:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_totp_secret(key: bytes, stored: str, *, user_id: int) -> str:
    if not stored.startswith("v1:"):
        raise ValueError("unknown TOTP secret format")
    raw = base64.urlsafe_b64decode(stored[3:])
    return _totp_aead(key).decrypt(raw[:12], raw[12:], f"totp:{user_id}".encode()).decode("ascii")


def totp_uri(secret: str, *, account: str, issuer: str) -> str:
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer))


def totp_qr_svg(uri: str) -> str:
    """The enrolment QR code as an inline SVG element (no external image, no network)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=4, xmldecl=False, svgns=True, nl=False)
    return buf.getvalue().decode("utf-8")


def totp_step(now: datetime) -> int:
    return int(now.timestamp()) // TOTP_STEP_S


def totp_matching_step(secret: str, code: str, now: datetime, *, window: int = 1) -> int | None:
    """The time step ``code`` is valid for (within ``window`` steps of now), or None."""
    code = code.strip().replace(" ", "")
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    here = totp_step(now)
    for step in range(here - window, here + window + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP_S), code):
            return step
    return None


def totp_code(secret: str, now: datetime) -> str:
    """The current code (for tests and the CLI's enrolment check)."""
    return str(pyotp.TOTP(secret).at(now))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def citizen_login(secret: bytes, id_number: str) -> str:
    """The users-table login of a citizen: a keyed digest of the ID number (upper-case X)."""
    mac = hmac.new(secret, id_number.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()
    return "cid:" + mac
