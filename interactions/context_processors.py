from datetime import datetime, time
from functools import cache

from django.http import HttpRequest
from django.utils import timezone

from interactions.models import Task

BADGE_LIMIT = 100


def task_badge(request: HttpRequest) -> dict:
    """The navigation's task badge: the user's open tasks due today or overdue.

    A callable, so the capped COUNT runs only on pages that show it, once per render.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        end_of_today = timezone.make_aware(datetime.combine(timezone.localdate(), time.max))
        qs = Task.objects.open().filter(assignee=user, due_at__lte=end_of_today)
        return qs.order_by().values("pk")[:BADGE_LIMIT].count()

    return {"nav_due_tasks": cache(count)}
