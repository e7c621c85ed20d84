"""The encrypted backup archive: a header, then AES-256-GCM records of at most 1 MiB each
(the manifest first, then the `pg_dump` stream), written and read streaming. Each record's
associated data names the header, its index and whether it is the last, so a flipped
byte, a dropped, reordered or truncated record, or bytes after the end are refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntFlag
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.storage.envelope import MasterKey

MAGIC = b"CLIENTA\x00BACKUP\n"
VERSION = 1
CHUNK_BYTES = 1024 * 1024  # plaintext per record: memory stays flat whatever the dump's size
MAX_RECORD = 16 * 1024 * 1024  # a reader refuses a longer record (a hostile length field)
TAG_BYTES = 16
SALT_BYTES = 32
PREFIX_BYTES = 4
_RECORD_HEAD = struct.Struct(">BI")  # flags, ciphertext length
KDF_INFO = b"clienta backup v1"


class Flag(IntFlag):
    MANIFEST = 1
    FINAL = 2


class ArchiveRefused(Exception):
    """The archive is not one this key wrote, or was altered, cut short or extended.
    Carries no part of its content."""


@dataclass(frozen=True, slots=True)
class BackupKey:
    """A root key that archives are written under; each archive gets its own key from
    it (HKDF with the archive's random salt). Known by an id (a hash, never the key)."""

    id: str
    raw: bytes

    @classmethod
    def from_master(cls, text: str, master_id: str) -> BackupKey:
        """Derived from the master key: the id is the master key's own (`m:` + its id)."""
        return cls("m:" + master_id, _key_bytes(text))

    @classmethod
    def separate(cls, text: str) -> BackupKey:
        """CLIENTA_BACKUP_KEY: 32 bytes as 64 hex digits or base64."""
        raw = _key_bytes(text)
        return cls("b:" + hashlib.sha256(b"clienta backup key id|" + raw).hexdigest()[:16], raw)

    @classmethod
    def candidates(cls, backup_key: str, master: str, previous: str) -> list[BackupKey]:
        """The separate key when set (archives are written under the first), then the
        master keys, current and previous (archives derived from either still restore)."""
        keys = [cls.separate(backup_key)] if backup_key else []
        keys += [cls.from_master(t, MasterKey.parse(t).id) for t in (master, previous) if t]
        return keys

    def archive_key(self, salt: bytes) -> AESGCM:
        return AESGCM(HKDF(hashes.SHA256(), 32, salt, KDF_INFO).derive(self.raw))


def _key_bytes(text: str) -> bytes:
    """The formats a master key takes (server/storage/envelope.py: hex or base64)."""
    text = text.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4),
                               altchars=b"-_" if "-" in text or "_" in text else None,
                               validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("a backup key is 32 bytes, as 64 hex digits or base64")
    return raw


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(8, "big")


def _ad(header: bytes, index: int, flags: int) -> bytes:
    return header + index.to_bytes(8, "big") + bytes((flags,))


class ArchiveWriter:
    """Writes one archive to `out`: the manifest at once, then `write` the dump's bytes
    and `finish`. A record is sealed only when the next one is known to exist, so the
    last record carries FINAL (an empty one if the data ended on a record boundary)."""

    def __init__(self, out: BinaryIO, key: BackupKey, manifest: bytes) -> None:
        if len(manifest) > CHUNK_BYTES:
            raise ValueError("the manifest is larger than a record")
        salt, prefix = os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES)
        key_id = key.id.encode("ascii")
        self.header = (MAGIC + bytes((VERSION, len(key_id))) + key_id + salt + prefix)
        self.out, self.prefix = out, prefix
        self.aead = key.archive_key(salt)
        self.index = 0
        self.pending = bytearray()
        out.write(self.header)
        self._record(manifest, Flag.MANIFEST)

    def _record(self, data: bytes | bytearray, flags: int) -> None:
        sealed = self.aead.encrypt(_nonce(self.prefix, self.index), bytes(data),
                                   _ad(self.header, self.index, flags))
        self.out.write(_RECORD_HEAD.pack(flags, len(sealed)))
        self.out.write(sealed)
        self.index += 1

    def write(self, data: bytes) -> None:
        self.pending += data
        # keep at least one byte back: the record that turns out last must carry FINAL
        while len(self.pending) > CHUNK_BYTES:
            self._record(self.pending[:CHUNK_BYTES], 0)
            del self.pending[:CHUNK_BYTES]

    def finish(self) -> None:
        self._record(self.pending, Flag.FINAL)
        self.pending.clear()
        self.out.flush()


def _read_exact(inp: BinaryIO, n: int) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise ArchiveRefused("the archive is cut short")
    return data


def key_id_of(inp: BinaryIO) -> str:
    """The id of the key an archive says it was written under (read from its header;
    `ArchiveReader` then proves it)."""
    if _read_exact(inp, len(MAGIC)) != MAGIC:
        raise ArchiveRefused("not a Clienta backup archive")
    version, length = _read_exact(inp, 2)
    if version != VERSION:
        raise ArchiveRefused(f"archive format {version} is not one this version reads")
    try:
        return _read_exact(inp, length).decode("ascii")
    except UnicodeDecodeError:
        raise ArchiveRefused("not a Clienta backup archive") from None


class ArchiveReader:
    """Reads an archive from its start: the manifest on opening, then `chunks()` yields
    the dump's bytes record by record, each authenticated before it is handed out; it
    raises `ArchiveRefused` at the first altered record, and at the end unless the
    FINAL record came last with nothing after it."""

    def __init__(self, inp: BinaryIO, key: BackupKey) -> None:
        key_id = key_id_of(inp)
        if key_id != key.id:
            raise ArchiveRefused("the archive was written under another key")
        id_bytes = key_id.encode("ascii")
        salt, self.prefix = _read_exact(inp, SALT_BYTES), _read_exact(inp, PREFIX_BYTES)
        self.header = MAGIC + bytes((VERSION, len(id_bytes))) + id_bytes + salt + self.prefix
        self.inp, self.aead, self.index = inp, key.archive_key(salt), 0
        flags, self.manifest = self._next()
        if flags != Flag.MANIFEST:
            raise ArchiveRefused("the archive does not start with its manifest")

    def _next(self) -> tuple[int, bytes]:
        flags, length = _RECORD_HEAD.unpack(_read_exact(self.inp, _RECORD_HEAD.size))
        if length < TAG_BYTES or length > MAX_RECORD:
            raise ArchiveRefused("a record of an impossible length")
        sealed = _read_exact(self.inp, length)
        try:
            data = self.aead.decrypt(_nonce(self.prefix, self.index), sealed,
                                     _ad(self.header, self.index, flags))
        except InvalidTag:
            raise ArchiveRefused(f"record {self.index} was altered or moved") from None
        self.index += 1
        return flags, data

    def chunks(self) -> Iterator[bytes]:
        while True:
            flags, data = self._next()
            if flags & Flag.MANIFEST:
                raise ArchiveRefused("a second manifest")
            if data:
                yield data
            if flags & Flag.FINAL:
                break
        if self.inp.read(1):
            raise ArchiveRefused("bytes after the archive's last record")
