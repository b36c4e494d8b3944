"""Encrypted backups of the whole database, their retention, and restores.

Entry points: the nightly Celery task `core.tasks.backup_database` and `manage.py backup_now`
(both `run_job(JOB_NAME, backup_run)`), and `manage.py restore_backup FILE`.

A backup is `pg_dump --format=custom` for PostgreSQL, or a copy made with SQLite's online
backup API for the embedded default. The dump is encrypted while it streams, so it is never
held in memory and never lands unencrypted in BACKUP_DIR, into
`<BACKUP_DIR>/crm-YYYYmmdd-HHMMSS.<pgdump|sqlite3>.enc` (UTC). Beside it, `<same name>.json`
is a manifest: when, which database vendor, size and SHA-256 of the encrypted file, rows per
table, the latest migration per app. It holds no personal data.

File format, version 1:
    header = b"CRMBACKUP" | version (1 byte) | vendor length (1) | vendor (ASCII)
             | key id (8) | salt (16)
    chunk  = flags (1 byte; 1 = last chunk) | ciphertext length (4, big-endian) | nonce (12)
             | ciphertext (with its 16-byte tag)
Each chunk is AES-256-GCM of at most CHUNK_SIZE bytes of the dump, with a random nonce, under
a key derived per file (HKDF-SHA256 of BACKUP_ENCRYPTION_KEY and the salt). Its associated
data is the header, the chunk's index and its flags, so a changed header, a changed, reordered
or dropped chunk, and a file cut short (no last chunk) all fail. The key id (an HMAC of a fixed
label, not the key) tells "made with another key" apart from "damaged".
"""

import base64
import binascii
import contextlib
import fcntl
import glob
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils import timezone
from psycopg import sql
from psycopg.conninfo import make_conninfo

from core.audit import audit_log
from core.models import AuditLog

logger = logging.getLogger(__name__)

JOB_NAME = "database_backup"
MAGIC = b"CRMBACKUP"
FORMAT_VERSION = 1
CHUNK_SIZE = 1024 * 1024  # plaintext bytes per encrypted chunk
FINAL = 1  # chunk flag
_TAG_SIZE = 16
_NONCE_SIZE = 12
_SALT_SIZE = 16
_KEY_ID_SIZE = 8
_CHUNK_PREFIX = struct.Struct(">BI")  # flags, ciphertext length
EXTENSIONS = {"postgresql": "pgdump", "sqlite": "sqlite3"}  # vendor -> file name part
BACKUP_NAME = re.compile(r"^crm-(?P<stamp>\d{8}-\d{6})(?:-(?P<seq>\d+))?\.(?:pgdump|sqlite3)\.enc$")
LOCK_NAME = ".backup.lock"
# Debian keeps one client per major version here; /usr/bin/pg_dump is a wrapper.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# libpq parameters worth passing on from a Django database's OPTIONS (none of them secret).
_LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "passfile",
    "service",
    "connect_timeout",
    "options",
    "target_session_attrs",
)
GENERATE_KEY_HINT = 'python -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'


class BackupError(Exception):
    """A backup or restore could not be done; the message says why (no personal data)."""


class BackupInProgress(BackupError):
    """Another backup holds the lock on BACKUP_DIR."""


class UnusableBackupError(BackupError):
    """The file cannot be restored here: not a backup, other key, damaged, other vendor."""


class WrongKeyError(UnusableBackupError):
    pass


class CorruptBackupError(UnusableBackupError):
    pass


class WrongVendorError(UnusableBackupError):
    pass


@dataclass(frozen=True)
class BackupHeader:
    vendor: str
    key_id: bytes
    salt: bytes
    raw: bytes


@dataclass
class BackupResult:
    path: Path
    manifest: dict


@dataclass
class RestoreResult:
    vendor: str
    database: str
    tables: dict[str, int]
    # Rows per table from the manifest beside the file; None when there is no manifest.
    expected: dict[str, int] | None = None
    mismatches: list[str] = field(default_factory=list)


# --- keys and encryption -------------------------------------------------------------------


