"""The backup archive's format (server/storage/backup_archive.py): what was written reads
back whole, in constant memory per record; a flipped byte anywhere, a record dropped,
moved or cut, bytes added after the end, or another key, is refused."""

from __future__ import annotations

import base64
import io
import os
import struct

import pytest

from server.storage import backup_archive
from server.storage.backup_archive import (
    CHUNK_BYTES,
    ArchiveReader,
    ArchiveRefused,
    ArchiveWriter,
    BackupKey,
)

KEY = BackupKey.from_master("ab" * 32, "0123456789abcdef")
MANIFEST = b'{"format": 1, "tables": {"public.events": 3}}'


def _archive(data: bytes, key: BackupKey = KEY, pieces: int = 7) -> bytes:
    out = io.BytesIO()
    writer = ArchiveWriter(out, key, MANIFEST)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        writer.write(data[i:i + step])
    writer.finish()
    return out.getvalue()


def _read(archive: bytes, key: BackupKey = KEY) -> tuple[bytes, bytes]:
    reader = ArchiveReader(io.BytesIO(archive), key)
    return reader.manifest, b"".join(reader.chunks())


def _records(archive: bytes) -> tuple[bytes, list[bytes]]:
    """The header and each record's bytes (flags, length, ciphertext)."""
    head = len(backup_archive.MAGIC) + 2 + archive[len(backup_archive.MAGIC) + 1]
    head += backup_archive.SALT_BYTES + backup_archive.PREFIX_BYTES
    pos, records = head, []
    while pos < len(archive):
        _, length = struct.unpack(">BI", archive[pos:pos + 5])
        records.append(archive[pos:pos + 5 + length])
        pos += 5 + length
    return archive[:head], records


@pytest.mark.parametrize("size", [0, 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
def test_what_is_written_reads_back_whole(size: int) -> None:
    data = os.urandom(size)
    archive = _archive(data)
    assert _read(archive) == (MANIFEST, data)
    if size >= 64:
        assert data[:64] not in archive  # sealed, not stored


def test_a_flipped_byte_anywhere_is_refused() -> None:
    archive = _archive(os.urandom(2 * CHUNK_BYTES + 100))
    header, records = _records(archive)
    # the header's key id, salt and nonce prefix; a record's flags; manifest; data; last tag
    offsets = [len(backup_archive.MAGIC) + 3, len(header) - 2, len(header),
               len(header) + 5 + 10, len(header) + len(records[0]) + 5 + 1000,
               len(archive) - 1]
    for offset in offsets:
        bad = bytearray(archive)
        bad[offset] ^= 0x01
        with pytest.raises(ArchiveRefused):
            _read(bytes(bad))


def test_records_dropped_moved_cut_or_added_are_refused() -> None:
    archive = _archive(os.urandom(3 * CHUNK_BYTES + 5))
    header, records = _records(archive)
    assert len(records) == 5  # the manifest, three full records, the final one
    cases = {
        "last record dropped": header + b"".join(records[:-1]),
        "two records swapped": header + records[0] + records[2] + records[1] +
        b"".join(records[3:]),
        "a record repeated": header + b"".join(records[:3]) + records[2] +
        b"".join(records[3:]),
        "cut inside a record": archive[:-100],
        "cut after the header": header,
        "bytes after the end": archive + b"\x00",
        "another archive's record": header + records[0] + _records(_archive(
            os.urandom(2 * CHUNK_BYTES)))[1][1] + b"".join(records[2:]),
    }
    for name, bad in cases.items():
        with pytest.raises(ArchiveRefused):
            _read(bad)
            pytest.fail(name)


def test_another_key_or_a_hostile_length_is_refused() -> None:
    archive = _archive(b"some dump")
    with pytest.raises(ArchiveRefused, match="another key"):
        _read(archive, BackupKey.from_master("cd" * 32, "fedcba9876543210"))
    # the same id claimed by a different key: the first record does not open
    with pytest.raises(ArchiveRefused):
        _read(archive, BackupKey.from_master("cd" * 32, "0123456789abcdef"))
    header, _ = _records(archive)
    huge = header + struct.pack(">BI", 0, backup_archive.MAX_RECORD + 1)
    with pytest.raises(ArchiveRefused, match="impossible length"):
        _read(huge)
    with pytest.raises(ArchiveRefused, match="not a Clienta"):
        _read(b"PGDMP" + archive[5:])


def test_separate_key_parses_hex_and_base64_alike() -> None:
    raw = bytes(range(32))
    assert BackupKey.separate(raw.hex()) == BackupKey.separate(base64.b64encode(raw).decode())
    assert BackupKey.separate(raw.hex()).id.startswith("b:")
    with pytest.raises(ValueError):
        BackupKey.separate("short")
