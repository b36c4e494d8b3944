"""Spreadsheet imports: the registry of importers, header detection, column mapping, the run
(validate every row, hand valid rows to the importer in batches, record every outcome), the
error report, the template and undo.

Knows no domain app. Each app registers an `Importer` subclass in its AppConfig.ready()
(customers/imports.py, sales/imports.py); the web wizard (core/views_imports.py), the Celery
tasks (core/tasks.py) and the commands (import_customers, import_orders) all call
`import_run()` / `import_undo()` here, so they cannot behave differently.

Nothing is lost: every non-blank data row ends as imported, updated, skipped (with a reason)
or rejected (with a reason), and the four counts add up to the data rows in the file.
"""

import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from core.audit import audit_log
from core.db import bulk_insert
from core.models import AuditLog, ImportIssue, ImportItem, ImportJob, ImportMapping, User
from core.spreadsheets import Table, UnusableFile, is_blank, neutralise, normalise_header, open_table

logger = logging.getLogger(__name__)

HEADER_SCAN_ROWS = 30


@dataclass
class Column:
    """One importable column: the field it fills, how people name it, how to clean a cell."""

    name: str
    label: Any  # lazy translated
    aliases: tuple[str, ...] = ()
    clean: Callable[[Any], Any] = lambda value: value
    required: bool = False
    note: Any = ""  # lazy translated; shown in the template as a comment
    example: Any = ""
    choices: list[tuple[str, Any]] | None = None  # for the template's drop-down list


@dataclass
class Row:
    """A data row after cleaning: its number in the file and the cleaned values by field."""

    number: int
    values: dict[str, Any]


@dataclass
class Outcome:
    """What the importer did with a row. `message` explains skipped and rejected rows."""

    row: int
    result: str  # "created" | "updated" | "skipped" | "rejected"
    message: str = ""
    object_id: int | None = None
    before: dict | None = None
    after: dict | None = None
    field: str = ""  # the column (field name) the message is about, if one
    value: Any = ""


@dataclass
class RunState:
    """Carried across batches of one run (in-file duplicates, caches)."""

    seen: dict[Any, int] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    # For the batch being processed: group_by value → number of the first row of that group
    # rejected while cleaning (the importer never sees those rows), so an importer can refuse
    # the rest of the group (no order imported without one of its lines).
    rejected_groups: dict[Any, int] = field(default_factory=dict)


