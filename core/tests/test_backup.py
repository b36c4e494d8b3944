"""Backups: the encrypted format, PostgreSQL and SQLite round trips into fresh databases,
refusals (other key, damaged file, other vendor), retention, the Celery job and the commands."""

import base64
import io
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from core import backup
from core.backup import (
    BackupError,
    CorruptBackupError,
    UnusableBackupError,
    WrongKeyError,
    WrongVendorError,
    backup_create,
    backup_prune,
    backup_restore,
    backup_verify,
    find_pg_tool,
    manifest_path,
)
from core.models import AuditLog, JobRun
from core.tasks import backup_database
from crm.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = base64.urlsafe_b64encode(b"another-backup-key-for-the-tests").decode()
PG_PASSWORD_FOR_FAKES = "s3cret-never-on-the-command-line"


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


# --- helpers -------------------------------------------------------------------------------


def encrypt(data: bytes, *, vendor: str = "sqlite") -> bytes:
    out = io.BytesIO()
    writer = backup._EncryptingWriter(out, master_key=backup._master_key(), vendor=vendor)
    for start in range(0, len(data), 7):  # arbitrary write sizes
        writer.write(data[start : start + 7])
    writer.close()
    return out.getvalue()


def decrypt(blob: bytes) -> bytes:
    src = io.BytesIO(blob)
    header = backup._read_header(src, "test")
    backup._check_header(header, master_key=backup._master_key(), vendor=None, name="test")
    return b"".join(backup._decrypt_chunks(src, header, backup._master_key(), "test"))


def chunk_offsets(blob: bytes) -> list[tuple[int, int]]:
    """(start, end) of each chunk record after the header."""
    header = backup._read_header(io.BytesIO(blob), "test")
    offsets, position = [], len(header.raw)
    while position < len(blob):
        _flags, length = backup._CHUNK_PREFIX.unpack_from(blob, position)
        end = position + backup._CHUNK_PREFIX.size + backup._NONCE_SIZE + length
        offsets.append((position, end))
        position = end
    return offsets


def make_sqlite(path: Path, rows: list[tuple[int, str]]) -> dict:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, photo BLOB)")
    conn.execute('CREATE TABLE "odd ""name" (x)')
    conn.executemany("INSERT INTO customer VALUES (?, ?, ?)", [(i, n, os.urandom(20)) for i, n in rows])
    conn.execute('INSERT INTO "odd ""name" VALUES (1)')
    conn.commit()
    conn.close()
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}


def sqlite_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM customer ORDER BY id").fetchall()
    finally:
        conn.close()


def pg_tables(conn) -> list[tuple[str, str]]:
    return backup._pg_tables(conn)


def pg_fingerprint(database: dict) -> dict[str, tuple[int, str]]:
    """Rows and an MD5 of every row's text, per table: equal fingerprints, equal data."""
    fingerprint = {}
    with psycopg.connect(**backup._pg_params(database)) as conn:
        for schema, table in pg_tables(conn):
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {}.{} t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            fingerprint[f"{schema}.{table}"] = tuple(conn.execute(query).fetchone())
    return fingerprint


@pytest.fixture
def fresh_pg_database(db):
    """An empty database on the test server, made like the test database (UTF-8, same
    collation), dropped afterwards. Yields its Django-style settings."""
    source = connection.settings_dict
    name = f"crm_restore_{uuid.uuid4().hex[:12]}"
    params = backup._pg_params(source)
    with psycopg.connect(**params, autocommit=True) as conn:
        collate, ctype = conn.execute(
            "SELECT datcollate, datctype FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE {} LC_CTYPE {}").format(
                sql.Identifier(name), sql.Literal(collate), sql.Literal(ctype)
            )
        )
    try:
        yield {**source, "NAME": name}
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def crm_data(db, team, rep, manager):
    """Customers with encrypted personal data, contacts and history rows, plus users and teams.
    The backup covers every app, so this reaches above core's floor on purpose (tests only)."""
    from customers.tests.factories import CustomerFactory, make_contact

    customers = [
        CustomerFactory(name=f"客户{i}", owner=rep, mobile=f"1380013{i:04d}", email=f"c{i}@example.com")
        for i in range(12)
    ]
    for customer in customers[:5]:
        make_contact(customer, name="联系人", phone="13900000000")
    return customers


