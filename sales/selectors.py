"""Reads shared by pages: what sales shows on the customer page and timeline."""

from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.translation import gettext as _

from customers.timeline import TimelineEntry
from sales.models import Opportunity, Order


def order_entries(customer, user, limit: int) -> list[TimelineEntry]:
    rows = (
        Order.objects.filter(customer=customer).select_related("owner").order_by("-ordered_at", "-id")[:limit]
    )
    return [
        TimelineEntry(
            at=row.ordered_at,
            kind="order",
            icon="receipt",
            title=_("Order %(number)s · ¥%(total)s")
            % {"number": row.number, "total": floatformat(row.total, "2g")},
            body=row.get_status_display(),
            url=reverse("sales:order_detail", args=[row.pk]),
            actor=str(row.owner) if row.owner_id else None,
        )
        for row in rows
    ]


def opportunity_entries(customer, user, limit: int) -> list[TimelineEntry]:
    rows = (
        Opportunity.objects.filter(customer=customer)
        .select_related("stage", "owner")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        TimelineEntry(
            at=row.closed_at or row.created_at,
            kind="opportunity",
            icon="briefcase",
            title=_("Opportunity: %(title)s") % {"title": row.title},
            body=f"{row.stage.label} · ¥{floatformat(row.amount, '2g')}",
            url=reverse("sales:opportunity_detail", args=[row.pk]),
            actor=str(row.owner),
        )
        for row in rows
    ]
