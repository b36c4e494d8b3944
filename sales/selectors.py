"""Reads shared by pages: what sales shows on the customer page and timeline, and the rows
of the order and opportunity lists (the list pages and their exports show the same rows)."""

from datetime import date

from django.db.models import Value
from django.db.models.functions import Coalesce
from django.http import QueryDict
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.translation import gettext as _

from core.models import User
from core.pagination import SortOption
from customers.timeline import TimelineEntry
from sales.filters import OrderFilter
from sales.filters_pipeline import OpportunityFilter
from sales.models import Opportunity, Order

# The order list: newest first (order_ordered_idx).
ORDER_LIST_SORT = SortOption("ordered_at", descending=True)

# Sorting the opportunity list by expected close date puts undated opportunities last either way.
NO_CLOSE_DATE = date(9999, 12, 31)
OPPORTUNITY_SORTS = {
    "-created": SortOption("created_at", descending=True),
    "created": SortOption("created_at", descending=False),
    "close": SortOption("close_key", descending=False),
    "-close": SortOption("close_key", descending=True),
    "-amount": SortOption("amount", descending=True),
    "amount": SortOption("amount", descending=False),
}
OPPORTUNITY_DEFAULT_SORT = "-created"


def order_list_filter(user: User, params: QueryDict) -> OrderFilter:
    """The order list's filters over the orders `user` may see. The list page and the export
    both start here (each adds the joins it needs) and order by ORDER_LIST_SORT."""
    return OrderFilter(params, queryset=Order.objects.visible_to(user))


def opportunity_list_sort(params: QueryDict) -> tuple[str, SortOption]:
    """The opportunity list's sort (`?sort=`), the default when missing or unknown."""
    key = params.get("sort", OPPORTUNITY_DEFAULT_SORT)
    if key not in OPPORTUNITY_SORTS:
        key = OPPORTUNITY_DEFAULT_SORT
    return key, OPPORTUNITY_SORTS[key]


def opportunity_list_filter(user: User, params: QueryDict, *, custom_definitions=None) -> OpportunityFilter:
    """The opportunity list's filters over the opportunities `user` may see, with the
    `close_key` its sorts use. Shared by the list page and the export."""
    qs = Opportunity.objects.visible_to(user).annotate(
        close_key=Coalesce("expected_close_date", Value(NO_CLOSE_DATE))
    )
    return OpportunityFilter(params, queryset=qs, user=user, custom_definitions=custom_definitions)


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
