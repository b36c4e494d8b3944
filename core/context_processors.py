from functools import cache

from django.http import HttpRequest

from core.exports import exporters
from core.notifications import unread_count

# The bell counts at most this many unread notifications and shows "99+" beyond 99.
UNREAD_BADGE_LIMIT = 100


def navigation(request: HttpRequest) -> dict:
    """Which top-level sections the navigation shows the current user, and the bell's count.

    `unread_notifications` is a callable the template calls (Django templates call callables):
    one capped COUNT query, run only when a page shows it and at most once per render.
    `nav_can_export` (may the user export any list: "My exports" in the user menu) reads the
    permissions already loaded for the page.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_show_admin": user.is_staff,
        "unread_notifications": cache(lambda: unread_count(user, limit=UNREAD_BADGE_LIMIT)),
        "nav_can_export": cache(lambda: any(user.has_perm(e.permission) for e in exporters())),
    }
