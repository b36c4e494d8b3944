"""The shared body of `import_customers`, `import_orders` ...: one ImportJob through the same
service as the web wizard (core.importing), so the command and the page cannot differ.

The last line printed is exactly `imported=N updated=N skipped=N rejected=N`; the exit status
is 0 unless the file itself is unusable (then 2, with the reason on stderr).
"""

import os
import shutil
import sys

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from core import importing
from core.models import ImportJob, User
from core.spreadsheets import UnusableFile

MAX_PRINTED_ISSUES = 200


class ImportCommand(BaseCommand):
    kind = ""

    @property
    def help(self):
        return (
            f"Import {self.kind} from an .xlsx/.xls/.csv file (UTF-8 or GBK) with the web wizard's "
            "rules: header row and columns recognised automatically, every row imported, updated, "
            "skipped or rejected with a reason."
        )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")
        parser.add_argument(
            "--on-duplicate", choices=[c for c, _label in ImportJob.OnDuplicate.choices], default="skip"
        )
        parser.add_argument("--owner", help="Username of the default owner of new records.")
        parser.add_argument(
            "--user",
            help="Username the import runs as (its permissions and scope apply). "
            "Default: the --owner, else the first active superuser.",
        )
        parser.add_argument("--match-on", help="Comma-separated ways to recognise existing records.")
        parser.add_argument("--errors-out", help="Write the skipped and rejected rows to this .xlsx file.")

    def handle(self, *args, **options):
        importer = importing.get_importer(self.kind)
        path = options["file"]
        if not os.path.isfile(path):
            self._unusable(f"{path}: no such file.")
        owner = self._user(options["owner"]) if options["owner"] else None
        user = self._user(options["user"]) if options["user"] else owner or self._first_superuser()
        if not user.has_perm(importer.permission):
            raise CommandError(f"{user.username} may not import {self.kind}.", returncode=2)
        if owner is not None and not importer.owner_choices(user).filter(pk=owner.pk).exists():
            raise CommandError(f"{user.username} may not make {owner.username} the owner.", returncode=2)
        match_on = [m.strip() for m in options["match_on"].split(",")] if options["match_on"] else []
        known = {value for value, _label in importer.match_choices}
        if set(match_on) - known:
            raise CommandError(f"--match-on takes: {', '.join(sorted(known))}.", returncode=2)
        job = ImportJob(
            kind=self.kind,
            created_by=user,
            original_name=os.path.basename(path)[:255],
            file_size=os.path.getsize(path),
            on_duplicate=options["on_duplicate"],
            match_on=match_on,
            default_owner=owner,
        )
        with open(path, "rb") as handle:
            job.file.save(os.path.basename(path), File(handle), save=False)
        job.save()
        try:
            importing.job_prepare(job=job)
        except UnusableFile as exc:
            job.file.delete(save=False)
            job.delete()
            self._unusable(str(exc))
        errors = importing.mapping_errors(importer, job.mapping)
        if errors:
            job.file.delete(save=False)
            job.delete()
            self._unusable(" ".join(errors))
        with translation.override(user.language or settings.LANGUAGE_CODE):
            job = importing.import_run(job=job, dry_run=options["dry_run"])
        if job.status == ImportJob.Status.FAILED:
            self._unusable(job.error)
        # Problems go to stderr, so stdout ends with the counts alone.
        for issue in job.issues.order_by("row_number", "id")[:MAX_PRINTED_ISSUES]:
            column = f"{issue.column}: " if issue.column else ""
            self.stderr.write(f"row {issue.row_number} {issue.outcome}: {column}{issue.message}")
        if job.skipped + job.rejected > MAX_PRINTED_ISSUES:
            self.stderr.write(f"... and more; see --errors-out or the import's page (/imports/{job.pk}/).")
        if options["errors_out"] and job.error_report:
            with job.error_report.open("rb") as report, open(options["errors_out"], "wb") as out:
                shutil.copyfileobj(report, out)
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
        self.stdout.write(
            f"imported={job.imported} updated={job.updated} skipped={job.skipped} rejected={job.rejected}"
        )

    def _user(self, username: str) -> User:
        try:
            return User.objects.get(username=username, is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user named {username!r}.", returncode=2) from None

    def _first_superuser(self) -> User:
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError("No active superuser: give --user.", returncode=2)
        return user

    def _unusable(self, reason: str):
        self.stderr.write(reason)
        sys.exit(2)