# --- the file format -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 64 * 3 + 5])
def test_encryption_round_trips_any_size(monkeypatch, size):
    monkeypatch.setattr(backup, "CHUNK_SIZE", 64)
    data = os.urandom(size)
    blob = encrypt(data)
    assert decrypt(blob) == data
    assert len(data) < 16 or data not in blob  # short strings may occur by chance


def test_each_file_gets_its_own_salt_and_nonces():
    assert encrypt(b"same dump") != encrypt(b"same dump")


@pytest.mark.parametrize(
    "where", ["vendor", "salt", "flags", "length", "nonce", "first ciphertext", "last tag"]
)
def test_a_changed_byte_anywhere_makes_the_file_unusable(monkeypatch, where):
    monkeypatch.setattr(backup, "CHUNK_SIZE", 64)
    blob = bytearray(encrypt(os.urandom(200)))
    header_length = len(backup._read_header(io.BytesIO(bytes(blob)), "t").raw)
    first = header_length
    offset = {
        "vendor": len(backup.MAGIC) + 2,
        "salt": header_length - 1,
        "flags": first,
        "length": first + 4,
        "nonce": first + backup._CHUNK_PREFIX.size,
        "first ciphertext": first + backup._CHUNK_PREFIX.size + backup._NONCE_SIZE,
        "last tag": len(blob) - 1,
    }[where]
    blob[offset] ^= 0x01
    with pytest.raises(UnusableBackupError):
        decrypt(bytes(blob))


def test_reordered_chunks_are_detected(monkeypatch):
    monkeypatch.setattr(backup, "CHUNK_SIZE", 64)
    blob = encrypt(os.urandom(64 * 3 + 10))
    (a0, a1), (b0, b1) = chunk_offsets(blob)[1:3]
    swapped = blob[:a0] + blob[b0:b1] + blob[a0:a1] + blob[b1:]
    with pytest.raises(CorruptBackupError, match="chunk 1 fails its integrity check"):
        decrypt(swapped)


def test_a_file_cut_short_or_with_data_appended_is_detected(monkeypatch):
    monkeypatch.setattr(backup, "CHUNK_SIZE", 64)
    blob = encrypt(os.urandom(64 * 3 + 10))
    last_start, _ = chunk_offsets(blob)[-1]
    with pytest.raises(CorruptBackupError, match="ends before its last chunk"):
        decrypt(blob[:last_start])  # whole chunks, but not the last one
    with pytest.raises(CorruptBackupError, match="ends inside chunk"):
        decrypt(blob[:-5])
    with pytest.raises(CorruptBackupError, match="data after its last chunk"):
        decrypt(blob + b"\0")


def test_a_file_that_is_not_a_backup_is_refused(tmp_path):
    path = tmp_path / "crm-20260101-000000.pgdump.enc"
    path.write_bytes(b"PGDMP plain dump")
    with pytest.raises(UnusableBackupError, match="not a CRM backup file"):
        backup_verify(path=path)


def test_a_key_that_is_not_32_bytes_of_base64_names_the_setting(settings):
    settings.BACKUP_ENCRYPTION_KEY = "too-short"
    with pytest.raises(ImproperlyConfigured, match="BACKUP_ENCRYPTION_KEY"):
        backup._master_key()


