"""Whose numbers a report shows, and over which dates.

A report starts from the same `visible_to(user)` querysets as the list pages, narrowed by the
optional team filter, so every figure is the count of a list page the user can open: a rep
sees their own numbers, a manager their teams', an admin everyone's.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.models import Team, User
from customers.models import Customer, customer_visibility_q
from interactions.models import Interaction, Task, Ticket
from reports.models import Figure
from sales.models import Opportunity, Order

# A report over more than this is refused (bounded work per request).
MAX_PERIOD_DAYS = 3 * 366
DEFAULT_PERIOD_DAYS = 30


def sees_all(user: User) -> bool:
    return user.is_superuser or user.has_perm("customers.view_all_customers")


def teams_for(user: User) -> QuerySet[Team] | None:
    """The teams a user may filter by: all for admins and users who see every customer, the
    managed ones for managers, None for the others (they see their own numbers only)."""
    if sees_all(user):
        return Team.objects.order_by("name")
    managed = user.managed_team_ids
    if managed:
        return Team.objects.filter(pk__in=managed).order_by("name")
    return None


def local_date(value) -> date:
    """A truncated date from the database (TruncWeek/TruncMonth give aware datetimes on
    PostgreSQL) as a date in the site's time zone."""
    return timezone.localtime(value).date() if hasattr(value, "tzinfo") and value.tzinfo else value


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in the site's time zone (as the list filters read
    their date ranges)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def since(self) -> datetime:
        return _aware(self.start)

    @property
    def until(self) -> datetime:
        """The first moment after the period."""
        return _aware(self.end + timedelta(days=1))

    @classmethod
    def default(cls, today: date | None = None) -> "Period":
        """The last DEFAULT_PERIOD_DAYS days, `today` (the site's today) included."""
        end = today or timezone.localdate()
        return cls(end - timedelta(days=DEFAULT_PERIOD_DAYS - 1), end)

    def previous(self) -> "Period":
        """The period of the same length just before this one."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def q(self, field: str) -> Q:
        return Q(**{f"{field}__gte": self.since, f"{field}__lt": self.until})

    def day_q(self, field: str = "day") -> Q:
        """The period on a date field (the pre-computed figures' days)."""
        return Q(**{f"{field}__gte": self.start, f"{field}__lte": self.end})

    def last_weeks(self, count: int) -> tuple["Period", list[tuple[date, "Period"]]]:
        """The last `count` weeks (Monday to Sunday) up to the period's end, cut to the period:
        the window they cover and, for each week that overlaps it, its Monday and its days in
        the window (for the list link)."""
        last_monday = self.end - timedelta(days=self.end.weekday())
        mondays = [last_monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]
        window = Period(max(mondays[0], self.start), self.end)
        weeks = [
            (monday, Period(max(monday, window.start), min(monday + timedelta(days=6), window.end)))
            for monday in mondays
            if monday + timedelta(days=6) >= window.start
        ]
        return window, weeks

    def params(self, name: str) -> dict[str, str]:
        """The same range as a list page's date-range filter `name` (django-filter's
        name_after / name_before)."""
        return {f"{name}_after": self.start.isoformat(), f"{name}_before": self.end.isoformat()}


@dataclass(frozen=True)
class Scope:
    user: User
    team: Team | None = None

    def customers(self) -> QuerySet[Customer]:
        qs = Customer.objects.visible_to(self.user)
        return qs.filter(team=self.team) if self.team else qs

    def orders(self) -> QuerySet[Order]:
        qs = Order.objects.visible_to(self.user)
        return qs.filter(customer__team=self.team) if self.team else qs

    def opportunities(self) -> QuerySet[Opportunity]:
        qs = Opportunity.objects.visible_to(self.user)
        return qs.filter(team=self.team) if self.team else qs

    def tickets(self) -> QuerySet[Ticket]:
        qs = Ticket.objects.visible_to(self.user)
        return qs.filter(customer__team=self.team) if self.team else qs

    def interactions(self) -> QuerySet[Interaction]:
        qs = Interaction.objects.visible_to(self.user)
        return qs.filter(customer__team=self.team) if self.team else qs

    def staff(self) -> QuerySet[User]:
        """The people whose work the report shows (per-rep figures, tasks)."""
        staff = User.objects.filter(is_active=True)
        if self.team:
            return staff.filter(team=self.team)
        if sees_all(self.user):
            return staff
        managed = self.user.managed_team_ids
        if managed:
            return staff.filter(Q(team_id__in=managed) | Q(pk=self.user.pk))
        return staff.filter(pk=self.user.pk)

    def tasks(self) -> QuerySet[Task]:
        """Tasks assigned to the people in scope."""
        return Task.objects.filter(assignee__in=self.staff())

    def figures(
        self, metric: str, *, record_owner: bool = False, team_field: str = "team"
    ) -> QuerySet[Figure]:
        """The pre-computed figures (reports/models.py) of the records the querysets above
        return: the customer visibility rule on the rows' customer team and owner, live
        customers only, or (orders, deals, tickets: `record_owner`) the user's own records;
        the team filter on the customer's team, or the record's (`team_field="record_team"`:
        deals)."""
        q = customer_visibility_q(self.user) & Q(live=True)
        if record_owner and self.user.is_authenticated and self.user.is_active:
            q |= Q(record_owner=self.user)
        qs = Figure.objects.filter(q, metric=metric)
        return qs.filter(**{team_field: self.team}) if self.team else qs

    def staff_figures(self, metric: str) -> QuerySet[Figure]:
        """Pre-computed figures per staff member (overdue tasks) of the people in scope."""
        return Figure.objects.filter(metric=metric, record_owner__in=self.staff())

    def params(self) -> dict[str, str]:
        return {"team": str(self.team.pk)} if self.team else {}
