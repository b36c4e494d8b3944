from django import template
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def figure_value(value, kind: str) -> str:
    """A key figure as shown: money with ¥ and grouping, percent, days; — when undefined."""
    if value is None:
        return "—"
    if kind == "money":
        return f"¥{floatformat(value, '2g')}"
    if kind == "percent":
        return f"{floatformat(value, '1')}%"
    if kind == "days":
        return _("%(days)s days") % {"days": floatformat(value, "1")}
    return floatformat(value, "g")


@register.filter
def change_text(change: float | None) -> str:
    if change is None:
        return ""
    return f"{'+' if change > 0 else ''}{floatformat(change, '0')}%"


@register.filter
def heat_class(count: int, biggest: int) -> str:
    """A background shade for a matrix cell, by its share of the biggest cell."""
    if not count or not biggest:
        return ""
    share = count / biggest
    if share > 0.66:
        return "bg-primary-subtle fw-semibold"
    if share > 0.33:
        return "bg-info-subtle"
    return "bg-light"
