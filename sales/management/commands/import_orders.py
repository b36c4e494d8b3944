"""`manage.py import_orders FILE --user USERNAME`: the order import of the web wizard, from the
command line (same importer, same checks, same undo from the imports page).

The last line printed is `imported=N updated=N skipped=N rejected=N` (rows of the file).
Exit status 0 when the file was processed (even with rows rejected: see --errors-out), 2 when
it could not be used at all (not a spreadsheet, no header, unknown user, ...).
"""

import os
import shutil

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from core.importing import get_importer, import_run, job_prepare, mapping_errors
from core.models import ImportJob, User
from core.spreadsheets import UnusableFile

KIND = "orders"
SHOWN_ISSUES = 50


class Command(BaseCommand):
    help = (
        "Import orders (one row per order line; consecutive rows with the same order number are "
        "one order) from an .xlsx, .xls or .csv file, as a user whose permissions and customers apply."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The .xlsx, .xls or .csv file.")
        # There is no "import as nobody": the user's scope decides which customers are found.
        parser.add_argument("--user", required=True, help="Username the import runs as.")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")
        parser.add_argument(
            "--on-duplicate",
            choices=ImportJob.OnDuplicate.values,
            default=ImportJob.OnDuplicate.SKIP,
            help="When an order with the file's number exists: skip the order (default), update it, "
            "or create a new order with a new number.",
        )
        parser.add_argument(
            "--owner", help="Username owning orders whose row names no owner and whose customer has none."
        )
        parser.add_argument(
            "--errors-out", help="Write the rows not imported, with the reason, to this .xlsx file."
        )

    def handle(self, *args, **options):
        user = self._user(options["user"])
        importer = get_importer(KIND)
        if not user.has_perm(importer.permission):
            raise CommandError(f"{user.username} may not import orders.", returncode=2)
        owner = None
        if options["owner"]:
            owner = importer.owner_choices(user).filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(
                    f"{options['owner']!r} is not a colleague {user.username} may make the owner of orders.",
                    returncode=2,
                )
        path = options["file"]
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}", returncode=2)
        with translation.override(user.language or settings.LANGUAGE_CODE):
            job = self._prepare(user, path, options["on_duplicate"], owner)
            job = import_run(job=job, dry_run=options["dry_run"])
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.error, returncode=2)
        for issue in job.issues.order_by("row_number", "id")[:SHOWN_ISSUES]:
            column = f"{issue.column}: " if issue.column else ""
            self.stderr.write(f"row {issue.row_number} {issue.outcome}: {column}{issue.message}")
        hidden = job.skipped + job.rejected - SHOWN_ISSUES
        if hidden > 0:
            self.stderr.write(f"... and more problems; see --errors-out or the import's page (job {job.pk}).")
        if options["errors_out"] and job.error_report:
            with job.error_report.open("rb") as report, open(options["errors_out"], "wb") as out:
                shutil.copyfileobj(report, out)
        self.stdout.write(
            f"imported={job.imported} updated={job.updated} skipped={job.skipped} rejected={job.rejected}"
        )

    def _user(self, username: str) -> User:
        try:
            return User.objects.get(username=username, is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user named {username!r}.", returncode=2) from None

    def _prepare(self, user: User, path: str, on_duplicate: str, owner: User | None) -> ImportJob:
        """The job, as the wizard's upload step makes it: file kept through the storage,
        header found, columns mapped by their names (the user's saved mapping first)."""
        name = os.path.basename(path)
        job = ImportJob(
            kind=KIND,
            created_by=user,
            original_name=name[:255],
            file_size=os.path.getsize(path),
            on_duplicate=on_duplicate,
            default_owner=owner,
        )
        with open(path, "rb") as handle:
            job.file.save(name, File(handle), save=False)
        job.save()
        try:
            job_prepare(job=job)
        except UnusableFile as exc:
            job.file.delete(save=False)
            job.delete()
            raise CommandError(str(exc), returncode=2) from None
        errors = mapping_errors(get_importer(KIND), job.mapping)
        if errors:
            job.file.delete(save=False)
            job.delete()
            raise CommandError(" ".join(errors), returncode=2)
        return job