class Importer:
    """Subclass per kind of record; register with `register()`."""

    kind: str = ""
    label: Any = ""
    permission: str = ""
    columns: list[Column] = []
    # Rows sharing this column's value belong together (order lines of one order) and are
    # never split between batches when they are consecutive.
    group_by: str | None = None
    match_choices: list[tuple[str, Any]] = []
    default_match_on: list[str] = []
    on_duplicate_choices: tuple[str, ...] = ("skip", "update", "create")
    # Help text of the wizard's "default owner" field.
    default_owner_help: Any = gettext_lazy(
        "Owner of new records whose row names none. Empty: unassigned (the lead rules assign them)."
    )

    def columns_by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}

    def check_mapping(self, chosen: list[str]) -> list[str]:
        """Rules on the mapping as a whole (e.g. 'a name column is needed'): messages."""
        return []

    def check_row(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        """Rules across columns (e.g. 'name or first + last name'): (column, message) pairs."""
        return []

    def process(self, job: ImportJob, rows: list[Row], state: RunState, *, dry_run: bool) -> list[Outcome]:
        """Create/update/skip each row; one Outcome per row, in any order. Called inside a
        transaction per batch; on a dry run, must write nothing."""
        raise NotImplementedError

    def undo(self, job: ImportJob, user: User) -> dict[str, int]:
        raise NotImplementedError

    def owner_choices(self, user: User):
        """Users `user` may make the default owner of imported records."""
        return User.objects.none()


_REGISTRY: dict[str, Importer] = {}


def register(importer: Importer) -> None:
    _REGISTRY[importer.kind] = importer


def get_importer(kind: str) -> Importer:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise LookupError(kind) from None


def importers_for(user: User) -> list[Importer]:
    return [importer for importer in _REGISTRY.values() if user.has_perm(importer.permission)]


# --- header and mapping --------------------------------------------------------------------


def _alias_index(importer: Importer, saved: dict[str, str] | None = None) -> dict[str, str]:
    index: dict[str, str] = {}
    fields = importer.columns_by_name()
    for header, name in (saved or {}).items():
        if name in fields:
            index[header] = name
    for column in importer.columns:
        for alias in (column.name, str(column.label), *column.aliases):
            index.setdefault(normalise_header(alias), column.name)
        with translation.override("en"):
            index.setdefault(normalise_header(str(column.label)), column.name)
        with translation.override("zh-hans"):
            index.setdefault(normalise_header(str(column.label)), column.name)
    return index


def detect_header(
    table: Table, importer: Importer, saved: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """The header row: among the first rows, the one naming the most known columns.
    Returns (row number, header texts). Raises UnusableFile when no row names any."""
    index = _alias_index(importer, saved)
    best: tuple[int, int, list[str]] = (0, 0, [])
    for position, (number, cells) in enumerate(table.rows()):
        if position >= HEADER_SCAN_ROWS:
            break
        texts = [str(cell).strip() if not is_blank(cell) else "" for cell in cells]
        hits = len({index[normalise_header(text)] for text in texts if normalise_header(text) in index})
        if hits > best[0]:
            best = (hits, number, texts)
    if not best[0]:
        raise UnusableFile(
            _(
                "No header row was recognised in the first %(rows)d rows. Use the template, or name the columns e.g. 姓名 / 手机 / 邮箱."
            )
            % {"rows": HEADER_SCAN_ROWS}
        )
    texts = best[2]
    while texts and not texts[-1]:
        texts.pop()
    return best[1], texts


def auto_mapping(
    importer: Importer, headers: list[str], saved: dict[str, str] | None = None
) -> dict[str, str]:
    """Column index (as text) → field: saved mapping first, then the aliases; each field once."""
    index = _alias_index(importer, saved)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for position, text in enumerate(headers):
        name = index.get(normalise_header(text))
        if name and name not in used:
            mapping[str(position)] = name
            used.add(name)
    return mapping


def saved_mapping(user: User, kind: str) -> dict[str, str]:
    row = ImportMapping.objects.filter(user=user, kind=kind).first()
    return row.mapping if row else {}


def mapping_save(*, user: User, kind: str, headers: list[str], mapping: dict[str, str]) -> None:
    """Remember header text → field for this user's next import of this kind."""
    remembered = saved_mapping(user, kind)
    for position, name in mapping.items():
        position = int(position)
        if position < len(headers) and headers[position]:
            remembered[normalise_header(headers[position])] = name
    ImportMapping.objects.update_or_create(user=user, kind=kind, defaults={"mapping": remembered})


def mapping_errors(importer: Importer, mapping: dict[str, str]) -> list[str]:
    fields = importer.columns_by_name()
    errors = []
    chosen = [name for name in mapping.values() if name]
    for name in {name for name in chosen if chosen.count(name) > 1}:
        errors.append(_("“%(column)s” is chosen for more than one column.") % {"column": fields[name].label})
    for name, column in fields.items():
        if column.required and name not in chosen:
            errors.append(_("Choose the column for “%(column)s”: it is required.") % {"column": column.label})
    errors.extend(importer.check_mapping(chosen))
    return errors


# --- the run -------------------------------------------------------------------------------


def job_open_table(job: ImportJob) -> tuple[Table, Any]:
    handle = job.file.open("rb")
    try:
        return open_table(handle), handle
    except Exception:
        handle.close()
        raise


def job_prepare(*, job: ImportJob) -> None:
    """Check the uploaded file, find its header and propose a mapping (saved one first).
    Raises UnusableFile; the job then records the error."""
    importer = get_importer(job.kind)
    table, handle = job_open_table(job)
    try:
        saved = saved_mapping(job.created_by, job.kind)
        header_row, headers = detect_header(table, importer, saved)
        job.header_row = header_row
        job.headers = headers
        job.mapping = auto_mapping(importer, headers, saved)
        job.total_rows = max(table.height - header_row, 0)
        job.match_on = job.match_on or list(importer.default_match_on)
        job.save(update_fields=["header_row", "headers", "mapping", "total_rows", "match_on"])
    finally:
        handle.close()


def _data_rows(table: Table, header_row: int) -> Iterator[tuple[int, list]]:
    for number, cells in table.rows():
        if number <= header_row:
            continue
        if all(is_blank(cell) for cell in cells):
            continue
        yield number, cells


def _clean(
    importer: Importer, job: ImportJob, number: int, cells: list
) -> tuple[Row | None, list[ImportIssue]]:
    fields = importer.columns_by_name()
    values: dict[str, Any] = {}
    issues = []
    for position, name in job.mapping.items():
        if not name or name not in fields:
            continue
        position = int(position)
        column = fields[name]
        raw = cells[position] if position < len(cells) else ""
        header = job.headers[position] if position < len(job.headers) else str(column.label)
        try:
            value = column.clean(raw)
        except ValidationError as exc:
            issues.append(_issue(job, number, header, raw, " ".join(exc.messages)))
            continue
        if column.required and (value is None or value == ""):
            issues.append(_issue(job, number, header, raw, _("This column is required.")))
            continue
        values[name] = value
    if not issues:
        for name, message in importer.check_row(values):
            label = str(fields[name].label) if name in fields else name
            issues.append(_issue(job, number, label, values.get(name, ""), message))
    return (None if issues else Row(number, values)), issues


def _issue(job, number, column, value, message, outcome=ImportIssue.Outcome.REJECTED) -> ImportIssue:
    text = "" if is_blank(value) else str(value)
    return ImportIssue(
        job=job,
        row_number=number,
        column=str(column)[:200],
        value=text[:1000],
        message=str(message)[:500],
        outcome=outcome,
    )


def _group_key(importer: Importer, job: ImportJob, row: Row | None, cells: list):
    """The group_by value of a row, also for a row rejected while cleaning (its group cell
    alone is cleaned again). A row without a usable value is a group of its own."""
    if not importer.group_by:
        return object()
    if row is not None:
        value = row.values.get(importer.group_by)
    else:
        value = None
        column = importer.columns_by_name().get(importer.group_by)
        position = next((int(p) for p, name in job.mapping.items() if name == importer.group_by), None)
        if column is not None and position is not None and position < len(cells):
            try:
                value = column.clean(cells[position])
            except ValidationError:
                value = None
    return object() if value is None or value == "" else value


def _batches(importer: Importer, job: ImportJob, rows: Iterator[tuple[int, list]], size: int):
    """Cleaned rows in batches of about `size`, never splitting a group of consecutive rows
    with the same group_by value; rejected rows' issues travel with their batch, and so do
    the groups they belong to (group value → first rejected row)."""
    batch: list[Row] = []
    issues: list[ImportIssue] = []
    rejected_rows = 0
    rejected_groups: dict[Any, int] = {}
    last_key = object()
    for number, cells in rows:
        row, row_issues = _clean(importer, job, number, cells)
        key = _group_key(importer, job, row, cells)
        if len(batch) + rejected_rows >= size and key != last_key:
            yield batch, issues, rejected_rows, rejected_groups
            batch, issues, rejected_rows, rejected_groups = [], [], 0, {}
        if row is None:
            issues.extend(row_issues)
            rejected_rows += 1
            rejected_groups.setdefault(key, number)
        else:
            batch.append(row)
        last_key = key
    if batch or rejected_rows:
        yield batch, issues, rejected_rows, rejected_groups


def import_run(*, job: ImportJob, dry_run: bool = False) -> ImportJob:
    """Validate (dry_run) or import the job's file with its mapping and options.

    Each batch is its own transaction, so a large import commits progressively and the page
    can show progress. The counts and issues of the run replace those of any earlier dry run.
    """
    importer = get_importer(job.kind)
    status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.IMPORTING
    ImportJob.objects.filter(pk=job.pk).update(
        status=status,
        dry_run=dry_run,
        processed_rows=0,
        imported=0,
        updated=0,
        skipped=0,
        rejected=0,
        error="",
        started_at=timezone.now(),
        finished_at=None,
    )
    job.refresh_from_db()
    ImportIssue.objects.filter(job=job).delete()
    size = settings.IMPORT_BATCH_SIZE
    state = RunState()
    headers = {
        name: (job.headers[int(position)] if int(position) < len(job.headers) else name)
        for position, name in job.mapping.items()
    }
    counts = {"created": 0, "updated": 0, "skipped": 0, "rejected": 0}
    rows_done = 0
    table, handle = job_open_table(job)
    try:
        with translation.override(job.created_by.language or settings.LANGUAGE_CODE):
            for rows, issues, rejected_rows, rejected_groups in _batches(
                importer, job, _data_rows(table, job.header_row or 1), size
            ):
                state.rejected_groups = rejected_groups
                with transaction.atomic():
                    outcomes = importer.process(job, rows, state, dry_run=dry_run) if rows else []
                    for outcome in outcomes:
                        counts[outcome.result] += 1
                        if outcome.result in ("skipped", "rejected"):
                            header = headers.get(outcome.field, "")
                            issues.append(
                                _issue(
                                    job,
                                    outcome.row,
                                    header,
                                    outcome.value,
                                    outcome.message,
                                    outcome=outcome.result,
                                )
                            )
                    counts["rejected"] += rejected_rows
                    if not dry_run:
                        bulk_insert(
                            ImportItem,
                            [
                                ImportItem(
                                    job=job,
                                    row_number=outcome.row,
                                    object_id=outcome.object_id,
                                    action=outcome.result,
                                    before=json.dumps(outcome.before, default=str) if outcome.before else "",
                                    after=json.dumps(outcome.after, default=str) if outcome.after else "",
                                )
                                for outcome in outcomes
                                if outcome.result in ("created", "updated") and outcome.object_id
                            ],
                        )
                    ImportIssue.objects.bulk_create(issues, batch_size=1000)
                    rows_done += len(rows) + rejected_rows
                    ImportJob.objects.filter(pk=job.pk).update(
                        processed_rows=rows_done,
                        total_rows=Greatest(F("total_rows"), rows_done),
                        imported=counts["created"],
                        updated=counts["updated"],
                        skipped=counts["skipped"],
                        rejected=counts["rejected"],
                    )
            report = _error_report(job, table) if counts["skipped"] or counts["rejected"] else None
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        job.refresh_from_db()
        if isinstance(exc, UnusableFile):
            return job
        raise
    finally:
        handle.close()
    job.refresh_from_db()
    job.total_rows = rows_done
    job.status = ImportJob.Status.VALIDATED if dry_run else ImportJob.Status.DONE
    job.finished_at = timezone.now()
    if job.error_report:
        job.error_report.delete(save=False)
    if report is not None:
        job.error_report.save(f"errors-{job.pk}.xlsx", ContentFile(report), save=False)
    job.save(update_fields=["total_rows", "status", "finished_at", "error_report"])
    if not dry_run:
        audit_log(
            actor=job.created_by,
            action=AuditLog.Action.IMPORT,
            obj=job,
            kind=job.kind,
            file=job.original_name,
            imported=job.imported,
            updated=job.updated,
            skipped=job.skipped,
            rejected=job.rejected,
        )
    return job


def _error_report(job: ImportJob, table: Table) -> bytes:
    """The skipped and rejected rows as they were in the file, with a column saying why,
    so the user can correct them and import the report again."""
    reasons: dict[int, list[str]] = {}
    for number, column, message in job.issues.values_list("row_number", "column", "message").iterator(
        chunk_size=5000
    ):
        reasons.setdefault(number, []).append(f"{column}: {message}" if column else message)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Rows not imported")[:31])
    bold = Font(bold=True)
    header = [WriteOnlyCell(sheet, value=_sheet_value(text)) for text in job.headers]
    for cell in header:
        cell.font = bold
    problem = WriteOnlyCell(sheet, value=_("Problem"))
    problem.font = Font(bold=True, color="C00000")
    sheet.append([*header, problem])
    width = len(job.headers)
    for number, cells in table.rows():
        if number in reasons:
            cells = list(cells[:width]) + [""] * (width - len(cells))
            sheet.append(
                [_sheet_value(cell) for cell in cells]
                + [_("Row %(row)d: ") % {"row": number} + "; ".join(reasons[number])]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _sheet_value(value):
    return neutralise(value)


# --- erasure ---------------------------------------------------------------------------------


def imports_forget_records(*, kind: str, object_ids: list[int]) -> dict[str, int]:
    """Forget what imports of `kind` kept about the given records (a person being erased,
    customers.privacy): their undo items (the values before and after, encrypted), and, for
    every import that wrote them, the uploaded file, the error report and the row problems,
    which hold the file's raw cells. The imports themselves stay, with their counts; undo
    still works for the other records (it reads the items, never the file)."""
    if not object_ids:
        return {"import_items": 0, "import_files": 0, "import_issues": 0}
    items = ImportItem.objects.filter(job__kind=kind, object_id__in=object_ids)
    job_ids = set(items.values_list("job_id", flat=True))
    deleted_items, _by_model = items.delete()
    files = issues = 0
    for job in ImportJob.objects.filter(pk__in=job_ids):
        for field_file in (job.file, job.error_report):
            if field_file:
                try:
                    field_file.delete(save=False)
                    files += 1
                except OSError:
                    logger.warning("could not delete import file %s", field_file.name)
        job.save(update_fields=["file", "error_report"])
        issues += job.issues.all().delete()[0]
    return {"import_items": deleted_items, "import_files": files, "import_issues": issues}


# --- undo ----------------------------------------------------------------------------------


def undo_deadline(job: ImportJob):
    if not job.finished_at:
        return None
    return job.finished_at + timedelta(hours=settings.IMPORT_UNDO_HOURS)


def can_undo(job: ImportJob, now=None) -> bool:
    deadline = undo_deadline(job)
    return (
        job.status == ImportJob.Status.DONE
        and not job.dry_run
        and deadline is not None
        and (now or timezone.now()) <= deadline
        and (job.imported > 0 or job.updated > 0)
    )


def _claim_undo(job: ImportJob) -> None:
    """Move the job to "undoing" with a conditional update, so two clicks undo once."""
    if not can_undo(job):
        raise ValidationError(_("This import can no longer be undone."))
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.DONE).update(
        status=ImportJob.Status.UNDOING
    )
    if not claimed:
        raise ValidationError(_("This import can no longer be undone."))


def import_undo(*, job: ImportJob, user: User) -> dict[str, int]:
    """Delete what the import created and restore what it updated (fields changed since by
    someone else are left as they are and counted as conflicts)."""
    _claim_undo(job)
    return import_undo_claimed(job=job, user=user)


def import_undo_start(*, job: ImportJob, user: User) -> None:
    """Claim the undo now and run it in the background."""
    from core import tasks

    _claim_undo(job)
    transaction.on_commit(lambda: tasks.import_undo.delay(job.pk, user.pk))


def import_undo_claimed(*, job: ImportJob, user: User) -> dict[str, int]:
    importer = get_importer(job.kind)
    try:
        with transaction.atomic():
            counts = importer.undo(job, user)
    except Exception:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE)
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.UNDONE, undone_at=timezone.now(), undone_by=user, undo_counts=counts
    )
    job.refresh_from_db()
    audit_log(
        actor=user,
        action=AuditLog.Action.IMPORT_UNDO,
        obj=job,
        kind=job.kind,
        file=job.original_name,
        **counts,
    )
    return counts


