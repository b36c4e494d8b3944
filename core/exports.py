"""Spreadsheet exports of lists (.xlsx or .csv): the parts every export shares.

Apps register what they export from their AppConfig.ready() (`register_exporter`): a kind,
the permission it needs, the list's rows for a user and the list's filters, and the columns.
Core knows no domain app and writes every kind the same way:

- cells a spreadsheet would run as formulas are neutralised (CSV injection);
- CSV is UTF-8 with a BOM (so Excel shows Chinese), xlsx is streamed by openpyxl's write-only
  mode and rows are read with queryset.iterator(), so memory stays flat however long the list;
- personal-data columns are masked unless the user holds the exporter's sensitive permission;
- headers and labels are in the user's language;
- every export goes to the audit log (kind, rows, format, filters without the search text).

A list longer than EXPORT_SYNC_MAX_ROWS is built in the background instead (ExportJob and the
task core.tasks.run_export_job) and downloaded from "My exports"; the nightly clean-up deletes
it EXPORT_KEEP_DAYS later.
"""

import csv
import io
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Literal

from django.conf import settings
from django.core.files import File
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from openpyxl import Workbook

from core.audit import audit_log
from core.models import AuditLog, ExportJob, User
from core.replica import replica_reads
from core.spreadsheets import FORMULA_PREFIXES, neutralise  # noqa: F401 - neutralise is part of this API

logger = logging.getLogger(__name__)

Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
# Rows fetched per round trip, and how often a background export reports its progress.
CHUNK_SIZE = 2000
# Query parameters of a list that do not choose its rows.
NOT_FILTERS = ("cursor", "sort", "per_page", "format")
# The same export asked for again while it is still being built opens the first one.
DUPLICATE_WINDOW = timedelta(hours=1)


def filter_query(params: QueryDict | str) -> str:
    """The filters for the audit log: paging, sorting and the format dropped, and the
    free-text search replaced by a placeholder, since it may be a name (qk is already a
    blind-index token)."""
    params = QueryDict(params, mutable=True) if isinstance(params, str) else params.copy()
    for key in NOT_FILTERS:
        params.pop(key, None)
    if params.get("q"):
        params["q"] = "[redacted]"
    return params.urlencode()


def plain(value):
    """A value as the writers take it: None → "", datetimes as local wall-clock time without
    tzinfo (openpyxl refuses aware ones), records and lazy texts as text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value).replace(tzinfo=None)
        return value.replace(microsecond=0)
    if isinstance(value, models.Model | Promise):
        return str(value)
    return value


# --- writers -----------------------------------------------------------------------------


def write_csv(header: list[str], rows: Iterable[list], out: BinaryIO) -> int:
    """CSV in UTF-8 with a BOM, so Excel recognises the encoding and shows Chinese correctly.
    Returns the number of rows written (without the header)."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(header)
        count = 0
        for row in rows:
            writer.writerow(
                [
                    value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value
                    for value in row
                ]
            )
            count += 1
        text.flush()
    finally:
        # Leave `out` open for the caller.
        text.detach()
    return count


