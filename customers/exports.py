"""Exporting the customer ledger to Excel (xlsx) or CSV.

One service, `customers_export`, shared by the web view and the `export_customers` command:
the same scope (Customer.objects.visible_to), the same filters (CustomerFilter), the same
masking and the same audit entry whichever way it is called.
"""

import csv
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO, Literal

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils import timezone, translation
from openpyxl import Workbook

from core.audit import audit_log
from core.models import AuditLog, User
from core.personal_data import mask_email, mask_phone, mask_text
from customers.filters import CustomerFilter
from customers.models import Customer

Format = Literal["xlsx", "csv"]
FORMATS: tuple[Format, ...] = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

# The exported columns, in order: Customer fields; the header is each field's verbose name.
COLUMNS = (
    "name",
    "kind",
    "company",
    "title",
    "mobile",
    "other_phone",
    "email",
    "wechat",
    "province",
    "city",
    "district",
    "street",
    "lifecycle_stage",
    "value_tier",
    "abc_class",
    "source",
    "tag_names",
    "owner",
    "team",
    "created_at",
    "last_contacted_at",
    "order_count",
    "total_spend",
)
CHOICE_COLUMNS = {"kind", "lifecycle_stage", "value_tier", "abc_class", "source"}
MASKERS: dict[str, Callable[[str], str]] = {
    "mobile": mask_phone,
    "other_phone": mask_phone,
    "email": mask_email,
    "wechat": mask_text,
    "street": mask_text,
}
# A cell starting with one of these is read by Excel / LibreOffice as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_SIZE = 2000


def neutralise(value):
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _filter_query(params: QueryDict) -> str:
    """The filters for the audit log: paging and sorting dropped, and the free-text search
    replaced by a placeholder, since it may be a name (qk is already a blind-index token)."""
    params = params.copy()
    for key in ("cursor", "sort", "per_page", "format"):
        params.pop(key, None)
    if params.get("q"):
        params["q"] = "[redacted]"
    return params.urlencode()


def _cell(customer: Customer, column: str, *, unmasked: bool):
    if column in CHOICE_COLUMNS:
        return getattr(customer, f"get_{column}_display")()
    value = getattr(customer, column)
    if column in MASKERS and not unmasked:
        return MASKERS[column](value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        # Local wall-clock time without tzinfo: openpyxl refuses aware datetimes.
        return timezone.localtime(value).replace(tzinfo=None, microsecond=0)
    if column in ("owner", "team"):
        return str(value)
    return value


def _rows(user: User, params: QueryDict, *, unmasked: bool) -> Iterator[list]:
    queryset = (
        Customer.objects.visible_to(user)
        .select_related("owner", "team")
        .defer("notes", "preferences", "search_text", "search_grams")
        .order_by("-created_at", "-id")
    )
    customers = CustomerFilter(params, queryset=queryset, user=user).qs
    for customer in customers.iterator(chunk_size=CHUNK_SIZE):
        yield [neutralise(_cell(customer, column, unmasked=unmasked)) for column in COLUMNS]


def _header() -> list[str]:
    return [str(Customer._meta.get_field(column).verbose_name) for column in COLUMNS]


def _write_csv(header: list[str], rows: Iterator[list], out: BinaryIO) -> int:
    # UTF-8 with a BOM, so Excel recognises the encoding and shows Chinese correctly.
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


def _write_xlsx(header: list[str], rows: Iterator[list], out: BinaryIO, title: str) -> int:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    workbook.save(out)
    return count


def customers_export(
    *,
    user: User,
    params: QueryDict,
    fmt: Format,
    out: BinaryIO,
    request: HttpRequest | None = None,
) -> int:
    """Write the customers `user` may see that match the ledger filters in `params` to `out`,
    and record the export in the audit log. Returns the number of rows written.

    Personal data is masked unless the user may reveal it. The caller checks
    customers.export_customer.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format: {fmt!r}")
    unmasked = user.has_perm("customers.view_sensitive")
    with translation.override(getattr(user, "language", "") or settings.LANGUAGE_CODE):
        header = _header()
        rows = _rows(user, params, unmasked=unmasked)
        if fmt == "csv":
            count = _write_csv(header, rows, out)
        else:
            count = _write_xlsx(header, rows, out, title=str(Customer._meta.verbose_name_plural))
    audit_log(
        actor=user,
        action=AuditLog.Action.EXPORT,
        request=request,
        rows=count,
        format=fmt,
        unmasked=unmasked,
        query=_filter_query(params),
    )
    return count
