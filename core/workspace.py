"""Panels on "My workspace" (the home page). Apps register them from AppConfig.ready(), so
core shows each app's daily work without importing the apps."""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspacePanel:
    name: str
    template: str
    context: Callable  # context(request) -> dict, or None to hide the panel
    order: int = 100


_panels: dict[str, WorkspacePanel] = {}


def register_workspace_panel(panel: WorkspacePanel) -> None:
    _panels[panel.name] = panel


def workspace_panels(request) -> list[dict]:
    panels = []
    for panel in sorted(_panels.values(), key=lambda p: p.order):
        ctx = panel.context(request)
        if ctx is not None:
            panels.append({"template": panel.template, "ctx": ctx})
    return panels