def write_xlsx(header: list[str], rows: Iterable[list], out: BinaryIO, title: str) -> int:
    """One sheet, streamed (openpyxl write-only mode). Returns the number of rows written."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    workbook.save(out)
    return count


def _sheet_title(title: str) -> str:
    # Excel allows 31 characters and none of \ / ? * [ ] :
    cleaned = "".join(" " if ch in "\\/?*[]:" else ch for ch in title).strip()
    return cleaned[:31] or "Sheet"


def write_table(fmt: Format, header: list[str], rows: Iterable[list], out: BinaryIO, *, title: str) -> int:
    if fmt == "csv":
        return write_csv(header, rows, out)
    if fmt == "xlsx":
        return write_xlsx(header, rows, out, title=title)
    raise ValueError(f"Unknown export format: {fmt!r}")


# --- the registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: Any  # the header text, usually lazily translated
    value: Callable[[Any], Any]  # the cell of one row (a model instance)
    # Personal data: the masker applies unless the user holds the exporter's sensitive_permission.
    masker: Callable[[str], str] | None = None


def field_column(model: type[models.Model], name: str, *, masker=None, value=None, header=None) -> Column:
    """A column for a model field: its verbose name as header; choices as their label."""
    field = model._meta.get_field(name)
    if value is None:
        if getattr(field, "choices", None):

            def value(obj, _name=name):
                return getattr(obj, f"get_{_name}_display")()

        else:

            def value(obj, _name=name):
                return getattr(obj, _name)

    return Column(header=header or field.verbose_name, value=value, masker=masker)


@dataclass(frozen=True)
class Exporter:
    """What one list exports. `queryset(user, params)` returns the list's rows exactly as the
    list page shows them (the user's scope, the list's FilterSet over `params`, the list's
    order), with the joins the columns need: it is iterated once, in chunks."""

    kind: str  # "orders": the ExportJob kind, never changed once used
    title: Any  # plural name, lazily translated: sheet title and "My exports"
    permission: str  # "sales.export_order"; the export views check it
    queryset: Callable[[User, QueryDict], QuerySet]
    columns: Sequence[Column]
    filename: str  # "orders" → orders-20261123.xlsx
    list_url: str = ""  # URL name of the list page ("sales:order_list")
    # Who may see masked columns in full (e.g. "customers.view_sensitive"); empty: nobody.
    sensitive_permission: str = ""
    # The custom fields of this target (core.custom_fields) follow the columns, read when an
    # export starts: admins add and remove them at any time.
    custom_target: str = ""

    def resolved(self) -> "Exporter":
        """This exporter with the custom-field columns of the moment appended (one query)."""
        if not self.custom_target:
            return self
        from core.custom_fields import export_columns

        return replace(self, columns=[*self.columns, *export_columns(self.custom_target)], custom_target="")

    def header(self) -> list[str]:
        return [str(column.header) for column in self.columns]

    def row(self, obj, *, unmasked: bool) -> list:
        cells = []
        for column in self.columns:
            value = column.value(obj)
            if column.masker is not None and not unmasked:
                value = column.masker(value or "")
            cells.append(neutralise(plain(value)))
        return cells

    @property
    def has_personal_data(self) -> bool:
        return any(column.masker is not None for column in self.resolved().columns)

    def may_unmask(self, user: User) -> bool:
        return bool(self.sensitive_permission) and user.has_perm(self.sensitive_permission)


_exporters: dict[str, Exporter] = {}


def register_exporter(exporter: Exporter) -> None:
    _exporters[exporter.kind] = exporter


def get_exporter(kind: str) -> Exporter | None:
    return _exporters.get(kind)


def exporters() -> list[Exporter]:
    return list(_exporters.values())


# --- writing an export -------------------------------------------------------------------


def _language(user: User) -> str:
    return getattr(user, "language", "") or settings.LANGUAGE_CODE


def _reporting(rows: Iterator[list], progress: Callable[[int], None]) -> Iterator[list]:
    for count, row in enumerate(rows, start=1):
        yield row
        if count % CHUNK_SIZE == 0:
            progress(count)


def export_write(
    *,
    exporter: Exporter,
    user: User,
    params: QueryDict,
    fmt: Format,
    out: BinaryIO,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, bool]:
    """Write the list's rows for `user` to `out` in the user's language. `progress(rows)` is
    called after every CHUNK_SIZE rows. Returns (rows written, whether personal data was
    unmasked). Writes no audit entry: the callers do."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format: {fmt!r}")
    exporter = exporter.resolved()
    # Nothing to unmask without a masked column (no permission lookup either).
    unmasked = exporter.has_personal_data and exporter.may_unmask(user)
    with translation.override(_language(user)):
        header = exporter.header()
        queryset = exporter.queryset(user, params)
        rows = (exporter.row(obj, unmasked=unmasked) for obj in queryset.iterator(chunk_size=CHUNK_SIZE))
        if progress is not None:
            rows = _reporting(rows, progress)
        count = write_table(fmt, header, rows, out, title=str(exporter.title))
    return count, unmasked


def _audit(
    *,
    exporter: Exporter,
    user: User,
    fmt: str,
    rows: int,
    query: str,
    request: HttpRequest | None = None,
    **extra,
) -> None:
    if not exporter.has_personal_data:
        # Nothing was masked, so nothing was unmasked either.
        extra.pop("unmasked", None)
    audit_log(
        actor=user,
        action=AuditLog.Action.EXPORT,
        request=request,
        kind=exporter.kind,
        rows=rows,
        format=fmt,
        query=filter_query(query),
        **extra,
    )


def export_run(
    *,
    exporter: Exporter,
    user: User,
    params: QueryDict,
    fmt: Format,
    out: BinaryIO,
    request: HttpRequest | None = None,
) -> int:
    """Export now (the download answers the request) and record it in the audit log.
    Returns the number of rows. The caller checks exporter.permission."""
    exporter = exporter.resolved()  # the custom-field columns, read once
    with replica_reads():
        count, unmasked = export_write(exporter=exporter, user=user, params=params, fmt=fmt, out=out)
    _audit(
        exporter=exporter,
        user=user,
        fmt=fmt,
        rows=count,
        query=params.urlencode(),
        request=request,
        unmasked=unmasked,
    )
    return count


def export_is_large(*, exporter: Exporter, user: User, params: QueryDict) -> bool:
    """More than EXPORT_SYNC_MAX_ROWS rows? Counts at most one row beyond the limit."""
    limit = max(settings.EXPORT_SYNC_MAX_ROWS, 0)
    rows = exporter.queryset(user, params).order_by().values("pk")[: limit + 1]
    return rows.count() > limit


# --- background exports ------------------------------------------------------------------


def _job_params(params: QueryDict) -> str:
    """The list's query string as the job keeps it: paging and the format dropped, the sort
    kept (the file has the rows in the list's order)."""
    params = params.copy()
    for key in ("cursor", "per_page", "format"):
        params.pop(key, None)
    return params.urlencode()


