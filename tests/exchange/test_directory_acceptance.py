"""Nodes accept only a directory signed by a root key, with a serial not older, and not expired past grace."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.exchange import directory_admin
from tongban.exchange.directory import (
    DIRECTORY_FILE,
    DirectoryRefused,
    load_directory,
    read_roots,
    sign_directory,
    split_blob,
)

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
GRACE = timedelta(days=3)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory_admin.init(tmp_path, now=NOW)
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=NOW)
    directory_admin.add_node(tmp_path, code="310000", name="上海市", now=NOW)
    return tmp_path


def stored(data_dir: Path) -> bytes:
    return (data_dir / DIRECTORY_FILE).read_bytes()


def test_a_signed_directory_loads_with_its_nodes_and_keys(data_dir: Path) -> None:
    d = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE)
    assert d.serial == 3
    node = d.node("310000")
    assert node is not None and node.name == "上海市" and node.address == "tongban.node.310000"
    assert sorted(k.purpose for k in node.keys) == ["encryption", "envelopes", "papers"]


def test_private_keys_are_files_readable_by_the_owner_only(data_dir: Path) -> None:
    files = list((data_dir / "keys").rglob("*.pem"))
    assert len(files) == 7  # root + 3 per node
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unsigned_is_refused(data_dir: Path) -> None:
    payload = split_blob(stored(data_dir)).payload
    with pytest.raises(DirectoryRefused) as info:
        load_directory(payload, roots=read_roots(data_dir), now=NOW, grace=GRACE)
    assert info.value.reason == "unsigned"


def test_wrongly_signed_is_refused(data_dir: Path) -> None:
    d = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE)
    root_id = read_roots(data_dir)[0].key_id
    forged = sign_directory(d, Ed25519PrivateKey.generate(), root_id)
    with pytest.raises(DirectoryRefused) as info:
        load_directory(forged, roots=read_roots(data_dir), now=NOW, grace=GRACE)
    assert info.value.reason == "bad-signature"


def test_a_changed_byte_is_refused(data_dir: Path) -> None:
    tampered = stored(data_dir).replace("上海市".encode(), "上海县".encode())
    with pytest.raises(DirectoryRefused) as info:
        load_directory(tampered, roots=read_roots(data_dir), now=NOW, grace=GRACE)
    assert info.value.reason == "bad-signature"


def test_an_older_serial_is_refused(data_dir: Path) -> None:
    older = stored(data_dir)
    directory_admin.add_node(data_dir, code="440000", name="广东省", now=NOW)
    newer = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE)
    with pytest.raises(DirectoryRefused) as info:
        load_directory(older, roots=read_roots(data_dir), now=NOW, grace=GRACE, current=newer)
    assert info.value.reason == "older-serial"
    # The same document again is fine.
    again = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE, current=newer)
    assert again.serial == newer.serial


def test_expiry_has_a_grace_period(data_dir: Path) -> None:
    d = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE)
    late = d.expires_at + GRACE - timedelta(seconds=1)
    assert (
        load_directory(stored(data_dir), roots=read_roots(data_dir), now=late, grace=GRACE).serial == d.serial
    )
    with pytest.raises(DirectoryRefused) as info:
        load_directory(
            stored(data_dir), roots=read_roots(data_dir), now=late + timedelta(seconds=2), grace=GRACE
        )
    assert info.value.reason == "expired"


def test_verification_uses_the_stored_bytes_not_a_reserialisation(data_dir: Path) -> None:
    d = load_directory(stored(data_dir), roots=read_roots(data_dir), now=NOW, grace=GRACE)
    assert d.raw == stored(data_dir)
    assert split_blob(d.raw).payload == d.canonical_bytes()