def _master_key(key: str | None = None) -> bytes:
    value = settings.BACKUP_ENCRYPTION_KEY if key is None else key
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(
            "BACKUP_ENCRYPTION_KEY must be 32 random bytes in url-safe base64 (44 characters). "
            f"Generate one with: {GENERATE_KEY_HINT}"
        )
    return raw


def _key_id(master_key: bytes) -> bytes:
    return hmac.new(master_key, b"crm-backup key id", hashlib.sha256).digest()[:_KEY_ID_SIZE]


def _file_key(master_key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"crm-backup v1 chunks")
    return AESGCM(derived.derive(master_key))


def _associated_data(header: bytes, index: int, flags: int) -> bytes:
    return header + struct.pack(">QB", index, flags)


class _EncryptingWriter:
    """Encrypts what is written to it into `out`, one chunk per CHUNK_SIZE bytes; close()
    seals the last chunk. Counts and hashes what goes out (for the manifest)."""

    def __init__(self, out: BinaryIO, *, master_key: bytes, vendor: str):
        salt = os.urandom(_SALT_SIZE)
        vendor_bytes = vendor.encode("ascii")
        self.header = (
            MAGIC + bytes([FORMAT_VERSION, len(vendor_bytes)]) + vendor_bytes + _key_id(master_key) + salt
        )
        self._aead = _file_key(master_key, salt)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.plaintext_size = 0
        self._emit(self.header)

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.plaintext_size += len(data)
        # Strictly more than a chunk: the last chunk is sealed by close(), never here.
        while len(self._buffer) > CHUNK_SIZE:
            self._seal(bytes(self._buffer[:CHUNK_SIZE]), final=False)
            del self._buffer[:CHUNK_SIZE]

    def close(self) -> None:
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()

    def _seal(self, plaintext: bytes, *, final: bool) -> None:
        flags = FINAL if final else 0
        nonce = os.urandom(_NONCE_SIZE)
        ciphertext = self._aead.encrypt(nonce, plaintext, _associated_data(self.header, self._index, flags))
        self._emit(_CHUNK_PREFIX.pack(flags, len(ciphertext)) + nonce + ciphertext)
        self._index += 1

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.sha256.update(data)
        self.size += len(data)


def _read_header(src: BinaryIO, name: str) -> BackupHeader:
    fixed = src.read(len(MAGIC) + 2)
    if len(fixed) < len(MAGIC) + 2 or not fixed.startswith(MAGIC):
        raise UnusableBackupError(f"{name} is not a CRM backup file.")
    version, vendor_length = fixed[len(MAGIC)], fixed[len(MAGIC) + 1]
    if version != FORMAT_VERSION:
        raise UnusableBackupError(
            f"{name} is in backup format version {version}; this version of the CRM reads "
            f"version {FORMAT_VERSION}."
        )
    rest = src.read(vendor_length + _KEY_ID_SIZE + _SALT_SIZE)
    if len(rest) < vendor_length + _KEY_ID_SIZE + _SALT_SIZE:
        raise CorruptBackupError(f"{name} is damaged: its header is cut short.")
    return BackupHeader(
        vendor=rest[:vendor_length].decode("ascii", "replace"),
        key_id=rest[vendor_length : vendor_length + _KEY_ID_SIZE],
        salt=rest[vendor_length + _KEY_ID_SIZE :],
        raw=fixed + rest,
    )


def _check_header(header: BackupHeader, *, master_key: bytes, vendor: str | None, name: str) -> None:
    expected = _key_id(master_key)
    if not hmac.compare_digest(header.key_id, expected):
        raise WrongKeyError(
            f"{name} was encrypted with another key (key id {header.key_id.hex()}) than the "
            f"current BACKUP_ENCRYPTION_KEY (key id {expected.hex()}). Set BACKUP_ENCRYPTION_KEY "
            f"to the key that was in use when the backup was made."
        )
    if vendor is not None and header.vendor != vendor:
        raise WrongVendorError(
            f"{name} is a {header.vendor} backup; the database to restore into is {vendor}."
        )


