"""Pre-computed figures for the dashboard (issue 8: about 200 ms at a million customers).

The dashboard does not scan millions of rows per request: a job (reports/services.py
`figures_refresh`) sums the records into `Figure` rows — one per day, metric and the
dimensions a report filters by — and the dashboard adds up a few thousand of those. The job
rebuilds the recent days every few minutes and everything every night (back-dated edits,
reassignments, deletions), and `FigureRefresh` tells the page how current its figures are.

Each row carries what scoping needs (reports/scope.py `Scope.figure_q`): the customer's team
and owner (who may see the customer's records), the record's own owner or assignee and team
(orders, deals and tickets are also visible to the staff member they belong to; deals are
filtered by their own team), and one or two dimensions (a ticket's category, a deal's stage).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Team


def _id_of(model):
    return models.ForeignKey(
        model, null=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )


class Figure(models.Model):
    class Metric(models.TextChoices):
        # Dated (one row per local day):
        NEW_CUSTOMERS = "new_customers", _("New customers")  # count; day of created_at
        REVENUE = "revenue", _("Revenue")  # count = orders, amount = total; counted statuses
        WON = "won", _("Won deals")  # count, seconds = Σ(closed − created); day of closed_at
        LOST = "lost", _("Lost deals")  # count; day of closed_at
        TICKETS = "tickets", _("Tickets")  # count; dim = category; day of created_at
        INTERACTIONS = "interactions", _("Interactions")  # count; record_owner = who logged them
        # Snapshots at the refresh (day is empty):
        CUSTOMERS = "customers", _("Customers")  # count; dim = lifecycle stage, dim2 = tier
        CHURN = "churn", _("Customers at churn risk")  # count
        PIPELINE = "pipeline", _("Open pipeline")  # CNY: count, amount, weighted; dim = stage
        OPEN_TICKETS = "open_tickets", _("Open tickets")  # count; dim = "breached" or ""
        OVERDUE_TASKS = "overdue_tasks", _("Overdue tasks")  # count; record_owner = assignee
        # The default period (FigureRefresh.period_*) and the one before, which most visits ask
        # for; other periods are counted from the records. Per customer team and owner, which
        # partition the customers (so the partitions add up exactly):
        CONTACTED = "contacted", _("Active customers")  # distinct customers; day = window start
        TOP_CUSTOMERS = "top_customers", _("Top customers")  # dim = customer id, amount = spend

    metric = models.CharField(max_length=20, choices=Metric.choices)
    day = models.DateField(null=True, blank=True)
    # The customer's team and owner: customers.models.customer_visibility_q applies to these
    # rows as it does to customers. No database constraints: the figures are rebuilt from the
    # records, and deleting a user or team must neither be blocked by nor cascade into them.
    team = _id_of(Team)
    owner = _id_of(settings.AUTH_USER_MODEL)
    live = models.BooleanField(default=True)  # the customer is not in the recycle bin
    record_owner = _id_of(settings.AUTH_USER_MODEL)
    record_team = _id_of(Team)
    dim = models.CharField(max_length=30, blank=True)
    dim2 = models.CharField(max_length=30, blank=True)
    count = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    weighted = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    seconds = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("report figure")
        verbose_name_plural = _("report figures")
        indexes = [
            # Every reader: one metric over a range of days (or the snapshot, day IS NULL).
            models.Index(fields=["metric", "day"], name="figure_metric_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.day or '-'}: {self.count}"


class FigureRefresh(models.Model):
    """One run of the job that rebuilds the figures: when, from which day, how long."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), db_index=True)
    since = models.DateField(_("from day"), null=True, blank=True)  # empty: everything
    rows = models.PositiveIntegerField(_("rows"), default=0)
    # The default period the per-period figures (active and top customers) were counted for.
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("report figure refresh")
        verbose_name_plural = _("report figure refreshes")
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.finished_at:%Y-%m-%d %H:%M} ({self.since or 'all'})"
