"""Care reminders (客户关怀): a customer's birthday and the anniversary of their first
purchase give the owner a greeting task CARE_REMINDER_DAYS_AHEAD days before the day.

Only live customers with an active owner who have not opted out (care_opt_out) count.
Someone born on 29 February is greeted on 28 February in common years; the same goes for
a first purchase on 29 February. Anniversaries start one year after the first purchase.
The task is the notice: creating it notifies the owner (bell, and email when enabled).
One task per customer and occasion, however often the job runs.
"""

import calendar
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from customers.models import Customer
from interactions.services import task_create_for_rule

BIRTHDAY_RULE = "care_birthday"
ANNIVERSARY_RULE = "care_anniversary"
# The birthday form accepts years from 1900 on.
FIRST_BIRTH_YEAR = 1900
# Greeting tasks are due at the start of the working day of the occasion.
DUE_TIME = time(9, 0)


def _leap_day_goes_to(occasion: date) -> bool:
    """Whether 29 February is celebrated on `occasion` (28 February of a common year)."""
    return (occasion.month, occasion.day) == (2, 28) and not calendar.isleap(occasion.year)


def birth_dates_for(occasion: date) -> list[date]:
    """The birth dates whose birthday falls on `occasion`.

    A list of exact dates rather than month/day lookups: `birthday IN (...)` uses the
    birthday index (cust_birthday_idx), EXTRACT(month/day) would read every customer.
    """
    years = range(FIRST_BIRTH_YEAR, occasion.year)
    if (occasion.month, occasion.day) == (2, 29):
        return [date(year, 2, 29) for year in years if calendar.isleap(year)]
    dates = [occasion.replace(year=year) for year in years]
    if _leap_day_goes_to(occasion):
        dates += [date(year, 2, 29) for year in years if calendar.isleap(year)]
    return dates


def anniversary_q(occasion: date) -> Q:
    """Customers whose first purchase (local calendar day) was on this day of an earlier year.
    No index serves this: one scan a day."""
    same_day = Q(first_purchase_at__month=occasion.month, first_purchase_at__day=occasion.day)
    if _leap_day_goes_to(occasion):
        same_day |= Q(first_purchase_at__month=2, first_purchase_at__day=29)
    return same_day & Q(first_purchase_at__year__lt=occasion.year)


def _due_at(occasion: date) -> datetime:
    return timezone.make_aware(datetime.combine(occasion, DUE_TIME))


def _in_batches(customers: QuerySet, batch_size: int) -> Iterator[Customer]:
    last_pk = 0
    while True:
        batch = list(customers.filter(pk__gt=last_pk).order_by("pk")[:batch_size])
        if not batch:
            return
        last_pk = batch[-1].pk
        yield from batch


def care_reminders(
    *, today: date | None = None, days_ahead: int | None = None, batch_size: int = 500
) -> dict[str, int]:
    """Greeting tasks for the birthdays and anniversaries `days_ahead` days after `today`
    (defaults: the local date, CARE_REMINDER_DAYS_AHEAD). Reads in batches; idempotent."""
    today = today or timezone.localdate()
    if days_ahead is None:
        days_ahead = settings.CARE_REMINDER_DAYS_AHEAD
    occasion = today + timedelta(days=days_ahead)
    eligible = (
        Customer.objects.active()
        .filter(care_opt_out=False, owner__isnull=False, owner__is_active=True)
        .select_related("owner")
        .only("pk", "name", "first_purchase_at", "owner")
    )
    counts = {"birthdays": 0, "anniversaries": 0, "tasks": 0}

    birthdays = eligible.filter(birthday__in=birth_dates_for(occasion))
    for customer in _in_batches(birthdays, batch_size):
        with translation.override(customer.owner.language or settings.LANGUAGE_CODE):
            title = _("Birthday of %(name)s on %(date)s: send a greeting") % {
                "name": customer.name,
                "date": formats.date_format(occasion, "MONTH_DAY_FORMAT"),
            }
        counts["birthdays"] += 1
        counts["tasks"] += _greeting_task(customer, BIRTHDAY_RULE, occasion, title)

    for customer in _in_batches(eligible.filter(anniversary_q(occasion)), batch_size):
        years = occasion.year - timezone.localtime(customer.first_purchase_at).year
        with translation.override(customer.owner.language or settings.LANGUAGE_CODE):
            title = ngettext(
                "%(name)s has been a customer for %(years)d year on %(date)s: send a greeting",
                "%(name)s has been a customer for %(years)d years on %(date)s: send a greeting",
                years,
            ) % {
                "name": customer.name,
                "years": years,
                "date": formats.date_format(occasion, "MONTH_DAY_FORMAT"),
            }
        counts["anniversaries"] += 1
        counts["tasks"] += _greeting_task(customer, ANNIVERSARY_RULE, occasion, title)
    return counts


def _greeting_task(customer: Customer, rule: str, occasion: date, title: str) -> bool:
    """Create the task once per customer and occasion; True if it is new."""
    _task, created = task_create_for_rule(
        rule=rule,
        rule_key=f"{rule}:{customer.pk}:{occasion.isoformat()}",
        assignee=customer.owner,
        title=title[:200],
        due_at=_due_at(occasion),
        customer=customer,
    )
    return created