def _decrypt_chunks(src: BinaryIO, header: BackupHeader, master_key: bytes, name: str) -> Iterator[bytes]:
    """Yield the plaintext chunk by chunk, each checked; raise CorruptBackupError on the
    first damaged, reordered or missing chunk, and when the file ends early or runs on."""
    aead = _file_key(master_key, header.salt)
    index = 0
    while True:
        prefix = src.read(_CHUNK_PREFIX.size)
        if len(prefix) < _CHUNK_PREFIX.size:
            raise CorruptBackupError(
                f"{name} is incomplete: it ends before its last chunk (a cut-off copy?)."
            )
        flags, length = _CHUNK_PREFIX.unpack(prefix)
        if flags not in (0, FINAL) or not _TAG_SIZE <= length <= CHUNK_SIZE + _TAG_SIZE:
            raise CorruptBackupError(f"{name} is damaged: chunk {index} is malformed.")
        nonce = src.read(_NONCE_SIZE)
        ciphertext = src.read(length)
        if len(nonce) < _NONCE_SIZE or len(ciphertext) < length:
            raise CorruptBackupError(f"{name} is incomplete: it ends inside chunk {index} (a cut-off copy?).")
        try:
            yield aead.decrypt(nonce, ciphertext, _associated_data(header.raw, index, flags))
        except InvalidTag:
            raise CorruptBackupError(
                f"{name} is damaged or was altered: chunk {index} fails its integrity check."
            ) from None
        index += 1
        if flags == FINAL:
            break
    if src.read(1):
        raise CorruptBackupError(f"{name} is damaged: there is data after its last chunk.")


@contextlib.contextmanager
def _open_backup(
    path: Path, *, master_key: bytes, vendor: str | None
) -> Iterator[tuple[BinaryIO, BackupHeader]]:
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed by the with below, after the yield
    except FileNotFoundError:
        raise UnusableBackupError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise UnusableBackupError(f"{path} is a folder, not a backup file.") from None
    with src:
        header = _read_header(src, path.name)
        _check_header(header, master_key=master_key, vendor=vendor, name=path.name)
        yield src, header


def backup_inspect(*, path: Path, vendor: str | None = None, key: str | None = None) -> BackupHeader:
    """Read and check the header only (is it a backup, made with this key, of this vendor):
    quick, for a clear refusal before anything slow."""
    with _open_backup(Path(path), master_key=_master_key(key), vendor=vendor) as (_src, header):
        return header


def backup_verify(*, path: Path, vendor: str | None = None, key: str | None = None) -> int:
    """Decrypt the whole file without writing the plaintext anywhere; return its size.
    Raises UnusableBackupError when it could not be restored."""
    path = Path(path)
    master_key = _master_key(key)
    size = 0
    with _open_backup(path, master_key=master_key, vendor=vendor) as (src, header):
        for chunk in _decrypt_chunks(src, header, master_key, path.name):
            size += len(chunk)
    return size


# --- databases -----------------------------------------------------------------------------


def database_vendor(database: dict) -> str:
    engine = database.get("ENGINE", "")
    if engine.endswith("postgresql"):
        return "postgresql"
    if engine.endswith("sqlite3"):
        return "sqlite"
    raise BackupError(f"Backups support PostgreSQL and SQLite databases, not {engine or 'this one'}.")


def _pg_params(database: dict) -> dict[str, str]:
    """libpq connection parameters of a Django database entry, password included."""
    params = {
        "dbname": database.get("NAME") or "",
        "host": database.get("HOST") or "",
        "port": str(database.get("PORT") or ""),
        "user": database.get("USER") or "",
        "password": database.get("PASSWORD") or "",
    }
    options = database.get("OPTIONS") or {}
    params.update({key: str(options[key]) for key in _LIBPQ_OPTIONS if options.get(key) not in (None, "")})
    return {key: value for key, value in params.items() if value}


