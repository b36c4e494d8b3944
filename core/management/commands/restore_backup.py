"""Restore the database from an encrypted backup made by `backup_now` / the nightly job.

Exit status: 0 restored (or, with --check, the file is intact); 1 refused or failed (no
--yes without a terminal, cancelled, pg_restore failed, rows differ from the manifest);
2 the file is unusable (missing, not a backup, other key, damaged, other database vendor).
"""

import sys
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from core.backup import (
    BackupError,
    UnusableBackupError,
    backup_inspect,
    backup_restore,
    backup_verify,
    database_vendor,
)

UNUSABLE = 2


class Command(BaseCommand):
    help = (
        "Replace all data of the database with the contents of an encrypted backup FILE. "
        "The file is decrypted and checked completely before the database is touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a crm-….pgdump.enc or crm-….sqlite3.enc file")
        parser.add_argument(
            "--yes", action="store_true", help="do not ask (required when not run from a terminal)"
        )
        parser.add_argument(
            "--into",
            metavar="NAME",
            help=(
                "restore into this database instead of the configured one, e.g. to test a restore: "
                "PostgreSQL: the name of an existing database on the same server (same user and "
                "password); SQLite: a file path"
            ),
        )
        parser.add_argument(
            "--check", action="store_true", help="only check that the file decrypts and is intact"
        )

    def handle(self, *args, file: Path, yes: bool, into: str | None, check: bool, **options):
        database = dict(settings.DATABASES["default"])
        if into:
            database["NAME"] = into
        try:
            if check:
                size = backup_verify(path=file)
                header = backup_inspect(path=file)
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{file.name} is intact: a {header.vendor} backup, {size} bytes of dump."
                    )
                )
                return
            if not yes and not sys.stdin.isatty():
                raise CommandError(
                    f"Refusing to replace the data of database {database['NAME']} without --yes "
                    "(not run from a terminal)."
                )
            vendor = database_vendor(database)
            # Cheap checks first (a backup? this key? this vendor?) so the question below is
            # only asked about a file that can be restored.
            backup_inspect(path=file, vendor=vendor)
            if not yes:
                answer = input(
                    f"This replaces ALL data of the {vendor} database {database['NAME']} with {file.name}.\n"
                    "Type 'yes' to continue: "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("Restore cancelled; nothing was changed.")
            result = backup_restore(path=file, database=database)
        except UnusableBackupError as exc:
            raise CommandError(str(exc), returncode=UNUSABLE) from exc
        except (BackupError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc

        rows = sum(result.tables.values())
        self.stdout.write(
            f"Restored {file.name} into {result.vendor} database {result.database}: "
            f"{len(result.tables)} tables, {rows} rows."
        )
        if result.mismatches:
            raise CommandError(
                "The restored rows differ from the backup's manifest:\n  " + "\n  ".join(result.mismatches)
            )
        if result.expected is None:
            self.stdout.write("No manifest beside the file: row counts not compared.")
        else:
            self.stdout.write(self.style.SUCCESS("Every table has the row count recorded in the manifest."))
        self.stdout.write(
            "Next: `python manage.py migrate` (applies migrations newer than the backup), then start "
            "the web app, worker and beat again."
        )
