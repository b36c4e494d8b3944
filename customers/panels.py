"""Panels other apps add to the customer page (e.g. "log an interaction", open tasks).

Like the timeline, apps above `customers` register here from their AppConfig.ready();
`customers` renders what is registered without importing those apps. A panel is a template
plus a function that returns its context (one or two bounded queries at most).
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CustomerPanel:
    name: str
    template: str
    context: Callable  # context(request, customer) -> dict
    column: str = "main"  # "main" (wide column) or "side"
    order: int = 100


_panels: dict[str, CustomerPanel] = {}


def register_customer_panel(panel: CustomerPanel) -> None:
    _panels[panel.name] = panel


def customer_panels(request, customer) -> dict[str, list[dict]]:
    """{"main": [...], "side": [...]}, each item {"template": ..., "ctx": {...}}."""
    columns: dict[str, list[dict]] = {"main": [], "side": []}
    for panel in sorted(_panels.values(), key=lambda p: p.order):
        ctx = panel.context(request, customer)
        if ctx is not None:
            columns[panel.column].append({"template": panel.template, "ctx": ctx})
    return columns


# Templates other apps add to the ledger's toolbar (e.g. marketing's "Save as segment" and
# "Add to static list"). Each is included three times, with `place` "views" (next to the
# saved views, inside the filter form), "forms" (after it, for forms of its own: forms do
# not nest) and "bulk" (in the bulk bar); it gets the list's context and must run no query.
_list_actions: list[str] = []


def register_list_action(template: str) -> None:
    if template not in _list_actions:
        _list_actions.append(template)


def list_actions() -> list[str]:
    return list(_list_actions)
