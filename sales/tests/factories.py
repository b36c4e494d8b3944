"""Products, orders and opportunities for tests, built through the services so totals,
statistics, lifecycle moves and stage history are exactly what production makes."""

import itertools
from decimal import Decimal
from importlib import import_module

from django.utils import timezone

from sales import services
from sales.models import Opportunity, Order, PipelineStage, Product

_skus = itertools.count(1)

# The default pipeline of migration 0002. Tests with transaction=True empty the tables
# afterwards (data migrations are not replayed), so `ensure_default_pipeline()` puts it back.
DEFAULT_STAGES = import_module("sales.migrations.0002_default_pipeline").STAGES


def ensure_default_pipeline() -> dict[str, PipelineStage]:
    """The default stages by English name: {"Qualification": ..., "Won": ..., "Lost": ...}."""
    stages = {}
    for name, name_en, kind, order, probability, days, title in DEFAULT_STAGES:
        stages[name_en] = PipelineStage.objects.get_or_create(
            name=name,
            defaults={
                "name_en": name_en,
                "kind": kind,
                "order": order,
                "default_probability": probability,
                "follow_up_days": days,
                "follow_up_title": title,
            },
        )[0]
    return stages


def make_product(**kwargs) -> Product:
    n = next(_skus)
    kwargs.setdefault("name", f"产品 {n}")
    kwargs.setdefault("sku", f"T-{n:05d}")
    kwargs.setdefault("unit_price", Decimal("100.00"))
    return Product.objects.create(**kwargs)


def make_order(
    customer,
    user,
    lines=None,
    *,
    status: str = Order.Status.PAID,
    ordered_at=None,
    opportunity: Opportunity | None = None,
    **data,
) -> Order:
    """`lines`: (product, quantity[, unit_price[, discount]]) tuples; default one product at 100."""
    if lines is None:
        lines = [(make_product(), 1)]
    line_data = []
    for product, quantity, *rest in lines:
        unit_price = Decimal(str(rest[0])) if rest and rest[0] is not None else None
        discount = Decimal(str(rest[1])) if len(rest) > 1 else Decimal("0")
        line_data.append(
            services.LineData(
                product=product, quantity=Decimal(str(quantity)), unit_price=unit_price, discount=discount
            )
        )
    data = {"customer": customer, "status": status, "ordered_at": ordered_at or timezone.now(), **data}
    return services.order_create(user=user, data=data, lines=line_data, opportunity=opportunity)


def make_opportunity(customer, user, **data) -> Opportunity:
    data.setdefault("title", "年度采购")
    data.setdefault("amount", Decimal("50000.00"))
    return services.opportunity_create(user=user, data={"customer": customer, **data})