def test_production_settings_require_a_backup_key():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BACKUP_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEYS="dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDAwMDE=",
        BLIND_INDEX_KEY="y" * 40,
        ALLOWED_HOSTS="crm.example.com",
        DATABASE_URL="sqlite:////tmp/never-created.sqlite3",
        ENV_FILE="",
        DJANGO_SETTINGS_MODULE="crm.settings",
    )
    code = "import django; django.setup(); print('started')"
    run = [sys.executable, "-c", code]
    result = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "The environment variable BACKUP_ENCRYPTION_KEY is not set" in result.stderr
    env["BACKUP_ENCRYPTION_KEY"] = OTHER_KEY
    result = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_backup_restores_every_row_into_a_fresh_database(
    crm_data, fresh_pg_database, backup_dir
):
    source = connection.settings_dict
    before = pg_fingerprint(source)  # the backup's own audit entry comes after the dump

    made = backup_create()

    assert made.path.parent == backup_dir
    assert made.path.name.startswith("crm-") and made.path.name.endswith(".pgdump.enc")
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    assert b"PGDMP" not in made.path.read_bytes()[:100]  # no plaintext dump header
    assert {f"public.{t}": n for t, n in made.manifest["tables"].items()} == {
        table: rows for table, (rows, _md5) in before.items()
    }
    assert made.manifest["tables"]["customers_customer"] == 12

    restored = backup_restore(path=made.path, database=fresh_pg_database)

    assert restored.mismatches == []
    assert restored.expected == made.manifest["tables"]
    assert pg_fingerprint(fresh_pg_database) == before
    # Personal data arrives as the same ciphertext (readable with the same FIELD_ENCRYPTION_KEYS).
    query = "SELECT id, mobile, email FROM customers_customer ORDER BY id"
    with (
        psycopg.connect(**backup._pg_params(source)) as src,
        psycopg.connect(**backup._pg_params(fresh_pg_database)) as dst,
    ):
        source_rows = src.execute(query).fetchall()
        assert dst.execute(query).fetchall() == source_rows
    assert all(mobile.startswith("gAAAAA") and "138" not in mobile for _id, mobile, _email in source_rows)

    entries = {e.action: e for e in AuditLog.objects.filter(action__in=["backup", "backup_restore"])}
    assert entries["backup"].actor is None and entries["backup_restore"].actor is None
    assert entries["backup"].details["file"] == made.path.name
    assert entries["backup_restore"].details["database"] == fresh_pg_database["NAME"]
    assert "138" not in str(entries["backup"].details) + str(entries["backup_restore"].details)


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_restore_replaces_changed_data_and_a_failed_one_changes_nothing(
    crm_data, fresh_pg_database, monkeypatch
):
    monkeypatch.setattr(backup, "CHUNK_SIZE", 4096)  # many chunks, to damage the last one
    made = backup_create()
    backup_restore(path=made.path, database=fresh_pg_database)
    good = pg_fingerprint(fresh_pg_database)

    # Restoring over a database that changed since: --clean puts every row back.
    with psycopg.connect(**backup._pg_params(fresh_pg_database)) as conn:
        conn.execute("DELETE FROM customers_contact")
        conn.execute("UPDATE customers_customer SET name = 'changed'")
    backup_restore(path=made.path, database=fresh_pg_database)
    assert pg_fingerprint(fresh_pg_database) == good

    # Damage the last chunk and skip the up-front check, so pg_restore has already been fed
    # most of the dump when the damage shows: it is stopped before it commits.
    blob = bytearray(made.path.read_bytes())
    blob[-1] ^= 0x01
    made.path.write_bytes(bytes(blob))
    with psycopg.connect(**backup._pg_params(fresh_pg_database)) as conn:
        conn.execute("DELETE FROM customers_contact")
    changed = pg_fingerprint(fresh_pg_database)
    monkeypatch.setattr(backup, "backup_verify", lambda **kwargs: 0)
    with pytest.raises(CorruptBackupError):
        backup_restore(path=made.path, database=fresh_pg_database)
    assert pg_fingerprint(fresh_pg_database) == changed


