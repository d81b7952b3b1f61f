"""The national operator's edits of the directory on a data dir: init, add a node, rotate and revoke keys.

Each edit raises the serial by one and re-signs the whole document with the root key. In the embedded default
the node keys live under the same data dir; in production each node generates its own and sends the public half.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from tongban.exchange.directory import (
    DIRECTORY_FILE,
    Directory,
    NodeKey,
    NodeRecord,
    RevocationReason,
    RootKey,
    load_directory,
    read_roots,
    sign_directory,
    write_directory_file,
    write_roots,
)
from tongban.exchange.keys import PURPOSES, node_key_provider, root_key_provider

DEFAULT_VALIDITY = timedelta(days=30)
SUBJECT_PREFIX = "tongban.node"


class DirectoryEditError(Exception):
    pass


def _read(data_dir: Path, now: datetime) -> Directory:
    path = data_dir / DIRECTORY_FILE
    if not path.exists():
        raise DirectoryEditError("no directory here: run `tongban directory init` first")
    # The operator may re-sign an expired directory: accept it with an unbounded grace for editing.
    return load_directory(path.read_bytes(), roots=read_roots(data_dir), now=now, grace=timedelta(days=36500))


def _publish(data_dir: Path, directory: Directory, now: datetime, validity: timedelta) -> Directory:
    roots = read_roots(data_dir)
    provider = root_key_provider(data_dir)
    root = roots[-1]
    new = replace(directory, serial=directory.serial + 1, issued_at=now, expires_at=now + validity, raw=b"")
    signed = sign_directory(new, provider.signing_key("root", root.key_id), root.key_id)
    write_directory_file(data_dir, signed)
    return replace(new, raw=signed)


def init(data_dir: Path, *, now: datetime, validity: timedelta = DEFAULT_VALIDITY) -> Directory:
    """Create the national root key and an empty directory (serial 1)."""
    if (data_dir / DIRECTORY_FILE).exists():
        raise DirectoryEditError("a directory already exists here")
    info = root_key_provider(data_dir).generate("root")
    write_roots(data_dir, [RootKey(key_id=info.key_id, public_key=info.public_key)])
    empty = Directory(serial=0, issued_at=now, expires_at=now + validity)
    return _publish(data_dir, empty, now, validity)


def add_node(
    data_dir: Path,
    *,
    code: str,
    name: str,
    now: datetime,
    address: str | None = None,
    validity: timedelta = DEFAULT_VALIDITY,
) -> Directory:
    """Add a node with a fresh key of every purpose, valid from now."""
    if not (len(code) == 6 and code.isdigit()):
        raise DirectoryEditError("a node code is six digits")
    directory = _read(data_dir, now)
    if directory.node(code) is not None:
        raise DirectoryEditError(f"node {code} is already in the directory")
    provider = node_key_provider(data_dir, code)
    keys = []
    for purpose in PURPOSES:
        info = provider.generate(purpose)
        alg = "X25519" if purpose == "encryption" else "Ed25519"
        keys.append(
            NodeKey(key_id=info.key_id, purpose=purpose, public_key=info.public_key, not_before=now, alg=alg)
        )
    record = NodeRecord(code=code, name=name, address=address or f"{SUBJECT_PREFIX}.{code}", keys=tuple(keys))
    return _publish(data_dir, directory.with_node(record), now, validity)


def rotate_key(
    data_dir: Path,
    *,
    code: str,
    purpose: str,
    now: datetime,
    lead: timedelta = timedelta(hours=24),
    overlap: timedelta = timedelta(hours=1),
    validity: timedelta = DEFAULT_VALIDITY,
) -> tuple[Directory, str]:
    """A new key taking effect after ``lead`` (so every node learns it first); the old ones end ``overlap`` later."""
    directory = _read(data_dir, now)
    node = directory.node(code)
    if node is None:
        raise DirectoryEditError(f"no node {code} in the directory")
    info = node_key_provider(data_dir, code).generate(purpose)
    start = now + lead
    alg = "X25519" if purpose == "encryption" else "Ed25519"
    new_key = NodeKey(
        key_id=info.key_id, purpose=purpose, public_key=info.public_key, not_before=start, alg=alg
    )
    for old in node.keys:
        if old.purpose == purpose and old.revoked_at is None and old.not_after is None:
            directory = directory.with_key(code, replace(old, not_after=start + overlap))
    directory = directory.with_key(code, new_key)
    return _publish(data_dir, directory, now, validity), info.key_id


def revoke_key(
    data_dir: Path,
    *,
    code: str,
    key_id: str,
    reason: RevocationReason,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
) -> Directory:
    directory = _read(data_dir, now)
    node = directory.node(code)
    key = node.key(key_id) if node else None
    if key is None:
        raise DirectoryEditError(f"no key {key_id} of node {code}")
    directory = directory.with_key(code, replace(key, revoked_at=now, revocation_reason=reason))
    return _publish(data_dir, directory, now, validity)


def resign(data_dir: Path, *, now: datetime, validity: timedelta = DEFAULT_VALIDITY) -> Directory:
    """Re-sign the directory unchanged but for a new serial and expiry."""
    return _publish(data_dir, _read(data_dir, now), now, validity)


def show(data_dir: Path, *, now: datetime) -> Directory:
    return _read(data_dir, now)
