"""Personal-information rights (PIPL arts. 44–47, GDPR arts. 15–17): everything stored about one
customer as a spreadsheet or JSON (access request), and erasure (anonymisation).

Apps above `customers` own much of what is stored about a person (interactions, tickets,
orders...), so, like the timeline, they plug in: each registers a `PrivacySource` in its
AppConfig.ready() with
- `export(customer)`: its sheets of the access export,
- `erase(ctx)`: what erasing the person does to its tables (free text replaced, links cut;
  amounts, dates and products kept so reports stay right),
- `recent_activity(cutoff)`: an expression true for customers with activity since `cutoff`,
  which the retention job reads.
`customers` registers its own source last (the customer row, contacts, history, consent,
audit entries, imports, exports, notifications) and never imports those apps.

Every write here is in one transaction per customer; an erasure is recorded as a
PrivacyRequest (kind erasure) and an audit entry, an access export likewise (kind access).
"""

import io
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from core import custom_fields
from core.audit import audit_log
from core.exports import exports_forget_personal_data, plain
from core.importing import imports_forget_records
from core.models import AuditLog, Notification, User
from core.spreadsheets import neutralise
from customers.models import (
    ConsentRecord,
    Contact,
    Customer,
    CustomerMerge,
    PoolEvent,
    PrivacyRequest,
    TierChange,
)

logger = logging.getLogger(__name__)

# What replaces a free-text field that must stay filled (a summary, a title): language
# neutral, so it reads the same in both interfaces.
ERASED_TEXT = "—"
# What replaces an erased value found inside text written elsewhere (notifications, articles).
ERASED_VALUE = "***"
# Values shorter than this are not searched for in other text: one character would match
# everywhere.
MIN_SCRUB_LENGTH = 2
# Record titles shorter than this ("回访") are too common to scrub from notifications.
MIN_TITLE_LENGTH = 4


# --- sheets --------------------------------------------------------------------------------


@dataclass
class Sheet:
    """One kind of record in the access export: a sheet of the workbook, a list in the JSON."""

    key: str  # stable, the JSON key ("interactions")
    title: str  # translated, the sheet's name
    columns: list[tuple[str, str]]  # (key, translated header)
    rows: list[list] = field(default_factory=list)


def _cell(obj: models.Model, name: str):
    if name == "custom":
        # Custom fields (sensitive ones decrypted), labelled in the reader's language.
        return custom_fields.readable(custom_fields.target_of(obj), obj.custom)
    model_field = obj._meta.get_field(name)
    if model_field.choices:
        return getattr(obj, f"get_{name}_display")()
    value = getattr(obj, name)
    if model_field.is_relation:
        return str(value) if value is not None else None
    return value


def model_sheet(key: str, title, model: type[models.Model], objects: Iterable, fields: list[str]) -> Sheet:
    """A sheet of model instances: the fields' verbose names as headers, choices as labels,
    related records as text (select_related them), encrypted fields in clear."""
    columns = [(name, str(model._meta.get_field(name).verbose_name)) for name in fields]
    return Sheet(key, str(title), columns, [[_cell(obj, name) for name in fields] for obj in objects])


# --- the registry ----------------------------------------------------------------------------


@dataclass
class ErasureContext:
    """What an app's erase step gets. `customer_ids` are the customer and any customers merged
    into it earlier (the same person); `values` the personal data being erased (names, phone
    numbers, emails...), for finding copies inside text written elsewhere. Each step adds its
    counts to `summary` (no personal data)."""

    customer: Customer
    customer_ids: list[int]
    values: list[str]
    user: User | None
    now: datetime
    summary: dict[str, int] = field(default_factory=dict)
    # Titles of the person's records (task titles, ticket subjects...) as they were: the
    # notifications that quoted them are scrubbed of them too. Apps add to it while erasing.
    record_titles: list[str] = field(default_factory=list)

    def add_titles(self, titles: Iterable[str]) -> None:
        self.record_titles.extend(t for t in titles if t and len(t) >= MIN_TITLE_LENGTH and t != ERASED_TEXT)

    def count(self, key: str, number: int) -> None:
        if number:
            self.summary[key] = self.summary.get(key, 0) + number


@dataclass(frozen=True)
class PrivacySource:
    name: str
    export: Callable[[Customer], list[Sheet]]
    erase: Callable[[ErasureContext], None] | None = None
    # cutoff -> an expression on Customer (Exists(...) or Q) true when there was activity since
    recent_activity: Callable[[datetime], Any] | None = None
    order: int = 100  # export order; erase runs in the same order, `customers` last


