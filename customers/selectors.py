"""Reads shared by several pages: the change history of a customer."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from core import custom_fields
from core.models import Team, User
from customers.models import Customer

# Fields not shown in the history: bookkeeping, or derived from other records (interactions
# set "last contacted", orders the purchase figures; the change reason already says "moved to
# the recycle bin", "merged into ...").
_HIDDEN = {
    "id",
    "mobile_bidx",
    "other_phone_bidx",
    "email_bidx",
    "updated_by",
    "created_by",
    "created_at",
    "deleted_at",
    "deleted_by",
    "merged_into",
    "last_contacted_at",
    "first_purchase_at",
    "last_purchase_at",
    "order_count",
    "total_spend",
}


_TRACKED = {f.name for f in Customer.history.model._meta.fields}


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
        "edit": _("edited"),
        "bulk-tag": _("bulk tagging"),
        "tag-renamed": _("a tag was renamed"),
        "verified": _("information verified"),
        "delete": _("moved to the recycle bin"),
        "restore": _("restored from the recycle bin"),
        "bulk-owner": _("bulk owner change"),
        "bulk-stage": _("bulk stage change"),
        "merge": _("merged customer #%(pk)s into this one"),
        "merged-into": _("merged into customer #%(pk)s"),
        "consent": _("marketing consent changed"),
        "anonymised": _("personal data erased"),
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


def _custom_changes(definitions, old: dict, new: dict) -> list[HistoryChange]:
    """One change per custom field whose stored value differs: its label and values as text;
    a sensitive one only as changed, like the built-in personal fields."""
    changes = []
    for field in definitions:
        before, after = old.get(field.key), new.get(field.key)
        if before == after:
            continue
        if field.sensitive:
            shown = ("—" if not before else "••••", _("changed") if after else "—")
        else:
            shown = tuple(
                custom_fields.display(field, custom_fields.from_storage(field, value)) or "—"
                for value in (before, after)
            )
        changes.append(HistoryChange(f"custom.{field.key}", field.label, *shown))
    return changes


def customer_history(customer: Customer, limit: int = 20) -> list[HistoryEntry]:
    """The latest changes: who, when, which field, old → new. At most three queries.

    Personal data is never shown here in clear: a change of a sensitive field reads
    "changed", whatever the viewer's permissions.
    """
    records = list(
        customer.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1]
    )
    # Names of the owners and teams the records mention: one query each, only if any.
    owner_ids = {r.owner_id for r in records if r.owner_id}
    team_ids = {r.team_id for r in records if r.team_id}
    names = {
        "owner": {u.pk: str(u) for u in User.objects.filter(pk__in=owner_ids)} if owner_ids else {},
        "team": {t.pk: t.name for t in Team.objects.filter(pk__in=team_ids)} if team_ids else {},
    }
    # Compared by hand rather than with diff_against(), which skips non-editable fields
    # such as tag_names.
    fields = [f for f in Customer._meta.concrete_fields if f.name not in _HIDDEN and f.name in _TRACKED]
    definitions: list | None = None  # the custom fields, read once if a record changed one
    entries = []
    for newer, older in zip(records, [*records[1:], None], strict=False):
        if len(entries) == limit:
            break
        changes = []
        if older is not None:
            for field in fields:
                old_value, new_value = getattr(older, field.attname), getattr(newer, field.attname)
                if old_value == new_value:
                    continue
                if field.name == "custom":
                    if definitions is None:
                        definitions = custom_fields.definitions("customer")
                    changes.extend(_custom_changes(definitions, old_value or {}, new_value or {}))
                    continue
                if field.name in Customer.SENSITIVE_FIELDS:
                    old, new = ("—" if not old_value else "••••", _("changed") if new_value else "—")
                elif field.name in names:
                    old, new = names[field.name].get(old_value, "—"), names[field.name].get(new_value, "—")
                else:
                    old, new = _display(older, field.name), _display(newer, field.name)
                changes.append(HistoryChange(field.name, str(field.verbose_name), old, new))
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
