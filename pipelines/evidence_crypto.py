"""Evidence at rest, encrypted: chunked AES-256-GCM files that can be read from any offset.

Clips and pictures of people and plates sit on the edge box for years; a stolen disk must not
show them. With keys configured every evidence file (``clip.mp4``, ``snapshot*.jpg``,
``clip_public.mp4``, ``after-*.jpg``, ``privacy.json``) is written in the format below; with
none configured files are written plain, as before. Readers tell the two apart by the magic, so
a store holding plain files from before and encrypted ones since keeps working.

Keys: a list of ``id:base64key`` separated by commas or white space, each key 32 bytes
(AES-256), from the file named by the config's ``evidence.keys_file`` or the environment variable
``HAZARDWATCH_EVIDENCE_KEYS`` (or ``HAZARDWATCH_EVIDENCE_KEY``; see :mod:`pipelines.evidence_keys`
for which wins). The first encrypts, every one decrypts: to rotate, put the new key first,
restart, run ``hazardwatch evidence rotate-key`` (:func:`rotate_evidence_keys`), then drop the
old key. A process that read its config at start uses the keys it resolved then
(:func:`use_configured_keys`); without that, :func:`current_keys` reads the environment.

File format, version 1 (integers big-endian)::

    offset  size  field
    0       8     magic b"\\x89HWENC\\r\\n"
    8       1     version (1)
    9       1     n = length of the key id (1..32)
    10      n     key id (ASCII letters, digits, '_', '-', '.')
    10+n    12    base nonce (random per file)
    22+n    4     chunk size C in bytes of plaintext (1 KiB .. 16 MiB; written: 64 KiB)
    26+n    8     plaintext length L
    34+n          chunks: max(1, ceil(L / C)) of them, chunk i = AES-256-GCM(plaintext bytes
                  [i*C, min((i+1)*C, L))) followed by its 16-byte tag

Chunk i's nonce is the base nonce XOR i (as a 96-bit big-endian number); its associated data is
the whole header, then i (8 bytes), then 1 for the last chunk and 0 otherwise. So a changed
header field, a chunk moved elsewhere, a chunk from another file and a file cut at a chunk
boundary all fail authentication; the file size is also checked against L when it is opened.
The SHA-256 that tickets record is the plaintext's, so it is unchanged by encryption and by
rotation. A byte range is read by decrypting only the chunks it covers
(:class:`DecryptingReader`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import os
import re
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.evidence_layout import (
    EVIDENCE_DIRNAME,
    EvidenceError,
    fsync_dir,
    os_reason,
    remove_quietly,
    temp_name,
    write_bytes_atomic,
)

logger = logging.getLogger(__name__)

MAGIC = b"\x89HWENC\r\n"
VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
DEFAULT_CHUNK_BYTES = 64 * 1024
MIN_CHUNK_BYTES = 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
KEYS_ENV = "HAZARDWATCH_EVIDENCE_KEYS"
KEY_ENV = "HAZARDWATCH_EVIDENCE_KEY"
WHERE_KEYS_GO = f"set {KEYS_ENV}, or the config's evidence.keys_file"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")
_FIXED = struct.Struct(">BB")  # version, key id length
_TAIL = struct.Struct(">IQ")  # chunk size, plaintext length
_MAX_HEADER_BYTES = len(MAGIC) + _FIXED.size + 32 + NONCE_BYTES + _TAIL.size
# Files of a hazard folder that the writers encrypt (the annotation sidecar stays plain: labels).
_ENCRYPTED_NAME_RE = re.compile(
    r"^(clip\.mp4|clip_public\.mp4|snapshot\.jpg|snapshot_public\.jpg|privacy\.json|after-.+\.jpg)$"
)


class EvidenceCryptoError(EvidenceError):
    """An evidence file cannot be encrypted or decrypted; the message says which and why."""


class EvidenceKeyMissing(EvidenceCryptoError):
    """The file was encrypted with a key that is not configured (the message names its id)."""


class EvidenceDecryptError(EvidenceCryptoError, OSError):
    """An encrypted file fails its checks: malformed header, wrong size, or a chunk that fails
    authentication (altered, moved or truncated). An ``OSError`` too, as a file object's read
    errors are, so that code reading through one reports it like an unreadable file."""


class EvidenceKeyConfigError(EvidenceCryptoError, ValueError):
    """The configured evidence keys are malformed (the message names the entry, never a key).
    An :class:`EvidenceError` too: a writer or reader meeting it reports it like any failed
    evidence file instead of failing the whole request."""


# ----- keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceKeys:
    """The configured keys, newest (the one that encrypts) first."""

    keys: tuple[tuple[str, bytes], ...]
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise EvidenceKeyConfigError("at least one evidence key is needed")
        for key_id, key in self.keys:
            if not _KEY_ID_RE.match(key_id):
                raise EvidenceKeyConfigError(
                    f"evidence key id {key_id[:40]!r} must be 1-32 letters, digits, '_', '-', '.'"
                )
            if len(key) != KEY_BYTES:
                raise EvidenceKeyConfigError(
                    f"evidence key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
            self._ciphers[key_id] = AESGCM(key)
        if len(self._ciphers) != len(self.keys):
            raise EvidenceKeyConfigError("evidence key ids must be unique")

    def __repr__(self) -> str:  # never the key material
        return f"EvidenceKeys(ids={self.ids})"

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    def cipher(self, key_id: str, where: str) -> AESGCM:
        """The cipher of ``key_id``.

        Raises:
            EvidenceKeyMissing: naming the key id, the file and the ids that are configured.
        """
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise EvidenceKeyMissing(
                f"{where} is encrypted with evidence key '{key_id}', which is not configured "
                f"(configured: {', '.join(self.ids)}; {WHERE_KEYS_GO})"
            )
        return cipher

    @classmethod
    def parse(cls, text: str, source: str = KEYS_ENV) -> EvidenceKeys:
        """Parse ``id:base64key`` entries separated by commas or white space.

        Raises:
            EvidenceKeyConfigError: naming ``source`` and the entry's position (never its key).
        """
        entries = [entry for entry in re.split(r"[,\s]+", text.strip()) if entry]
        keys: list[tuple[str, bytes]] = []
        for number, entry in enumerate(entries, 1):
            key_id, sep, encoded = entry.partition(":")
            if not sep or not key_id:
                raise EvidenceKeyConfigError(
                    f"{source}: entry {number} must look like 'id:base64key'"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise EvidenceKeyConfigError(
                    f"{source}: the key of entry {number} ('{key_id[:32]}') is not base64"
                ) from None
            keys.append((key_id, key))
        if not keys:
            raise EvidenceKeyConfigError(f"{source} is set but names no key")
        try:
            return cls(tuple(keys))
        except EvidenceKeyConfigError as exc:
            raise EvidenceKeyConfigError(f"{source}: {exc}") from None


_env_lock = threading.Lock()
_env_cache: dict[tuple[str | None, str | None], EvidenceKeys | None] = {}


def keys_from_env(environ: Mapping[str, str] | None = None) -> EvidenceKeys | None:
    """The keys of ``HAZARDWATCH_EVIDENCE_KEYS`` (or ``..._KEY``); None when neither is set
    (evidence is then written plain). Parsed once per distinct value.

    Raises:
        EvidenceKeyConfigError: both are set, or the value is malformed.
    """
    env = os.environ if environ is None else environ
    plural, single = env.get(KEYS_ENV) or None, env.get(KEY_ENV) or None
    with _env_lock:
        if (plural, single) in _env_cache:
            return _env_cache[(plural, single)]
    if plural and single:
        raise EvidenceKeyConfigError(f"set {KEYS_ENV} or {KEY_ENV}, not both")
    text, source = (plural, KEYS_ENV) if plural else (single, KEY_ENV)
    keys = None if text is None else EvidenceKeys.parse(text, source)
    with _env_lock:
        if len(_env_cache) >= 16:  # values change only in tests; keep a few
            _env_cache.clear()
        _env_cache[(plural, single)] = keys
    return keys


_configured_lock = threading.Lock()
# Keys resolved at start from the config (one-element list), else empty: read the environment.
_configured: list[EvidenceKeys | None] = []


def use_configured_keys(keys: EvidenceKeys | None) -> None:
    """Make ``keys`` this process's evidence keys (None: write evidence plain), as resolved at
    start from the config's ``evidence`` section (:func:`pipelines.evidence_keys.start_keys`).
    Until this is called, or after :func:`forget_configured_keys`, the environment is read."""
    with _configured_lock:
        _configured[:] = [keys]


def forget_configured_keys() -> None:
    """Go back to reading the keys from the environment (a test's clean-up)."""
    with _configured_lock:
        _configured.clear()


def current_keys() -> EvidenceKeys | None:
    """The keys evidence is written and read with: those of :func:`use_configured_keys`, else
    :func:`keys_from_env`. Every function below taking ``keys=None`` uses these.

    Raises:
        EvidenceKeyConfigError: read from the environment, and malformed there.
    """
    with _configured_lock:
        if _configured:
            return _configured[0]
    return keys_from_env()


def new_key_entry(key_id: str) -> str:
    """A fresh ``id:base64key`` entry (for an operator adding a key)."""
    entry = f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"
    EvidenceKeys.parse(entry, "the new key")
    return entry


# ----- header --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """The header of an encrypted evidence file (see the module docstring)."""

    key_id: str
    base_nonce: bytes
    chunk_bytes: int
    plaintext_bytes: int

    def encode(self) -> bytes:
        key_id = self.key_id.encode("ascii")
        return (
            MAGIC
            + _FIXED.pack(VERSION, len(key_id))
            + key_id
            + self.base_nonce
            + _TAIL.pack(self.chunk_bytes, self.plaintext_bytes)
        )

    @property
    def size(self) -> int:
        return len(MAGIC) + _FIXED.size + len(self.key_id) + NONCE_BYTES + _TAIL.size

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.plaintext_bytes // self.chunk_bytes))

    @property
    def file_bytes(self) -> int:
        """Size of the whole encrypted file."""
        return self.size + self.plaintext_bytes + self.chunk_count * TAG_BYTES

    def nonce(self, index: int) -> bytes:
        value = int.from_bytes(self.base_nonce, "big") ^ index
        return value.to_bytes(NONCE_BYTES, "big")

    def aad(self, index: int, encoded: bytes) -> bytes:
        final = 1 if index == self.chunk_count - 1 else 0
        return encoded + struct.pack(">QB", index, final)

    def plain_range(self, index: int) -> tuple[int, int]:
        """Plaintext offset and length of chunk ``index``."""
        start = index * self.chunk_bytes
        return start, max(0, min(self.chunk_bytes, self.plaintext_bytes - start))


def parse_header(data: bytes, where: str) -> Header | None:
    """The header at the start of ``data`` (at least its first 82 bytes), or None when ``data``
    does not start with the magic (a plain file).

    Raises:
        EvidenceDecryptError: the magic is there but the rest is not a valid header.
    """
    if not data.startswith(MAGIC):
        return None
    offset = len(MAGIC)
    if len(data) < offset + _FIXED.size:
        raise EvidenceDecryptError(f"{where}: encrypted evidence header is truncated")
    version, id_len = _FIXED.unpack_from(data, offset)
    if version != VERSION:
        raise EvidenceDecryptError(
            f"{where}: encrypted evidence format version {version} is not supported "
            f"(this build reads version {VERSION})"
        )
    offset += _FIXED.size
    end = offset + id_len + NONCE_BYTES + _TAIL.size
    if not 1 <= id_len <= 32 or len(data) < end:
        raise EvidenceDecryptError(f"{where}: encrypted evidence header is malformed")
    key_id = data[offset : offset + id_len].decode("ascii", errors="replace")
    nonce = data[offset + id_len : offset + id_len + NONCE_BYTES]
    chunk_bytes, plaintext_bytes = _TAIL.unpack_from(data, offset + id_len + NONCE_BYTES)
    if not _KEY_ID_RE.match(key_id) or not MIN_CHUNK_BYTES <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise EvidenceDecryptError(f"{where}: encrypted evidence header is malformed")
    return Header(key_id, nonce, chunk_bytes, plaintext_bytes)


def _read_header(handle: BinaryIO, where: str) -> Header | None:
    handle.seek(0)
    head = handle.read(_MAX_HEADER_BYTES)
    handle.seek(0)
    return parse_header(head, where)


# ----- reading -------------------------------------------------------------------------------


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted evidence file as a seekable binary file.

    A read decrypts (and authenticates) only the chunks it covers; the last chunk read is kept,
    so the small reads of a demuxer cost one decryption per chunk. ``fileno()`` is the
    encrypted file's descriptor (for ``fstat``: the digest cache keys on the file on disk).
    Owns ``raw``: closing the reader closes it.

    Raises (on read):
        EvidenceDecryptError: a chunk fails authentication or is missing.
    """

    def __init__(self, raw: BinaryIO, header: Header, cipher: AESGCM, where: str) -> None:
        super().__init__()
        self._raw = raw
        self.header = header
        self._encoded = header.encode()
        self._cipher = cipher
        self._where = where
        self._pos = 0
        self._chunk_index = -1
        self._chunk = b""
        self.chunks_decrypted = 0

    @property
    def size(self) -> int:
        """Plaintext length in bytes."""
        return self.header.plaintext_bytes

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"unsupported whence {whence}")
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self.size:
            index = self._pos // self.header.chunk_bytes
            chunk = self._decrypt(index)
            offset = self._pos - index * self.header.chunk_bytes
            count = min(len(view) - done, len(chunk) - offset)
            view[done : done + count] = chunk[offset : offset + count]
            done += count
            self._pos += count
        return done

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.size - self._pos)
        buffer = bytearray(min(size, max(0, self.size - self._pos)))
        count = self.readinto(buffer)
        return bytes(buffer[:count])

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    def _decrypt(self, index: int) -> bytes:
        if index == self._chunk_index:
            return self._chunk
        header = self.header
        _start, length = header.plain_range(index)
        self._raw.seek(header.size + index * (header.chunk_bytes + TAG_BYTES))
        sealed = self._raw.read(length + TAG_BYTES)
        if len(sealed) != length + TAG_BYTES:
            raise EvidenceDecryptError(
                f"{self._where}: chunk {index} of {header.chunk_count} is cut short (truncated)"
            )
        try:
            chunk = self._cipher.decrypt(
                header.nonce(index), sealed, header.aad(index, self._encoded)
            )
        except InvalidTag:
            raise EvidenceDecryptError(
                f"{self._where}: chunk {index} of {header.chunk_count} fails authentication "
                "(the file was altered, or its chunks moved or cut)"
            ) from None
        self._chunk_index, self._chunk = index, chunk
        self.chunks_decrypted += 1
        return chunk


def wrap_plaintext(handle: BinaryIO, where: str, keys: EvidenceKeys | None = None) -> BinaryIO:
    """``handle`` itself for a plain file, else a :class:`DecryptingReader` over it (owning it).

    ``keys``: default :func:`current_keys`.

    Raises:
        EvidenceKeyMissing: encrypted with a key that is not configured (or none is).
        EvidenceDecryptError: a malformed header, or a file whose size does not match it.
    """
    header = _read_header(handle, where)
    if header is None:
        return handle
    keys = current_keys() if keys is None else keys
    if keys is None:
        raise EvidenceKeyMissing(
            f"{where} is encrypted with evidence key '{header.key_id}', but no evidence keys "
            f"are configured ({WHERE_KEYS_GO})"
        )
    cipher = keys.cipher(header.key_id, where)
    on_disk = os.fstat(handle.fileno()).st_size
    if on_disk != header.file_bytes:
        raise EvidenceDecryptError(
            f"{where}: encrypted evidence file has {on_disk} bytes where its header says "
            f"{header.file_bytes} (truncated or appended to)"
        )
    return DecryptingReader(handle, header, cipher, where)  # type: ignore[return-value]


def open_plaintext(path: Path, keys: EvidenceKeys | None = None) -> BinaryIO:
    """Open an evidence file, plain or encrypted, for reading its plaintext; the caller closes it.

    Raises:
        OSError: the file cannot be opened.
        EvidenceKeyMissing, EvidenceDecryptError: as :func:`wrap_plaintext`.
    """
    handle = Path(path).open("rb")  # noqa: SIM115 (returned open: the caller closes it)
    try:
        return wrap_plaintext(handle, str(path), keys)
    except BaseException:
        handle.close()
        raise


def plaintext_size(handle: BinaryIO) -> int:
    """Plaintext bytes behind a handle from :func:`wrap_plaintext` / :func:`open_plaintext`."""
    if isinstance(handle, DecryptingReader):
        return handle.size
    return os.fstat(handle.fileno()).st_size


def is_encrypted(path: Path) -> bool:
    """Whether the file at ``path`` starts with the magic of an encrypted evidence file."""
    with Path(path).open("rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def read_plaintext(path: Path, max_bytes: int, keys: EvidenceKeys | None = None) -> bytes:
    """At most ``max_bytes + 1`` bytes of a file's plaintext (the caller judges the size).

    Raises:
        OSError, EvidenceCryptoError: as :func:`open_plaintext` and reading.
    """
    with open_plaintext(path, keys) as fh:
        return fh.read(max_bytes + 1)


@contextmanager
def decodable(path: Path, keys: EvidenceKeys | None = None) -> Iterator[str | BinaryIO]:
    """What PyAV should open to decode ``path``: its name when plain, a decrypting file object
    when encrypted (the plaintext never touches the disk).

    Raises:
        OSError, EvidenceCryptoError: as :func:`open_plaintext`.
    """
    if not is_encrypted(path):
        yield str(path)
        return
    with open_plaintext(path, keys) as fh:
        yield fh


# ----- writing -------------------------------------------------------------------------------


def _encrypt_chunks(
    read: Callable[[int], bytes], length: int, keys: EvidenceKeys, chunk_bytes: int
) -> Iterator[bytes]:
    """The encrypted file, piece by piece: header, then each sealed chunk."""
    header = Header(keys.current_id, os.urandom(NONCE_BYTES), chunk_bytes, length)
    encoded = header.encode()
    cipher = keys.cipher(header.key_id, "a new file")
    yield encoded
    for index in range(header.chunk_count):
        _start, size = header.plain_range(index)
        chunk = read(size)
        if len(chunk) != size:
            raise EvidenceCryptoError(
                f"the plaintext changed while it was encrypted ({len(chunk)} bytes read of "
                f"chunk {index}, {size} expected)"
            )
        yield cipher.encrypt(header.nonce(index), chunk, header.aad(index, encoded))


def encrypt_bytes(data: bytes, keys: EvidenceKeys, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> bytes:
    """``data`` as an encrypted evidence file under the newest key."""
    stream = io.BytesIO(data)
    return b"".join(_encrypt_chunks(stream.read, len(data), keys, chunk_bytes))


def write_evidence_bytes(path: Path, data: bytes, keys: EvidenceKeys | None = None) -> str:
    """:func:`~pipelines.evidence_layout.write_bytes_atomic`, encrypted when keys are configured
    (``keys``, default :func:`current_keys`); returns the SHA-256 of the *plaintext*.

    Raises:
        EvidenceError: the file cannot be written (path and reason).
    """
    keys = current_keys() if keys is None else keys
    if keys is None:
        return write_bytes_atomic(Path(path), data)
    write_bytes_atomic(Path(path), encrypt_bytes(data, keys))
    return hashlib.sha256(data).hexdigest()


def _write_encrypted_copy(
    source: BinaryIO, length: int, target: Path, keys: EvidenceKeys, chunk_bytes: int
) -> str:
    """Encrypt ``length`` bytes of ``source`` into ``target`` (a temporary name, given the
    source file's permissions), fsynced; returns the SHA-256 of the plaintext copied."""
    digest = hashlib.sha256()

    def read(size: int) -> bytes:
        data = source.read(size)
        digest.update(data)
        return data

    with target.open("xb") as out:
        os.fchmod(out.fileno(), os.fstat(source.fileno()).st_mode & 0o777)
        for piece in _encrypt_chunks(read, length, keys, chunk_bytes):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _plaintext_sha256(path: Path, keys: EvidenceKeys) -> str:
    digest = hashlib.sha256()
    with open_plaintext(path, keys) as fh:
        while data := fh.read(1 << 20):
            digest.update(data)
    return digest.hexdigest()


def seal_file(path: Path, keys: EvidenceKeys, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
    """Replace the plain file ``path`` by its encryption (temporary name, fsync, rename).

    Used on a finished temporary file (a remuxed clip, a public copy) before it is given its
    final name, so no plain evidence file is ever named final.

    Raises:
        EvidenceError: the file cannot be read or written (path and reason).
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        with path.open("rb") as source:
            length = os.fstat(source.fileno()).st_size
            _write_encrypted_copy(source, length, tmp, keys, chunk_bytes)
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise EvidenceError(f"cannot encrypt {path}: {os_reason(exc)}") from exc
    except EvidenceError:
        remove_quietly(tmp)
        raise


def evidence_sealer(keys: EvidenceKeys | None = None) -> Callable[[Path], None] | None:
    """What a writer calls on a finished temporary file: :func:`seal_file` with the configured
    keys, or None when evidence is written plain."""
    keys = current_keys() if keys is None else keys
    if keys is None:
        return None
    chosen = keys
    return lambda path: seal_file(path, chosen)


# ----- rotation ------------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What :func:`rotate_evidence_keys` did, in files."""

    key_id: str
    reencrypted: int = 0  # encrypted under an older key, now under the newest
    encrypted: int = 0  # plain before (written without keys), now encrypted
    current: int = 0  # already under the newest key: left alone
    failed: list[str] = field(default_factory=list)  # "path: reason"

    def summary(self) -> str:
        return (
            f"evidence key '{self.key_id}': {self.reencrypted} re-encrypted, "
            f"{self.encrypted} encrypted (were plain), {self.current} already current, "
            f"{len(self.failed)} failed"
        )


def is_evidence_file_name(name: str) -> bool:
    """Whether a file of a hazard folder is one the writers encrypt (see the module doc)."""
    return _ENCRYPTED_NAME_RE.match(name) is not None


def reencrypt_file(path: Path, keys: EvidenceKeys) -> str:
    """Re-encrypt one evidence file under the newest key, atomically (temporary name, fsync,
    rename): "reencrypted", "encrypted" (it was plain) or "current" (nothing to do).

    The whole plaintext is authenticated while it is copied, so a damaged file is refused, not
    re-encrypted into a valid-looking one; the new file is decrypted and its SHA-256 compared
    with the old plaintext's before it replaces it (the digest tickets record stays true).

    Raises:
        EvidenceError: the file cannot be read, decrypted or written (path and reason).
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open_plaintext(path, keys) as source:
            if isinstance(source, DecryptingReader):
                if source.header.key_id == keys.current_id:
                    return "current"
                outcome = "reencrypted"
            else:
                outcome = "encrypted"
            before = _write_encrypted_copy(
                source, plaintext_size(source), tmp, keys, DEFAULT_CHUNK_BYTES
            )
        after = _plaintext_sha256(tmp, keys)
        if after != before:
            raise EvidenceCryptoError(
                f"cannot re-encrypt {path}: the new file's plaintext sha256 {after[:12]}... "
                f"differs from the old {before[:12]}... (left unchanged)"
            )
        os.replace(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        if isinstance(exc, EvidenceDecryptError):
            raise
        raise EvidenceError(f"cannot re-encrypt {path}: {os_reason(exc)}") from exc
    except EvidenceError:
        remove_quietly(tmp)
        raise
    fsync_dir(path.parent)
    return outcome


def rotate_evidence_keys(data_dir: Path, keys: EvidenceKeys) -> RotationReport:
    """Re-encrypt every evidence file under ``DATA_DIR/evidence`` with the newest key.

    Files already under it are left alone, so a rotation that was interrupted is finished by
    running it again. One file failing is reported and the others go on.
    """
    report = RotationReport(keys.current_id)
    root = Path(data_dir) / EVIDENCE_DIRNAME
    for directory, _dirs, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not is_evidence_file_name(name):
                continue
            path = Path(directory) / name
            if path.is_symlink():
                continue
            try:
                outcome = reencrypt_file(path, keys)
            except EvidenceError as exc:
                logger.error("evidence key rotation: %s", exc)
                report.failed.append(str(exc))
                continue
            if outcome == "current":
                report.current += 1
            elif outcome == "encrypted":
                report.encrypted += 1
            else:
                report.reencrypted += 1
    logger.info("%s", report.summary())
    return report


__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "KEYS_ENV",
    "KEY_ENV",
    "MAGIC",
    "WHERE_KEYS_GO",
    "DecryptingReader",
    "EvidenceCryptoError",
    "EvidenceDecryptError",
    "EvidenceKeyConfigError",
    "EvidenceKeyMissing",
    "EvidenceKeys",
    "Header",
    "RotationReport",
    "current_keys",
    "decodable",
    "encrypt_bytes",
    "evidence_sealer",
    "forget_configured_keys",
    "is_encrypted",
    "is_evidence_file_name",
    "keys_from_env",
    "new_key_entry",
    "open_plaintext",
    "parse_header",
    "plaintext_size",
    "read_plaintext",
    "reencrypt_file",
    "rotate_evidence_keys",
    "seal_file",
    "use_configured_keys",
    "wrap_plaintext",
    "write_evidence_bytes",
]
