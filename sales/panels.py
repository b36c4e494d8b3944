"""What sales adds to the customer page: purchase history and open opportunities."""

from sales.models import Opportunity, Order


def sales_panel(request, customer) -> dict | None:
    """Two bounded queries: the latest orders, and open opportunities."""
    user = request.user
    if not user.has_perm("sales.view_order"):
        return None
    return {
        "customer": customer,
        "orders": list(Order.objects.filter(customer=customer).order_by("-ordered_at", "-id")[:10]),
        "opportunities": list(
            Opportunity.objects.open()
            .filter(customer=customer)
            .select_related("stage")
            .order_by("-created_at")[:10]
        ),
        "can_add_order": user.has_perm("sales.add_order"),
        "can_add_opportunity": user.has_perm("sales.add_opportunity"),
    }
