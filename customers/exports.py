"""Exporting the customer ledger to Excel (xlsx) or CSV.

One exporter (registered in CustomersConfig.ready()) and one service, `customers_export`,
shared by the web view and the `export_customers` command: the same scope
(Customer.objects.visible_to), the same filters (CustomerFilter), the same masking and the same
audit entry whichever way it is called. Writing, neutralising and auditing are core.exports'.
"""

from typing import BinaryIO

from django.http import HttpRequest, QueryDict

from core.exports import CONTENT_TYPES, FORMATS, Exporter, Format, export_run, field_column, neutralise
from core.models import User
from core.personal_data import mask_email, mask_phone, mask_text
from customers.filters import CustomerFilter
from customers.models import Customer

__all__ = ["COLUMNS", "CONTENT_TYPES", "EXPORTER", "FORMATS", "customers_export", "neutralise"]

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
MASKERS = {
    "mobile": mask_phone,
    "other_phone": mask_phone,
    "email": mask_email,
    "wechat": mask_text,
    "street": mask_text,
}


def customer_export_rows(user: User, params: QueryDict):
    """The ledger's rows for the export: the user's scope through the ledger's filters."""
    queryset = (
        Customer.objects.visible_to(user)
        .select_related("owner", "team")
        .defer("notes", "preferences", "search_text", "search_grams")
        .order_by("-created_at", "-id")
    )
    return CustomerFilter(params, queryset=queryset, user=user).qs


EXPORTER = Exporter(
    kind="customers",
    title=Customer._meta.verbose_name_plural,
    permission="customers.export_customer",
    queryset=customer_export_rows,
    columns=[field_column(Customer, name, masker=MASKERS.get(name)) for name in COLUMNS],
    filename="customers",
    list_url="customers:list",
    sensitive_permission="customers.view_sensitive",
    custom_target="customer",
)


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
    return export_run(exporter=EXPORTER, user=user, params=params, fmt=fmt, out=out, request=request)