_sources: dict[str, PrivacySource] = {}


def register_privacy_source(source: PrivacySource) -> None:
    _sources[source.name] = source


def privacy_sources() -> list[PrivacySource]:
    return sorted(_sources.values(), key=lambda s: s.order)


# --- access export ---------------------------------------------------------------------------


def privacy_sheets(customer: Customer) -> list[Sheet]:
    sheets: list[Sheet] = []
    for source in privacy_sources():
        sheets.extend(source.export(customer))
    return sheets


def _json_value(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | dict | str | int | float | bool) or value is None:
        return value
    return str(value)


def privacy_json(customer: Customer, sheets: list[Sheet]) -> bytes:
    document = {
        "customer": customer.pk,
        "generated_at": timezone.localtime().isoformat(),
        "sections": {
            sheet.key: {
                "title": sheet.title,
                "columns": dict(sheet.columns),
                "rows": [
                    {
                        key: _json_value(value)
                        for (key, _header), value in zip(sheet.columns, row, strict=True)
                    }
                    for row in sheet.rows
                ],
            }
            for sheet in sheets
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


def _xlsx_cell(value):
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return neutralise(plain(value))


def privacy_xlsx(sheets: list[Sheet]) -> bytes:
    """One sheet per kind, headers in the active language, every cell neutralised (a value
    starting with = + - @ cannot run as a formula)."""
    workbook = Workbook(write_only=True)
    used: set[str] = set()
    for sheet in sheets:
        title = "".join(" " if ch in "\\/?*[]:" else ch for ch in sheet.title).strip()[:28] or sheet.key[:28]
        base, n = title, 2
        while title.lower() in used:
            title, n = f"{base} {n}", n + 1
        used.add(title.lower())
        ws = workbook.create_sheet(title=title)
        ws.append([neutralise(header) for _key, header in sheet.columns])
        for row in sheet.rows:
            ws.append([_xlsx_cell(value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


EXPORT_FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json; charset=utf-8",
}


@transaction.atomic
def privacy_access_export(
    *,
    customer: Customer,
    user: User,
    fmt: str,
    reason: str = "",
    reference: str = "",
    request: HttpRequest | None = None,
) -> tuple[bytes, str]:
    """Everything stored about `customer` as .xlsx or .json (bytes, file name); recorded as a
    PrivacyRequest of kind access and in the audit log (counts per sheet, no contents)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format: {fmt!r}")
    sheets = privacy_sheets(customer)
    content = privacy_xlsx(sheets) if fmt == "xlsx" else privacy_json(customer, sheets)
    now = timezone.now()
    counts = {sheet.key: len(sheet.rows) for sheet in sheets}
    PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.ACCESS,
        customer=customer,
        customer_number=customer.pk,
        requested_by=user,
        reason=reason,
        reference=reference,
        created_at=now,
        executed_at=now,
        summary={"format": fmt, "rows": counts},
    )
    audit_log(
        actor=user,
        action=AuditLog.Action.PRIVACY_EXPORT,
        obj=customer,
        request=request,
        format=fmt,
        rows=counts,
    )
    return content, f"customer-{customer.pk}-data-{timezone.localdate():%Y%m%d}.{fmt}"


# --- erasure -----------------------------------------------------------------------------------


def _same_person(customer: Customer) -> list[Customer]:
    """The customer and every customer merged into it, at any depth (their rows stay,
    soft-deleted, with the person's data as it was at the merge)."""
    found = [customer]
    frontier = [customer.pk]
    while frontier:
        merged = list(
            Customer.objects.filter(merged_into_id__in=frontier).exclude(pk__in=[c.pk for c in found])
        )
        found.extend(merged)
        frontier = [c.pk for c in merged]
    return found


def _personal_values(customers: list[Customer]) -> list[str]:
    values: set[str] = set()
    contacts = Contact.objects.filter(customer__in=customers)
    for customer in customers:
        values.update([customer.name, customer.mobile, customer.other_phone, customer.email, customer.wechat])
        values.update([customer.street])
        if customer.kind == Customer.Kind.INDIVIDUAL:
            values.add(customer.company)
    for contact in contacts:
        values.update([contact.name, contact.phone, contact.email, contact.wechat])
    return sorted(v.strip() for v in values if v and len(v.strip()) >= MIN_SCRUB_LENGTH)


def scrub_values(queryset: models.QuerySet, fields: list[str], values: list[str]) -> int:
    """Replace every occurrence of `values` in the text `fields` of the rows of `queryset` by
    ERASED_VALUE: copies of a person's data inside text written about something else
    (notifications, knowledge-base articles). Returns the number of rows changed."""
    if not values:
        return 0
    q = Q()
    for value in values:
        for name in fields:
            q |= Q(**{f"{name}__contains": value})
    changed = 0
    # Longest first, so a full name goes before the part of it that is also a value.
    ordered = sorted(values, key=len, reverse=True)
    for obj in queryset.filter(q).only("pk", *fields).iterator(chunk_size=500):
        for name in fields:
            text = getattr(obj, name) or ""
            for value in ordered:
                text = text.replace(value, ERASED_VALUE)
            setattr(obj, name, text)
        type(obj)._base_manager.filter(pk=obj.pk).update(**{name: getattr(obj, name) for name in fields})
        changed += 1
    return changed


class AlreadyAnonymised(Exception):
    pass


@transaction.atomic
def customer_erase(
    *,
    customer: Customer,
    user: User | None,
    reason: str = "",
    reference: str = "",
    request: HttpRequest | None = None,
) -> PrivacyRequest:
    """Erase the customer's personal data everywhere and keep an anonymised placeholder.

    Irreversible. Every registered source erases its part (see README "Personal-information
    rights"); the customer row is locked first, so two erasures of one customer cannot run at
    once, and a customer already anonymised raises AlreadyAnonymised (the retention job
    relies on this to be idempotent). Recorded as a PrivacyRequest and an audit entry.
    """
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.anonymised_at is not None:
        raise AlreadyAnonymised(customer.pk)
    now = timezone.now()
    people = _same_person(customer)
    ctx = ErasureContext(
        customer=customer,
        customer_ids=[c.pk for c in people],
        values=_personal_values(people),
        user=user,
        now=now,
    )
    for source in privacy_sources_for_erasure():
        if source.erase is not None:
            source.erase(ctx)
    customer.refresh_from_db()
    record = PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.ERASURE,
        customer=customer,
        customer_number=customer.pk,
        requested_by=user,
        reason=reason,
        reference=reference,
        created_at=now,
        executed_at=timezone.now(),
        summary=ctx.summary,
    )
    audit_log(actor=user, action=AuditLog.Action.ERASE, obj=customer, request=request, **ctx.summary)
    return record


# Customer fields kept by an erasure: coarse, not identifying, needed by reports (region,
# tiers, purchase figures, owner). Everything else personal is emptied.
_EMPTIED = {
    "name": "",
    "gender": "",
    "birthday": None,
    "company": "",
    "title": "",
    "industry": "",
    "mobile": "",
    "other_phone": "",
    "email": "",
    "wechat": "",
    "street": "",
    "district": "",
    "mobile_bidx": "",
    "other_phone_bidx": "",
    "email_bidx": "",
    "preferences": "",
    "notes": "",
    "tag_names": "",
    "churn_risk_reason": "",
    "marketing_consent": False,
    "marketing_consent_at": None,
    "marketing_consent_channel": "",
    "care_opt_out": True,
    "search_text": "",
    "search_grams": [],
    # Custom fields, sensitive or not: free text and numbers about the person.
    "custom": {},
}


def _erase_customers(ctx: ErasureContext) -> None:
    """The customers app's part: the rows of the person (and of customers merged into it),
    their history, contacts, tags, consent notes, audit and admin-log labels, import files,
    background exports, notifications."""
    ids = ctx.customer_ids
    customer_type = ContentType.objects.get_for_model(Customer)
    contact_type = ContentType.objects.get_for_model(Contact)
    contact_ids = list(Contact.objects.filter(customer_id__in=ids).values_list("pk", flat=True))

    # Consent: the history is kept (it proves what was allowed when), the notes go, and a
    # withdrawal closes it for a customer who had consented.
    ctx.count(
        "consent_notes", ConsentRecord.objects.filter(customer_id__in=ids).exclude(note="").update(note="")
    )
    if ctx.customer.marketing_consent:
        ConsentRecord.objects.create(
            customer=ctx.customer,
            granted=False,
            at=ctx.now,
            source=ConsentRecord.Source.ERASURE,
            recorded_by=ctx.user,
        )

    # Reasons typed when releasing the customer to the pool may name the person; the pool
    # events stay (who held the customer when), the typed reasons go. Automatic returns' and
    # warnings' reasons are rule codes, not text.
    ctx.count(
        "pool_event_reasons",
        PoolEvent.objects.filter(customer_id__in=ids)
        .exclude(kind__in=[PoolEvent.Kind.AUTO_RETURN, PoolEvent.Kind.RETURN_WARNING])
        .exclude(reason="")
        .update(reason=""),
    )

    # Contacts (interactions and tickets keep their rows; their contact link is emptied).
    ctx.count("contacts", Contact.objects.filter(pk__in=contact_ids).delete()[1].get(Contact._meta.label, 0))
    Customer.tags.through.objects.filter(customer_id__in=ids).delete()

    # The change history holds every earlier value: it goes, and one entry records the erasure.
    ctx.count("history_rows", Customer.history.filter(id__in=ids).delete()[0])
    for customer in Customer.objects.filter(pk__in=ids):
        for name, value in _EMPTIED.items():
            setattr(customer, name, value)
        customer.anonymised_at = ctx.now
        customer.updated_by = ctx.user
        customer._change_reason = "anonymised"
        customer._history_user = ctx.user
        customer.save()

    # Names in the audit log and the admin's log become the placeholder; the entries stay.
    for customer in Customer.objects.filter(pk__in=ids):
        ctx.count(
            "audit_entries",
            AuditLog.objects._redact_records(Customer._meta.label_lower, [customer.pk], str(customer)),
        )
        LogEntry.objects.filter(content_type=customer_type, object_id=str(customer.pk)).update(
            object_repr=str(customer)[:200], change_message=""
        )
    for contact_id in contact_ids:
        AuditLog.objects._redact_records(Contact._meta.label_lower, [contact_id], f"#{contact_id}")
    LogEntry.objects.filter(content_type=contact_type, object_id__in=[str(i) for i in contact_ids]).update(
        object_repr="", change_message=""
    )

    for key, number in imports_forget_records(kind="customers", object_ids=ids).items():
        ctx.count(key, number)
    ctx.count("exports_deleted", exports_forget_personal_data(before=ctx.now)["jobs"])
    ctx.count(
        "notifications",
        scrub_values(Notification.objects.all(), ["title", "body"], [*ctx.values, *set(ctx.record_titles)]),
    )


def _customer_activity(cutoff: datetime) -> Q:
    return (
        Q(created_at__gte=cutoff)
        | Q(updated_at__gte=cutoff)
        | Q(last_contacted_at__gte=cutoff)
        | Q(last_purchase_at__gte=cutoff)
    )


# --- the customers app's sheets ------------------------------------------------------------------

# Derived columns, not information about the person.
_PROFILE_HIDDEN = {"search_text", "search_grams", "mobile_bidx", "other_phone_bidx", "email_bidx"}


def _profile_sheet(customer: Customer) -> Sheet:
    customer = Customer.objects.select_related("owner", "team", "created_by", "updated_by").get(
        pk=customer.pk
    )
    rows = []
    for model_field in Customer._meta.concrete_fields:
        if model_field.name in _PROFILE_HIDDEN:
            continue
        rows.append([model_field.name, str(model_field.verbose_name), _cell(customer, model_field.name)])
    rows.append(["tags", str(_("tags")), ", ".join(t.name for t in customer.tags.all())])
    return Sheet(
        "profile",
        _("Profile"),
        [("field", _("Field code")), ("label", _("Field")), ("value", _("Value"))],
        rows,
    )


def _history_sheet(customer: Customer) -> Sheet:
    historical = Customer.history.model
    tracked = [
        f.name
        for f in Customer._meta.concrete_fields
        if f.name not in _PROFILE_HIDDEN and f.name in {h.name for h in historical._meta.fields}
    ]
    columns = [
        ("history_date", _("When")),
        ("history_user", _("Who")),
        ("history_type", _("Change")),
        ("history_change_reason", _("Reason")),
    ] + [(name, str(Customer._meta.get_field(name).verbose_name)) for name in tracked]
    rows = []
    records = Customer.history.filter(id=customer.pk).select_related("history_user").order_by("history_date")
    for record in records:
        row = [
            record.history_date,
            str(record.history_user or ""),
            record.history_type,
            record.history_change_reason,
        ]
        for name in tracked:
            model_field = Customer._meta.get_field(name)
            if name == "custom":
                row.append(custom_fields.readable("customer", record.custom))
                continue
            row.append(getattr(record, model_field.attname))
        rows.append(row)
    return Sheet("history", _("Change history"), columns, rows)


def _audit_sheet(customer: Customer) -> Sheet:
    contact_ids = [str(pk) for pk in Contact.objects.filter(customer=customer).values_list("pk", flat=True)]
    entries = (
        AuditLog.objects.filter(
            Q(object_type=Customer._meta.label_lower, object_id=str(customer.pk))
            | Q(object_type=Contact._meta.label_lower, object_id__in=contact_ids)
        )
        .select_related("actor")
        .order_by("at", "pk")
    )
    return model_sheet(
        "audit_log",
        _("Audit log"),
        AuditLog,
        entries,
        ["at", "actor", "action", "object_type", "object_id", "field", "ip_address", "details"],
    )


def _customer_sheets(customer: Customer) -> list[Sheet]:
    contacts = Contact.objects.filter(customer=customer).order_by("pk")
    consent = (
        ConsentRecord.objects.filter(customer=customer).select_related("recorded_by").order_by("at", "pk")
    )
    tiers = TierChange.objects.filter(customer=customer).order_by("changed_on", "pk")
    merges = CustomerMerge.objects.filter(survivor=customer).select_related("merged_by").order_by("merged_at")
    requests = (
        PrivacyRequest.objects.filter(customer=customer).select_related("requested_by").order_by("created_at")
    )
    pool_events = PoolEvent.objects.filter(customer=customer).select_related("owner", "actor", "pool")
    return [
        _profile_sheet(customer),
        model_sheet(
            "contacts",
            _("Contacts"),
            Contact,
            contacts,
            ["name", "title", "phone", "email", "wechat", "custom", "is_primary", "created_at"],
        ),
        model_sheet(
            "consent",
            _("Marketing consent"),
            ConsentRecord,
            consent,
            ["at", "channel", "granted", "source", "recorded_by", "note"],
        ),
        model_sheet(
            "tier_changes",
            _("Tier changes"),
            TierChange,
            tiers,
            ["changed_on", "from_tier", "to_tier", "source"],
        ),
        model_sheet("merges", _("Merges"), CustomerMerge, merges, ["merged", "merged_at", "merged_by"]),
        model_sheet(
            "pool_events",
            _("Customer pool"),
            PoolEvent,
            pool_events.order_by("at", "pk"),
            ["at", "kind", "pool", "owner", "actor", "reason"],
        ),
        _history_sheet(customer),
        _audit_sheet(customer),
        model_sheet(
            "privacy_requests",
            _("Privacy requests"),
            PrivacyRequest,
            requests,
            ["kind", "created_at", "executed_at", "requested_by", "reason", "reference"],
        ),
    ]


register_privacy_source(
    PrivacySource(
        name="customers",
        export=_customer_sheets,
        erase=_erase_customers,
        recent_activity=_customer_activity,
        # Export first, erase last: the other apps' steps still see the contacts and values.
        order=0,
    )
)


def privacy_sources_for_erasure() -> list[PrivacySource]:
    return sorted(privacy_sources(), key=lambda s: (s.name == "customers", s.order))


# --- retention ---------------------------------------------------------------------------------

RETENTION_JOB_NAME = "anonymise_inactive_customers"
RETENTION_REASON = gettext_lazy("Retention period elapsed")


def inactive_customers(*, days: int, now: datetime | None = None) -> models.QuerySet:
    """Customers with no activity (interaction, order, ticket, update...) for `days` days,
    not anonymised yet. Customers merged into another are erased with it."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    qs = Customer.objects.filter(anonymised_at__isnull=True, merged_into__isnull=True)
    for source in privacy_sources():
        if source.recent_activity is not None:
            activity = source.recent_activity(cutoff)
            qs = qs.exclude(activity) if isinstance(activity, Q) else qs.filter(~activity)
    return qs


def anonymise_inactive_customers(*, dry_run: bool = False, batch_size: int = 100, now=None) -> dict[str, int]:
    """The retention job: anonymise customers inactive for PERSONAL_DATA_RETENTION_DAYS (0 or
    unset: off). In batches, one transaction per customer; a customer anonymised meanwhile
    (another run, a person) is skipped, so running twice anonymises once."""
    days = settings.PERSONAL_DATA_RETENTION_DAYS
    if not days:
        return {"retention_days": 0, "anonymised": 0}
    candidates = inactive_customers(days=days, now=now).order_by("pk")
    if dry_run:
        return {"retention_days": days, "would_anonymise": candidates.count()}
    anonymised = skipped = 0
    last_pk = 0
    while True:
        batch = list(candidates.filter(pk__gt=last_pk).values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        last_pk = batch[-1]
        for customer in Customer.objects.filter(pk__in=batch):
            try:
                customer_erase(
                    customer=customer, user=None, reason=str(RETENTION_REASON), reference=f"retention:{days}d"
                )
            except AlreadyAnonymised:
                skipped += 1
            else:
                anonymised += 1
    return {"retention_days": days, "anonymised": anonymised, "skipped": skipped}
