"""Reads shared by several pages: the change history of a customer."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from customers.models import Customer

# Fields not shown in the history (bookkeeping, or derived from other fields).
_HIDDEN = {"mobile_bidx", "other_phone_bidx", "email_bidx", "updated_by", "created_by", "created_at"}


@dataclass
class HistoryChange:
    field: str
    label: str
    old: str
    new: str


@dataclass
class HistoryEntry:
    at: datetime
    user: str | None
    kind: str  # +, ~, -
    reason: str
    changes: list[HistoryChange]


def reason_label(reason: str) -> str:
    """The translated words for a change reason code set by the services."""
    code, _sep, arg = (reason or "").partition(":")
    labels = {
        "create": _("created"),
        "verified": _("information verified"),
        "delete": _("moved to the recycle bin"),
        "restore": _("restored from the recycle bin"),
        "bulk-owner": _("bulk owner change"),
        "bulk-stage": _("bulk stage change"),
        "merge": _("merged customer #%(pk)s into this one"),
        "merged-into": _("merged into customer #%(pk)s"),
    }
    label = labels.get(code)
    if label is None:
        return reason or ""
    return label % {"pk": arg} if "%(pk)s" in label else label


def _display(record, field_name: str) -> str:
    field = Customer._meta.get_field(field_name)
    value = getattr(record, field.attname)
    if value in (None, ""):
        return "—"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.is_relation:
        return f"#{value}"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def customer_history(customer: Customer, limit: int = 20) -> list[HistoryEntry]:
    """The latest changes: who, when, which field, old → new. Two queries.

    Personal data is never shown here in clear: a change of a sensitive field reads
    "changed", whatever the viewer's permissions.
    """
    records = list(
        customer.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1]
    )
    owners = {}
    owner_ids = {r.owner_id for r in records if r.owner_id}
    if owner_ids:
        from core.models import User

        owners = {u.pk: str(u) for u in User.objects.filter(pk__in=owner_ids)}
    entries = []
    for newer, older in zip(records, [*records[1:], None], strict=False):
        if len(entries) == limit:
            break
        changes = []
        if older is not None:
            delta = newer.diff_against(older, excluded_fields=list(_HIDDEN))
            for change in delta.changes:
                field = Customer._meta.get_field(change.field)
                if change.field in Customer.SENSITIVE_FIELDS:
                    old, new = ("—" if not change.old else "••••", _("changed") if change.new else "—")
                elif change.field == "owner":
                    old = owners.get(change.old, "—") if change.old else "—"
                    new = owners.get(change.new, "—") if change.new else "—"
                else:
                    old, new = _display(older, change.field), _display(newer, change.field)
                changes.append(HistoryChange(change.field, str(field.verbose_name), old, new))
        entries.append(
            HistoryEntry(
                at=newer.history_date,
                user=str(newer.history_user) if newer.history_user_id else None,
                kind=newer.history_type,
                reason=reason_label(newer.history_change_reason),
                changes=changes,
            )
        )
    return entries
