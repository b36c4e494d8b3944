"""The customer timeline: one list of everything that happened with a customer.

Apps above `customers` (interactions, sales, ...) plug in their records by registering a
source in their AppConfig.ready(); `customers` never imports them. Each source runs one
bounded query (at most `limit` rows), so the timeline costs one query per source.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # what produced it: "customer", "interaction", "order", ...
    icon: str  # a Bootstrap Icons name
    title: str
    body: str = ""
    url: str | None = None
    actor: str | None = None


TimelineSource = Callable[..., Iterable[TimelineEntry]]


@dataclass(frozen=True)
class _Source:
    source: TimelineSource
    label: object  # a lazily translated name for the kind filter


_sources: dict[str, _Source] = {}


def register_timeline_source(name: str, source: TimelineSource, label=None) -> None:
    """`source(customer, user, limit)` returns at most `limit` entries, newest first.
    `name` is the kind the timeline can be filtered by."""
    _sources[name] = _Source(source, label or name)


def timeline_kinds() -> list[tuple[str, str]]:
    return [(name, str(s.label)) for name, s in _sources.items()]


def customer_timeline(customer, user, limit: int = 30, kinds: list[str] | None = None) -> list[TimelineEntry]:
    """The latest `limit` entries of the chosen kinds (all by default): one query per source."""
    entries: list[TimelineEntry] = []
    for name, s in _sources.items():
        if kinds and name not in kinds:
            continue
        entries.extend(s.source(customer, user, limit))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


def _customer_events(customer, user, limit: int) -> list[TimelineEntry]:
    from customers.models import CustomerMerge

    entries = [
        TimelineEntry(
            at=customer.created_at,
            kind="customer",
            icon="person-plus",
            title=_("Customer created"),
            actor=str(customer.created_by) if customer.created_by_id else None,
        )
    ]
    merges = (
        CustomerMerge.objects.filter(survivor=customer)
        .select_related("merged", "merged_by")
        .order_by("-merged_at")[:limit]
    )
    for merge in merges:
        entries.append(
            TimelineEntry(
                at=merge.merged_at,
                kind="customer",
                icon="union",
                title=_("Merged with %(name)s") % {"name": merge.merged.name},
                url=reverse("customers:detail", args=[merge.merged_id]),
                actor=str(merge.merged_by) if merge.merged_by_id else None,
            )
        )
    return entries


register_timeline_source("customer", _customer_events, gettext_lazy("Customer record"))


def _pool_events(customer, user, limit: int) -> list[TimelineEntry]:
    """Claims, releases, automatic returns and assignments (customers.pool)."""
    from customers.models import PoolEvent
    from customers.pool import rule_text

    events = (
        PoolEvent.objects.filter(customer=customer)
        .select_related("owner", "actor", "pool")
        .order_by("-at", "-id")[:limit]
    )
    entries = []
    for event in events:
        owner = str(event.owner) if event.owner_id else _("a former colleague")
        names = {"owner": owner, "pool": event.pool}
        if event.kind == PoolEvent.Kind.CLAIM:
            title, icon, body = _("Claimed from %(pool)s by %(owner)s") % names, "box-arrow-in-down", ""
        elif event.kind == PoolEvent.Kind.RELEASE:
            title, icon, body = (
                _("Released to %(pool)s (owner was %(owner)s)") % names,
                "box-arrow-up",
                event.reason,
            )
        elif event.kind == PoolEvent.Kind.AUTO_RETURN:
            title = _("Returned to %(pool)s automatically (owner was %(owner)s)") % names
            icon, body = "hourglass-bottom", rule_text(event.reason)
        elif event.kind == PoolEvent.Kind.RETURN_WARNING:
            title = _("%(owner)s warned: the customer returns to %(pool)s unless followed up") % names
            icon, body = "bell", rule_text(event.reason)
        else:
            title, icon, body = _("Assigned from %(pool)s to %(owner)s") % names, "person-check", ""
        entries.append(
            TimelineEntry(
                at=event.at,
                kind="pool",
                icon=icon,
                title=title,
                body=body,
                actor=str(event.actor) if event.actor_id else None,
            )
        )
    return entries


register_timeline_source("pool", _pool_events, gettext_lazy("Customer pool"))
