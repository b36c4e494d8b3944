"""What sales adds to a customer's access export and erasure (customers/privacy.py).

Erasure keeps orders whole (number, dates, status, channel, products, quantities, prices,
totals), so revenue, RFM and product reports stay right; only their free-text notes go.
Opportunities keep amounts, stages and dates; their title becomes "—" and the needs, next
step and lost reason are emptied. What order imports kept about the person's orders (the
uploaded file, undo values) is forgotten.
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from core.importing import imports_forget_records
from customers.models import Customer
from customers.privacy import ERASED_TEXT, ErasureContext, Sheet, model_sheet
from sales.models import Opportunity, OpportunityStageChange, Order, OrderLine


def export(customer: Customer) -> list[Sheet]:
    orders = Order.objects.filter(customer=customer).select_related("owner").order_by("ordered_at", "pk")
    lines = (
        OrderLine.objects.filter(order__customer=customer)
        .select_related("order", "product")
        .order_by("order_id", "pk")
    )
    opportunities = (
        Opportunity.objects.filter(customer=customer)
        .select_related("stage", "owner")
        .order_by("created_at", "pk")
    )
    stage_changes = (
        OpportunityStageChange.objects.filter(opportunity__customer=customer)
        .select_related("opportunity", "from_stage", "to_stage", "changed_by")
        .order_by("pk")
    )
    line_sheet = model_sheet(
        "order_lines",
        _("Order lines"),
        OrderLine,
        lines,
        ["order", "product", "quantity", "unit_price", "discount"],
    )
    line_sheet.columns.append(("line_total", _("Line total")))
    for row, line in zip(line_sheet.rows, lines, strict=True):
        row.append(line.line_total)
    return [
        model_sheet(
            "orders",
            _("Orders"),
            Order,
            orders,
            ["number", "ordered_at", "status", "channel", "owner", "total", "notes", "created_at"],
        ),
        line_sheet,
        model_sheet(
            "opportunities",
            _("Opportunities"),
            Opportunity,
            opportunities,
            [
                "title",
                "needs",
                "custom",
                "amount",
                "currency",
                "stage",
                "probability",
                "expected_close_date",
                "owner",
                "source",
                "next_step",
                "lost_reason",
                "created_at",
                "closed_at",
            ],
        ),
        model_sheet(
            "opportunity_stage_changes",
            _("Opportunity stage changes"),
            OpportunityStageChange,
            stage_changes,
            [f.name for f in OpportunityStageChange._meta.concrete_fields if f.name != "id"],
        ),
    ]


def erase(ctx: ErasureContext) -> None:
    ids = ctx.customer_ids
    orders = Order.objects.filter(customer_id__in=ids)
    order_ids = list(orders.values_list("pk", flat=True))
    ctx.count("order_notes", orders.exclude(notes="").update(notes=""))
    ctx.count(
        "opportunities",
        Opportunity.objects.filter(customer_id__in=ids).update(
            title=ERASED_TEXT, needs="", next_step="", lost_reason="", custom={}
        ),
    )
    for key, number in imports_forget_records(kind="orders", object_ids=order_ids).items():
        ctx.count(key, number)


def recent_activity(cutoff: datetime):
    return Exists(
        Order.objects.filter(Q(ordered_at__gte=cutoff) | Q(updated_at__gte=cutoff), customer=OuterRef("pk"))
    ) | Exists(Opportunity.objects.filter(customer=OuterRef("pk"), updated_at__gte=cutoff))
