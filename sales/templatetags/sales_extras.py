from django import template

register = template.Library()


@register.filter
def order_status_badge(status: str) -> str:
    return {
        "pending": "secondary",
        "paid": "primary",
        "shipped": "info",
        "completed": "success",
        "cancelled": "dark",
        "refunded": "warning",
    }.get(status, "light")
