from django import template

register = template.Library()


@register.filter
def stars(value) -> str:
    """3 -> ★★★☆☆"""
    try:
        n = max(0, min(5, int(value)))
    except (TypeError, ValueError):
        return ""
    return "★" * n + "☆" * (5 - n)


@register.filter
def priority_badge(priority: int) -> str:
    return {1: "secondary", 2: "info", 3: "warning", 4: "danger"}.get(priority, "light")


@register.filter
def ticket_status_badge(status: str) -> str:
    return {
        "new": "primary",
        "assigned": "info",
        "in_progress": "warning",
        "waiting": "secondary",
        "resolved": "success",
        "closed": "dark",
    }.get(status, "light")