@transaction.atomic
def export_job_create(*, exporter: Exporter, user: User, params: QueryDict, fmt: Format) -> ExportJob:
    """Queue a background export of the list (the task starts after the commit). The same
    export asked for again while the first is still queued or running returns the first."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format: {fmt!r}")
    query = _job_params(params)
    pending = (
        ExportJob.objects.filter(
            created_by=user,
            kind=exporter.kind,
            format=fmt,
            params=query,
            status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING],
            created_at__gte=timezone.now() - DUPLICATE_WINDOW,
        )
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    job = ExportJob.objects.create(kind=exporter.kind, created_by=user, params=query, format=fmt)

    from core.tasks import run_export_job

    transaction.on_commit(lambda: run_export_job.delay(job.pk))
    return job


class _Cancelled(Exception):
    """The job row went away (cleaned up) while the file was being written."""


def _fail(job_id: int, message: str) -> None:
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.FAILED, error=message[:2000], finished_at=timezone.now()
    )


def export_job_run(job_id: int) -> int | None:
    """Build the file of a queued export job (the body of core.tasks.run_export_job).

    Claims the job with a conditional update, so a task delivered twice builds it once; the
    user's scope and permissions at run time apply. Progress goes to processed_rows after
    every chunk. Returns the rows written, or None when there was nothing to do or it failed
    (the job says why).
    """
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.QUEUED).update(
        status=ExportJob.Status.RUNNING
    )
    if not claimed:
        return None
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    user = job.created_by
    exporter = get_exporter(job.kind)
    if exporter is None or not user.is_active or not user.has_perm(exporter.permission):
        with translation.override(_language(user)):
            _fail(job.pk, _("You may not export this list."))
        return None
    params = QueryDict(job.params)
    exporter = exporter.resolved()  # the custom-field columns, read once

    def progress(rows: int) -> None:
        running = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING)
        if not running.update(processed_rows=rows):
            raise _Cancelled

    stored_name = ""
    try:
        with replica_reads():
            total = exporter.queryset(user, params).order_by().count()
        ExportJob.objects.filter(pk=job.pk).update(total_rows=total)
        with tempfile.TemporaryFile() as tmp, replica_reads():
            # (the progress updates are writes: they go to default)
            count, unmasked = export_write(
                exporter=exporter, user=user, params=params, fmt=job.format, out=tmp, progress=progress
            )
            tmp.seek(0)
            # A random part: file names cannot be guessed, even where storage is reachable.
            name = f"{exporter.filename}-{timezone.localdate():%Y%m%d}-{secrets.token_hex(8)}.{job.format}"
            job.file.save(name, File(tmp), save=False)
            stored_name = job.file.name
        done = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.DONE,
            file=stored_name,
            total_rows=count,
            processed_rows=count,
            finished_at=timezone.now(),
        )
        if not done:
            raise _Cancelled
    except _Cancelled:
        if stored_name:
            job.file.storage.delete(stored_name)
        return None
    except Exception as exc:
        logger.exception("export job %s failed", job.pk)
        if stored_name:
            job.file.storage.delete(stored_name)
        _fail(job.pk, f"{type(exc).__name__}: {exc}")
        return None
    _audit(
        exporter=exporter,
        user=user,
        fmt=job.format,
        rows=count,
        query=job.params,
        unmasked=unmasked,
        job=job.pk,
        background=True,
    )
    return count


def export_job_downloaded(*, job: ExportJob, exporter: Exporter, user: User, request: HttpRequest) -> None:
    """Record a download of a background export (who, from where) in the audit log."""
    _audit(
        exporter=exporter,
        user=user,
        fmt=job.format,
        rows=job.total_rows,
        query=job.params,
        request=request,
        job=job.pk,
        download=True,
    )


def exports_cleanup(*, now: datetime | None = None) -> dict[str, int]:
    """Delete export jobs older than EXPORT_KEEP_DAYS and their files (the nightly job)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EXPORT_KEEP_DAYS)
    return _delete_jobs(ExportJob.objects.filter(created_at__lt=cutoff))


def exports_forget_personal_data(*, before: datetime) -> dict[str, int]:
    """Delete the finished background exports made before `before`, with their files.

    Called when a person's data is erased (customers.privacy): any list exported earlier may
    hold them, and a file cannot be edited row by row. Exports are short-lived copies anyway;
    whoever needs the list again exports it again. Queued and running exports are left to
    finish (they read the rows after the erasure).
    """
    done = (ExportJob.Status.DONE, ExportJob.Status.FAILED)
    return _delete_jobs(ExportJob.objects.filter(created_at__lt=before, status__in=done))


def _delete_jobs(jobs: QuerySet) -> dict[str, int]:
    storage = ExportJob._meta.get_field("file").storage
    deleted = files = 0
    while True:
        batch = list(jobs.order_by("pk").values_list("pk", "file")[:500])
        if not batch:
            break
        for _pk, name in batch:
            if name:
                try:
                    storage.delete(name)
                    files += 1
                except OSError:
                    # The row goes anyway: a file left behind is found by its age on disk.
                    logger.warning("could not delete export file %s", name)
        ExportJob.objects.filter(pk__in=[pk for pk, _name in batch]).delete()
        deleted += len(batch)
    return {"jobs": deleted, "files": files}