@pytest.mark.django_db(transaction=True)
def test_another_key_or_a_damaged_file_restores_nothing(crm_data, fresh_pg_database):
    made = backup_create()
    with pytest.raises(WrongKeyError, match="Set BACKUP_ENCRYPTION_KEY to the key"):
        backup_restore(path=made.path, database=fresh_pg_database, key=OTHER_KEY)
    blob = bytearray(made.path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    made.path.write_bytes(bytes(blob))
    with pytest.raises(CorruptBackupError, match="damaged or was altered"):
        backup_restore(path=made.path, database=fresh_pg_database)
    with psycopg.connect(**backup._pg_params(fresh_pg_database)) as conn:
        assert pg_tables(conn) == []
    assert not AuditLog.objects.filter(action="backup_restore").exists()


def test_pg_dump_gets_the_password_from_the_environment_never_the_command_line(db, tmp_path, monkeypatch):
    database = {**connection.settings_dict}
    password = database.get("PASSWORD") or PG_PASSWORD_FOR_FAKES  # trust auth ignores a made-up one
    database["PASSWORD"] = password
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "record"
    record.mkdir()
    make_fake_tool(fake_bin / "pg_dump", connection.pg_version // 10000, dump=True)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RECORD", str(record))
    monkeypatch.setattr(backup, "PG_BIN_GLOB", str(tmp_path / "none"))

    made = backup_create(database=database)

    argv = (record / "argv").read_text()
    assert password not in argv and "--format=custom" in argv and "--snapshot=" in argv
    assert (record / "password").read_text() == password
    assert made.manifest["dump_size"] == len("PGDMP fake dump")


def make_fake_tool(path: Path, major: int, *, dump: bool = False) -> None:
    body = f'if [ "$1" = "--version" ]; then echo "{path.name} (PostgreSQL) {major}.3"; exit 0; fi\n'
    if dump:
        body += (
            'printf "%s\\n" "$@" > "$FAKE_RECORD/argv"\nprintf "%s" "$PGPASSWORD" > "$FAKE_RECORD/password"\n'
        )
        body += 'printf "PGDMP fake dump"\n'
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_the_pg_tool_matching_the_server_is_chosen(tmp_path, monkeypatch):
    for major in (14, 16, 17):
        bindir = tmp_path / "lib" / str(major) / "bin"
        bindir.mkdir(parents=True)
        make_fake_tool(bindir / "pg_dump", major)
    monkeypatch.setattr(backup, "PG_BIN_GLOB", str(tmp_path / "lib" / "*" / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    assert find_pg_tool("pg_dump", 16) == str(tmp_path / "lib/16/bin/pg_dump")
    # No exact match: the oldest newer one (an older pg_dump refuses a newer server).
    assert find_pg_tool("pg_dump", 15) == str(tmp_path / "lib/16/bin/pg_dump")
    with pytest.raises(BackupError, match="postgresql-client-18"):
        find_pg_tool("pg_dump", 18)


# --- SQLite --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_sqlite_backup_restores_into_a_fresh_file_and_over_an_existing_one(tmp_path):
    source = make_sqlite(tmp_path / "source.sqlite3", [(1, "张三"), (2, "Zoë"), (3, "李四")])

    made = backup_create(database=source)

    assert made.path.name.endswith(".sqlite3.enc")
    assert made.manifest["tables"] == {"customer": 3, 'odd "name': 1}
    assert made.manifest["vendor"] == "sqlite"
    assert "张三" not in manifest_path(made.path).read_text()
    fresh = tmp_path / "restored" / "fresh.sqlite3"
    result = backup_restore(path=made.path, database={**source, "NAME": str(fresh)})
    assert sqlite_rows(fresh) == sqlite_rows(tmp_path / "source.sqlite3")
    assert result.tables == made.manifest["tables"] and result.mismatches == []

    existing = make_sqlite(tmp_path / "existing.sqlite3", [(9, "other")])
    backup_restore(path=made.path, database=existing)
    assert sqlite_rows(tmp_path / "existing.sqlite3") == sqlite_rows(tmp_path / "source.sqlite3")


@pytest.mark.django_db
def test_a_sqlite_restore_with_another_key_or_a_damaged_file_leaves_the_database_alone(tmp_path, settings):
    source = make_sqlite(tmp_path / "source.sqlite3", [(1, "a"), (2, "b")])
    made = backup_create(database=source)
    target = make_sqlite(tmp_path / "target.sqlite3", [(7, "keep me")])
    before = (tmp_path / "target.sqlite3").read_bytes()

    with pytest.raises(WrongKeyError):
        backup_restore(path=made.path, database=target, key=OTHER_KEY)
    blob = bytearray(made.path.read_bytes())
    blob[-20] ^= 0x01
    made.path.write_bytes(bytes(blob))
    with pytest.raises(CorruptBackupError):
        backup_restore(path=made.path, database=target)

    assert (tmp_path / "target.sqlite3").read_bytes() == before


@pytest.mark.django_db
def test_a_backup_of_one_vendor_is_refused_by_the_other(tmp_path):
    made = backup_create(database=make_sqlite(tmp_path / "source.sqlite3", [(1, "a")]))
    with pytest.raises(
        WrongVendorError, match="is a sqlite backup; the database to restore into is postgresql"
    ):
        backup_restore(path=made.path, database=connection.settings_dict)


# --- retention -----------------------------------------------------------------------------


def fake_backups(directory: Path, stamps: list[str]) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for stamp in stamps:
        path = directory / f"crm-{stamp}.pgdump.enc"
        path.write_bytes(b"x")
        manifest_path(path).write_text("{}")
        files[stamp] = path
    return files


def test_retention_keeps_the_newest_per_day_and_per_week_and_the_backup_just_made(backup_dir):
    files = fake_backups(
        backup_dir,
        [
            "20260310-140000-1",  # Tue, ISO week 11: the newest of its day and week
            "20260310-140000",  # same day, older
            "20260310-020000",  # same day, older
            "20260309-020000",  # Mon, week 11
            "20260308-020000",  # Sun, week 10: the newest of its week
            "20260307-020000",  # Sat, week 10
            "20260301-020000",  # week 9
            "20260220-020000",  # week 8
        ],
    )
    (backup_dir / "notes.txt").write_text("not ours")
    (backup_dir / "crm-before-upgrade.pgdump.enc").write_bytes(b"renamed by hand: kept")

    deleted = backup_prune(keep_daily=3, keep_weekly=2, keep=files["20260220-020000"])

    kept = {"20260310-140000-1", "20260309-020000", "20260308-020000", "20260220-020000"}
    assert sorted(deleted) == sorted(path for stamp, path in files.items() if stamp not in kept)
    for stamp, path in files.items():
        assert path.exists() == (stamp in kept), stamp
        assert manifest_path(path).exists() == (stamp in kept), stamp
    assert (backup_dir / "notes.txt").exists()
    assert (backup_dir / "crm-before-upgrade.pgdump.enc").exists()


def test_retention_of_nothing_still_keeps_the_backup_just_made(backup_dir, settings):
    files = fake_backups(backup_dir, ["20260310-020000", "20260311-020000"])
    settings.BACKUP_KEEP_DAILY = 0
    settings.BACKUP_KEEP_WEEKLY = 0
    backup_prune(keep=files["20260311-020000"])
    assert [p.name for p in backup_dir.iterdir() if p.suffix == ".enc"] == ["crm-20260311-020000.pgdump.enc"]


def test_retention_settings_must_not_be_negative(settings):
    settings.BACKUP_KEEP_DAILY = -1
    with pytest.raises(ImproperlyConfigured, match="BACKUP_KEEP_DAILY"):
        backup_prune()


# --- the job and the commands --------------------------------------------------------------


@pytest.fixture
def real_broker():
    """Switch the app from eager mode to the test Redis for one test."""
    broker = django_settings.CELERY_BROKER_URL
    assert broker.startswith("redis://"), "the test run must name a real Redis"
    old = {k: celery_app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend")}
    celery_app.conf.update(task_always_eager=False, broker_url=broker, result_backend=broker)
    yield celery_app
    celery_app.conf.update(old)


def test_the_nightly_backup_is_scheduled():
    entry = django_settings.CELERY_BEAT_SCHEDULE["database-backup"]
    assert entry["task"] == "core.tasks.backup_database"
    assert entry["schedule"].hour == {1} and entry["schedule"].minute == {30}


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_backs_up_through_a_real_worker_and_records_the_run(real_broker, backup_dir):
    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        counts = backup_database.delay().get(timeout=120)

    assert (backup_dir / counts["file"]).is_file()
    assert manifest_path(backup_dir / counts["file"]).is_file()
    run = JobRun.objects.get(name="database_backup")
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.counts == counts and counts["deleted"] == 0
    backup_verify(path=backup_dir / counts["file"])


@pytest.mark.django_db(transaction=True)
def test_backup_now_is_the_same_job_and_refuses_to_run_twice_at_once(backup_dir):
    out = io.StringIO()
    call_command("backup_now", stdout=out)
    run = JobRun.objects.get(name="database_backup")
    assert run.status == JobRun.Status.SUCCEEDED
    assert f"Backed up to {backup_dir / run.counts['file']}" in out.getvalue()

    with backup._backup_lock(backup_dir), pytest.raises(CommandError, match="Another backup is running"):
        call_command("backup_now")
    assert JobRun.objects.filter(name="database_backup", counts={"skipped": 1}).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_cleans_up_what_a_killed_run_left(backup_dir):
    backup_dir.mkdir(parents=True)
    leftover = backup_dir / "crm-20260101-000000.pgdump.enc.partial"
    leftover.write_bytes(b"half a dump")
    backup.backup_run()
    assert not leftover.exists()


@pytest.mark.django_db(transaction=True)
def test_restore_backup_restores_into_the_named_database_and_compares_with_the_manifest(
    crm_data, fresh_pg_database
):
    made = backup_create()
    out = io.StringIO()
    call_command("restore_backup", str(made.path), "--yes", "--into", fresh_pg_database["NAME"], stdout=out)
    assert "Every table has the row count recorded in the manifest." in out.getvalue()
    assert pg_fingerprint(fresh_pg_database)["public.customers_customer"][0] == 12


@pytest.mark.django_db
def test_restore_backup_refuses_without_yes_when_not_interactive(tmp_path):
    made = backup_create(database=make_sqlite(tmp_path / "s.sqlite3", [(1, "a")]))
    with pytest.raises(CommandError, match="without --yes") as error:
        call_command("restore_backup", str(made.path), "--into", str(tmp_path / "t.sqlite3"))
    assert error.value.returncode == 1
    assert not (tmp_path / "t.sqlite3").exists()


@pytest.mark.django_db
def test_restore_backup_exits_2_for_an_unusable_file(tmp_path, settings):
    made = backup_create(database=make_sqlite(tmp_path / "s.sqlite3", [(1, "a")]))
    unusable = {
        "missing": (tmp_path / "nothing.sqlite3.enc", "no such file"),
        "wrong vendor": (made.path, "is a sqlite backup"),  # the configured database is PostgreSQL
    }
    for _case, (path, message) in unusable.items():
        with pytest.raises(CommandError, match=message) as error:
            call_command("restore_backup", str(path), "--yes")
        assert error.value.returncode == 2
    settings.BACKUP_ENCRYPTION_KEY = OTHER_KEY
    with pytest.raises(CommandError, match="another key") as error:
        call_command("restore_backup", str(made.path), "--check")
    assert error.value.returncode == 2


@pytest.mark.django_db
def test_restore_backup_check_reports_an_intact_file(tmp_path):
    made = backup_create(database=make_sqlite(tmp_path / "s.sqlite3", [(1, "a")]))
    out = io.StringIO()
    call_command("restore_backup", str(made.path), "--check", stdout=out)
    assert "is intact: a sqlite backup" in out.getvalue()


@pytest.mark.django_db
def test_restore_backup_process_exit_status_is_2_for_a_damaged_file(tmp_path):
    made = backup_create()
    blob = bytearray(made.path.read_bytes())
    blob[-1] ^= 0x01
    made.path.write_bytes(bytes(blob))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings_test"}
    result = subprocess.run(
        # --into a database that does not exist: were the damage missed, nothing real is touched.
        [
            sys.executable,
            "manage.py",
            "restore_backup",
            str(made.path),
            "--yes",
            "--into",
            "crm_never_created",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "damaged or was altered" in result.stderr