def item_values(items) -> Iterator[tuple[ImportItem, dict, dict]]:
    for item in items:
        yield item, json.loads(item.before or "{}"), json.loads(item.after or "{}")


# --- template ------------------------------------------------------------------------------


def template_workbook(importer: Importer) -> bytes:
    """An .xlsx template in the current language: headers (required ones marked *), a note
    on each header, an example row and drop-down lists for choice columns."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(importer.label)[:31]
    lists = workbook.create_sheet(_("Lists")[:31])
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    for index, column in enumerate(importer.columns, start=1):
        cell = sheet.cell(row=1, column=index, value=f"{column.label}{' *' if column.required else ''}")
        cell.font = Font(bold=True)
        if column.required:
            cell.fill = required_fill
        note = str(column.note) if column.note else ""
        if column.required:
            note = (_("Required.") + " " + note).strip()
        if column.choices:
            note = (note + " " + _("Choose from the list.")).strip()
        if note:
            cell.comment = Comment(note, "CRM", width=300, height=120)
        example = column.example
        sheet.cell(row=2, column=index, value=str(example) if example != "" else None)
        sheet.column_dimensions[cell.column_letter].width = max(12, len(str(column.label)) * 2 + 4)
        if column.choices:
            labels = [str(label) for _value, label in column.choices]
            for row, label in enumerate(labels, start=1):
                lists.cell(row=row, column=index, value=label)
            letter = cell.column_letter
            validation = DataValidation(
                type="list",
                formula1=f"'{lists.title}'!${letter}$1:${letter}${len(labels)}",
                allow_blank=True,
                showErrorMessage=True,
                errorTitle=str(column.label),
                error=_("Choose a value from the list."),
            )
            sheet.add_data_validation(validation)
            validation.add(f"{letter}2:{letter}10000")
    sheet.freeze_panes = "A2"
    lists.sheet_state = "hidden"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def job_samples(job: ImportJob, count: int = 3) -> list[list[str]]:
    """The first data rows as text, for the mapping page."""
    table, handle = job_open_table(job)
    try:
        samples = []
        for _number, cells in _data_rows(table, job.header_row or 1):
            samples.append(["" if is_blank(cell) else str(cell)[:60] for cell in cells])
            if len(samples) >= count:
                break
        return samples
    finally:
        handle.close()


def import_start(*, job: ImportJob, dry_run: bool) -> bool:
    """Claim the job for a run (two clicks start one run) and enqueue it after commit."""
    from core import tasks

    # A real import that failed half-way is not re-run (it would duplicate what it wrote):
    # undo it, or start a new import.
    startable = Q(status__in=[ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATED]) | Q(
        status=ImportJob.Status.FAILED, dry_run=True
    )
    status = ImportJob.Status.VALIDATING if dry_run else ImportJob.Status.IMPORTING
    claimed = ImportJob.objects.filter(startable, pk=job.pk).update(status=status)
    if not claimed:
        return False
    task = tasks.import_validate if dry_run else tasks.import_commit
    transaction.on_commit(lambda: task.delay(job.pk))
    return True
