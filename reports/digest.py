"""The daily digest: each staff member's one summary of today's and overdue tasks and of new
churn warnings among their customers, through the notification centre (and email if on)."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.models import User
from core.notifications import notify
from customers.models import Customer
from interactions.models import Task


def daily_digest(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """One notification per active user and day (the dedupe key holds the date), only for
    users with something to report. Two grouped queries per batch of users."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    end_of_today = timezone.make_aware(datetime.combine(today, time.max))
    since = now - timedelta(days=1)
    counts = {"users": 0, "digests": 0}
    users = User.objects.filter(is_active=True).order_by("pk")
    last_pk = 0
    while True:
        batch = list(users.filter(pk__gt=last_pk)[:batch_size])
        if not batch:
            return counts
        last_pk = batch[-1].pk
        ids = [u.pk for u in batch]
        tasks = {
            row["assignee"]: row
            for row in Task.objects.open()
            .filter(assignee_id__in=ids, due_at__lte=end_of_today)
            .values("assignee")
            .annotate(
                overdue=Count("pk", filter=Q(due_at__lt=now)), today=Count("pk", filter=Q(due_at__gte=now))
            )
        }
        warnings = {
            row["owner"]: row["n"]
            for row in Customer.objects.active()
            .filter(owner_id__in=ids, churn_flagged_at__gte=since)
            .values("owner")
            .annotate(n=Count("pk"))
        }
        for user in batch:
            counts["users"] += 1
            row = tasks.get(user.pk, {"overdue": 0, "today": 0})
            new_warnings = warnings.get(user.pk, 0)
            if not (row["overdue"] or row["today"] or new_warnings):
                continue
            with translation.override(user.language or settings.LANGUAGE_CODE):
                parts = []
                if row["today"]:
                    parts.append(
                        ngettext("%(n)d task due today", "%(n)d tasks due today", row["today"])
                        % {"n": row["today"]}
                    )
                if row["overdue"]:
                    parts.append(
                        ngettext("%(n)d overdue task", "%(n)d overdue tasks", row["overdue"])
                        % {"n": row["overdue"]}
                    )
                if new_warnings:
                    parts.append(
                        ngettext("%(n)d new churn warning", "%(n)d new churn warnings", new_warnings)
                        % {"n": new_warnings}
                    )
                title = _("Your day: %(summary)s") % {"summary": _("; ").join(parts)}
            created = notify(
                recipient=user,
                kind="daily_digest",
                title=title,
                url=reverse("interactions:my_tasks"),
                dedupe_key=f"digest:{today.isoformat()}",
            )
            counts["digests"] += created is not None
