from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context, cursor: str) -> str:
    """The current list URL at another page (keyset cursor), filters kept."""
    query = context["request"].GET.copy()
    query["cursor"] = cursor
    return "?" + query.urlencode()


@register.simple_tag(takes_context=True)
def first_page_url(context) -> str:
    """The current list URL at its first page, filters kept."""
    query = context["request"].GET.copy()
    query.pop("cursor", None)
    return "?" + query.urlencode()
