from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_url(context, sort: str) -> str:
    """The current list URL sorted by `sort` (first page)."""
    query = context["request"].GET.copy()
    query["sort"] = sort
    query.pop("cursor", None)
    return "?" + query.urlencode()


@register.filter
def stage_badge(stage: str) -> str:
    return {"prospect": "info", "new": "primary", "existing": "success", "churned": "secondary"}.get(
        stage, "light"
    )


@register.filter
def tier_badge(tier: str) -> str:
    return {"vip": "warning", "active": "success", "potential": "info", "dormant": "secondary"}.get(
        tier, "light"
    )