def _pg_command_env(params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The --dbname connection string (never with the password: command lines are visible
    to every user of the machine) and the environment, which carries the password."""
    conninfo = make_conninfo(**{key: value for key, value in params.items() if key != "password"})
    env = {**os.environ, "PGAPPNAME": "crm-backup"}
    if "password" in params:
        env["PGPASSWORD"] = params["password"]
    return conninfo, env


def _pg_connect(params: dict[str, str]) -> psycopg.Connection:
    try:
        return psycopg.connect(**params, application_name="crm-backup")
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"Could not connect to PostgreSQL database {params.get('dbname', '')!r}: {exc}"
        ) from exc


def _tool_major_version(path: str) -> int | None:
    try:
        output = subprocess.run(  # noqa: S603 - a PostgreSQL client binary, no shell
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", output) or re.search(r"\b(\d+)\.\d+", output)
    return int(match.group(1)) if match else None


def find_pg_tool(name: str, server_major: int) -> str:
    """pg_dump / pg_restore from PATH or PG_BIN_GLOB: the server's major version if there is
    one, else the oldest newer one (an older pg_dump refuses a newer server)."""
    candidates = []
    if on_path := shutil.which(name):
        candidates.append(on_path)
    candidates += sorted(glob.glob(os.path.join(PG_BIN_GLOB, name)))
    versions = {}
    for path in dict.fromkeys(candidates):
        if (major := _tool_major_version(path)) is not None:
            versions[path] = major
    for path, major in versions.items():
        if major == server_major:
            return path
    newer = sorted((major, path) for path, major in versions.items() if major > server_major)
    if newer:
        return newer[0][1]
    found = ", ".join(f"{path} ({major})" for path, major in versions.items()) or "none"
    raise BackupError(
        f"No {name} for PostgreSQL {server_major} or newer on PATH or in {PG_BIN_GLOB} (found: {found}). "
        f"Install the PostgreSQL {server_major} client (Debian: postgresql-client-{server_major})."
    )


def _pg_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
    ).fetchall()


def _pg_row_counts(conn: psycopg.Connection, only: set[str] | None = None) -> dict[str, int]:
    counts = {}
    for schema, table in _pg_tables(conn):
        name = table if schema == "public" else f"{schema}.{table}"
        if only is not None and name not in only:
            continue
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[name] = conn.execute(query).fetchone()[0]
    return counts


def _pg_migrations(conn: psycopg.Connection) -> dict[str, str]:
    if conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0] is None:
        return {}
    rows = conn.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
    return dict(rows.fetchall())


def _sqlite_path(database: dict) -> Path:
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"Only SQLite databases in a file can be backed up or restored, not {name!r}.")
    return Path(name)


def _sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_row_counts(conn: sqlite3.Connection, only: set[str] | None = None) -> dict[str, int]:
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "ORDER BY name"
    ).fetchall()
    counts = {}
    for (name,) in tables:
        if only is not None and name not in only:
            continue
        query = f"SELECT count(*) FROM {_sqlite_quote(name)}"  # noqa: S608 - a quoted table name
        counts[name] = conn.execute(query).fetchone()[0]
    return counts


def _sqlite_migrations(conn: sqlite3.Connection) -> dict[str, str]:
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
    ).fetchone():
        return {}
    return dict(
        conn.execute("SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app").fetchall()
    )


def row_counts(database: dict | None = None, only: set[str] | None = None) -> dict[str, int]:
    """Rows per table of `database` (default: the configured one); `only` these tables."""
    database = database or settings.DATABASES["default"]
    if database_vendor(database) == "postgresql":
        with _pg_connect(_pg_params(database)) as conn:
            return _pg_row_counts(conn, only)
    path = _sqlite_path(database)
    if not path.is_file():
        return {}
    conn = sqlite3.connect(path)
    try:
        return _sqlite_row_counts(conn, only)
    finally:
        conn.close()


@contextlib.contextmanager
def _private_temp_file(suffix: str) -> Iterator[Path]:
    """A temporary file only this user can read (mode 0600), in the system's temporary folder
    (TMPDIR), never in BACKUP_DIR: off-site copies must not pick up plaintext."""
    fd, name = tempfile.mkstemp(prefix="crm-backup-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _tail(stream: BinaryIO) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace").strip()[-2000:]


def _dump_postgresql(database: dict, write: Callable[[bytes], None]) -> dict:
    params = _pg_params(database)
    conninfo, env = _pg_command_env(params)
    with _pg_connect(params) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        # pg_dump imports this transaction's snapshot, so the manifest's row counts describe
        # exactly the rows in the dump, however busy the database is meanwhile.
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        tables = _pg_row_counts(conn)
        migrations = _pg_migrations(conn)
        server_version = conn.info.server_version
        pg_dump = find_pg_tool("pg_dump", server_version // 10000)
        command = [
            pg_dump,
            "--format=custom",
            "--no-password",
            f"--snapshot={snapshot}",
            f"--dbname={conninfo}",
        ]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)  # noqa: S603 - no shell
            try:
                while chunk := process.stdout.read(CHUNK_SIZE):
                    write(chunk)
            except BaseException:
                process.kill()
                raise
            finally:
                process.stdout.close()
                returncode = process.wait()
            if returncode:
                raise BackupError(f"pg_dump failed (exit status {returncode}): {_tail(errors)}")
    return {
        "tables": tables,
        "migrations": migrations,
        "server_version": f"{server_version // 10000}.{server_version % 10000}",
    }


def _dump_sqlite(database: dict, write: Callable[[bytes], None]) -> dict:
    source_path = _sqlite_path(database)
    if not source_path.is_file():
        raise BackupError(f"The SQLite database {source_path} does not exist.")
    with _private_temp_file(".sqlite3") as copy_path:
        source, copy = sqlite3.connect(source_path), sqlite3.connect(copy_path)
        try:
            # The online backup API copies a consistent state even while the app writes.
            source.backup(copy)
            tables = _sqlite_row_counts(copy)
            migrations = _sqlite_migrations(copy)
        finally:
            copy.close()
            source.close()
        with open(copy_path, "rb") as plain:
            while chunk := plain.read(CHUNK_SIZE):
                write(chunk)
    return {"tables": tables, "migrations": migrations, "server_version": sqlite3.sqlite_version}


# --- backup --------------------------------------------------------------------------------


def manifest_path(path: Path) -> Path:
    """crm-20260101-023000.pgdump.enc -> crm-20260101-023000.pgdump.json"""
    return path.with_name(path.name.removesuffix(".enc") + ".json")


def _backup_path(backup_dir: Path, created: datetime, vendor: str) -> Path:
    stamp = created.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    extension = EXTENSIONS[vendor]
    path = backup_dir / f"crm-{stamp}.{extension}.enc"
    sequence = 0
    while path.exists() or path.with_name(path.name + ".partial").exists():
        sequence += 1
        path = backup_dir / f"crm-{stamp}-{sequence}.{extension}.enc"
    return path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_create(
    *, database: dict | None = None, backup_dir: Path | None = None, key: str | None = None
) -> BackupResult:
    """Back up `database` (default: the configured one) into an encrypted file in
    `backup_dir` (default: BACKUP_DIR), with its manifest, and write an audit log entry.

    The file is written as `<name>.partial`, synced, then renamed: a file under its final
    name is always complete.
    """
    database = database or settings.DATABASES["default"]
    vendor = database_vendor(database)
    master_key = _master_key(key)
    backup_dir = Path(backup_dir or settings.BACKUP_DIR)
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = timezone.now()
    path = _backup_path(backup_dir, created, vendor)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _EncryptingWriter(out, master_key=master_key, vendor=vendor)
            dump = (_dump_postgresql if vendor == "postgresql" else _dump_sqlite)(database, writer.write)
            writer.close()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    manifest = {
        "format": "crm-backup",
        "format_version": FORMAT_VERSION,
        "file": path.name,
        "created_at": created.isoformat(),
        "vendor": vendor,
        "server_version": dump["server_version"],
        "key_id": _key_id(master_key).hex(),
        "size": writer.size,
        "sha256": writer.sha256.hexdigest(),
        "dump_size": writer.plaintext_size,
        "total_rows": sum(dump["tables"].values()),
        "tables": dump["tables"],
        "migrations": dump["migrations"],
    }
    manifest_file = manifest_path(path)
    manifest_file.with_name(manifest_file.name + ".partial").write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(manifest_file.with_name(manifest_file.name + ".partial"), manifest_file)
    _fsync_dir(backup_dir)
    audit_log(
        actor=None,
        action=AuditLog.Action.BACKUP,
        file=path.name,
        vendor=vendor,
        size=writer.size,
        tables=len(dump["tables"]),
        rows=manifest["total_rows"],
    )
    logger.info("backup %s: %s bytes, %s rows", path, writer.size, manifest["total_rows"])
    return BackupResult(path=path, manifest=manifest)


# --- retention -----------------------------------------------------------------------------


def backup_files(backup_dir: Path | None = None) -> list[tuple[datetime, Path]]:
    """The backups in `backup_dir` (only files named like ours), newest first."""
    backup_dir = Path(backup_dir or settings.BACKUP_DIR)
    if not backup_dir.is_dir():
        return []
    found = []
    for path in backup_dir.iterdir():
        if match := BACKUP_NAME.match(path.name):
            made = datetime.strptime(match["stamp"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
            found.append((made, int(match["seq"] or 0), path))
    found.sort(reverse=True)
    return [(made, path) for made, _sequence, path in found]


def _setting_count(name: str, value: int | None) -> int:
    value = getattr(settings, name) if value is None else value
    if not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"{name} must be a whole number, 0 or more.")
    return value


def backup_prune(
    *,
    backup_dir: Path | None = None,
    keep_daily: int | None = None,
    keep_weekly: int | None = None,
    keep: Path | None = None,
) -> list[Path]:
    """Apply the retention policy; return the backups deleted (with their manifests).

    Kept: the newest backup of each of the last `keep_daily` days that have one
    (BACKUP_KEEP_DAILY), the newest of each of the last `keep_weekly` ISO weeks
    (BACKUP_KEEP_WEEKLY), and `keep` (the backup just made) whatever its date. Days are UTC,
    like the file names. Files not named like our backups are never touched.
    """
    keep_daily = _setting_count("BACKUP_KEEP_DAILY", keep_daily)
    keep_weekly = _setting_count("BACKUP_KEEP_WEEKLY", keep_weekly)
    files = backup_files(backup_dir)
    kept = {Path(keep)} if keep else set()
    days, weeks = [], []
    for made, path in files:  # newest first: the first of each day/week is its newest
        day, week = made.date(), made.isocalendar()[:2]
        if day not in days:
            days.append(day)
            if len(days) <= keep_daily:
                kept.add(path)
        if week not in weeks:
            weeks.append(week)
            if len(weeks) <= keep_weekly:
                kept.add(path)
    deleted = []
    for _made, path in files:
        if path not in kept:
            path.unlink(missing_ok=True)
            manifest_path(path).unlink(missing_ok=True)
            deleted.append(path)
            logger.info("backup retention: deleted %s", path.name)
    return deleted


@contextlib.contextmanager
def _backup_lock(backup_dir: Path) -> Iterator[None]:
    with open(backup_dir / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupInProgress(
                f"Another backup is running (it holds {backup_dir / LOCK_NAME})."
            ) from None
        yield  # closing the file releases the lock, also when the process dies


def backup_run() -> dict:
    """The scheduled job (Celery beat and `backup_now`): one backup, then retention.

    Idempotent in the way that matters: a second run while one is in progress (a redelivered
    task, a manual run during the nightly one) does nothing and says so ({"skipped": 1}); a
    run after another only adds a newer backup, and retention keeps one per day anyway.
    """
    backup_dir = Path(settings.BACKUP_DIR)
    backup_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with _backup_lock(backup_dir):
            # Under the lock nobody else writes: a .partial is what a killed run left.
            for leftover in backup_dir.glob("crm-*.partial"):
                leftover.unlink(missing_ok=True)
            result = backup_create(backup_dir=backup_dir)
            deleted = backup_prune(backup_dir=backup_dir, keep=result.path)
    except BackupInProgress as exc:
        logger.warning("backup skipped: %s", exc)
        return {"skipped": 1}
    return {
        "file": result.path.name,
        "size": result.manifest["size"],
        "tables": len(result.manifest["tables"]),
        "rows": result.manifest["total_rows"],
        "deleted": len(deleted),
    }


# --- restore -------------------------------------------------------------------------------


def _close_connections_to(database: dict) -> None:
    """Close this process's Django connections to the database about to be replaced, so
    nothing reads it half-way and the next query sees the restored data."""
    target = (database.get("NAME"), database.get("HOST"), str(database.get("PORT") or ""))
    for conn in connections.all(initialized_only=True):
        own = conn.settings_dict
        if (own.get("NAME"), own.get("HOST"), str(own.get("PORT") or "")) == target:
            conn.close()


def _restore_postgresql(database: dict, path: Path, master_key: bytes) -> None:
    """Stream the decrypted dump into pg_restore, in one transaction: the plaintext never
    touches the disk, and if anything fails (also a chunk failing its check now) pg_restore is
    stopped before it commits, so the database stays as it was."""
    params = _pg_params(database)
    conninfo, env = _pg_command_env(params)
    with _pg_connect(params) as conn:
        server_major = conn.info.server_version // 10000
    pg_restore = find_pg_tool("pg_restore", server_major)
    command = [
        pg_restore,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        f"--dbname={conninfo}",
    ]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - no shell
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env
        )
        try:
            with _open_backup(path, master_key=master_key, vendor="postgresql") as (src, header):
                for chunk in _decrypt_chunks(src, header, master_key, path.name):
                    process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # pg_restore stopped early: its exit status and messages say why
        except BaseException:
            # Killed before it sees the end of its input, so it never commits.
            process.kill()
            process.wait()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        returncode = process.wait()
        if returncode:
            raise BackupError(
                f"pg_restore failed (exit status {returncode}); the restore ran in one transaction, "
                f"so the database was left as it was: {_tail(errors)}"
            )


def _restore_sqlite(database: dict, path: Path, master_key: bytes) -> None:
    target_path = _sqlite_path(database)
    with _private_temp_file(".sqlite3") as copy_path:
        with (
            open(copy_path, "wb") as plain,
            _open_backup(path, master_key=master_key, vendor="sqlite") as (src, header),
        ):
            for chunk in _decrypt_chunks(src, header, master_key, path.name):
                plain.write(chunk)
        source = sqlite3.connect(copy_path)
        try:
            try:
                intact = source.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            except sqlite3.DatabaseError:
                intact = False
            if not intact:
                raise CorruptBackupError(f"{path.name} decrypts, but is not an intact SQLite database.")
            target_path.parent.mkdir(parents=True, exist_ok=True)
            target = sqlite3.connect(target_path)
            try:
                # Page by page under SQLite's own locking: safe with other connections open,
                # unlike replacing the file (and its -wal) underneath them.
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()


def _read_manifest_tables(path: Path) -> dict[str, int] | None:
    try:
        manifest = json.loads(manifest_path(path).read_text())
    except (OSError, ValueError):
        return None
    tables = manifest.get("tables") if isinstance(manifest, dict) else None
    return tables if isinstance(tables, dict) else None


def backup_restore(*, path: Path, database: dict | None = None, key: str | None = None) -> RestoreResult:
    """Replace the contents of `database` (default: the configured one) with the backup at
    `path`, then compare the rows per table with the manifest beside it (when there is one)
    and write an audit log entry.

    Before the database is touched the whole file is decrypted and checked: a file made with
    another key, damaged, cut short, or of the other vendor raises UnusableBackupError and
    changes nothing. PostgreSQL: pg_restore --clean --if-exists --no-owner, in one
    transaction. SQLite: the file's pages are replaced through the backup API.
    """
    path = Path(path)
    database = database or settings.DATABASES["default"]
    vendor = database_vendor(database)
    master_key = _master_key(key)
    backup_verify(path=path, vendor=vendor, key=key)
    _close_connections_to(database)
    if vendor == "postgresql":
        _restore_postgresql(database, path, master_key)
    else:
        _restore_sqlite(database, path, master_key)
    expected = _read_manifest_tables(path)
    # With a manifest, count its tables only: others (made after the backup, which --clean
    # leaves alone) are not this backup's business.
    tables = row_counts(database, only=set(expected) if expected is not None else None)
    result = RestoreResult(
        vendor=vendor, database=str(database.get("NAME")), tables=tables, expected=expected
    )
    for table, expected in sorted((result.expected or {}).items()):
        if tables.get(table) != expected:
            result.mismatches.append(
                f"{table}: {expected} rows in the backup, {tables.get(table, 0)} restored"
            )
    audit_log(
        actor=None,
        action=AuditLog.Action.BACKUP_RESTORE,
        file=path.name,
        vendor=vendor,
        database=result.database,
        tables=len(tables),
        rows=sum(tables.values()),
        mismatches=len(result.mismatches),
    )
    logger.info("restored %s into %s", path.name, result.database)
    return result
