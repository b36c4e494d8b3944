"""django-filter FilterSets of the opportunity list and the pipeline board."""

from datetime import date

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core import custom_fields
from core.models import Team, User
from customers.forms import staff_choices
from customers.models import Customer
from customers.search import search_customers
from sales.models import Opportunity, PipelineStage


def month_start(value: str) -> date | None:
    """ "2026-03" (an <input type=month>) → 2026-03-01; None when not a month."""
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except (TypeError, ValueError):
        return None


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class _ScopedOwnerTeamMixin:
    """Owner and team choices limited to what the user may see: everyone for admins and
    users who see all customers, the managed teams for managers; reps (who see only their
    own) get neither filter."""

    def _scope_owner_team(self, user: User | None) -> None:
        if user is None or user.is_superuser or user.has_perm("customers.view_all_customers"):
            return
        managed = user.managed_team_ids
        if managed:
            self.filters["owner"].queryset = staff_choices().filter(Q(team_id__in=managed) | Q(pk=user.pk))
            self.filters["team"].queryset = Team.objects.filter(pk__in=managed)
        else:
            del self.filters["owner"]
            del self.filters["team"]


class OpportunityFilter(_ScopedOwnerTeamMixin, django_filters.FilterSet):
    """Filters of the opportunity list. Stage, owner and team are served by the
    (stage|owner|team, …) indexes; the close-date range by opp_close_date_idx."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        widget=forms.TextInput(
            attrs={"placeholder": _("Opportunity title or customer name"), "class": "form-control"}
        ),
    )
    # Inactive stages stay filterable: old opportunities may still sit in them.
    stage = django_filters.ModelChoiceFilter(
        label=_("stage"), queryset=PipelineStage.objects.order_by("order", "pk")
    )
    open_only = django_filters.BooleanFilter(
        label=_("open only"), method="filter_open_only", widget=forms.CheckboxInput
    )
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=staff_choices())
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=Team.objects.all())
    expected_close = django_filters.DateFromToRangeFilter(
        label=_("expected close between"),
        field_name="expected_close_date",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    amount = django_filters.RangeFilter(label=_("amount between"))
    currency = django_filters.ChoiceFilter(label=_("currency"), choices=Opportunity.Currency.choices)
    result = django_filters.ChoiceFilter(
        label=_("result"),
        method="filter_result",
        choices=[(PipelineStage.Kind.WON, _("Won")), (PipelineStage.Kind.LOST, _("Lost"))],
    )
    # The won and lost columns of the board count the current period: their "show all"
    # links filter by closing date.
    closed = django_filters.DateFromToRangeFilter(
        label=_("closed between"),
        field_name="closed_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )

    class Meta:
        model = Opportunity
        fields = []

    def __init__(self, *args, user: User | None = None, custom_definitions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope_owner_team(user)
        custom_fields.add_filters(self, "opportunity", custom_definitions)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        customers = search_customers(Customer.objects.all(), value).values("pk")
        return queryset.filter(Q(title__icontains=value) | Q(customer__in=customers))

    def filter_result(self, queryset, name, value: str):
        return queryset.filter(stage__kind=value) if value else queryset

    def filter_open_only(self, queryset, name, value):
        # An unticked checkbox means "any stage", not "closed only".
        return queryset.open() if value else queryset

    @property
    def active_count(self) -> int:
        """How many filters (besides the search box) are in use, for the "Filters (3)" badge."""
        if not self.is_bound or not self.form.is_valid():
            return 0
        count = 0
        for name, value in self.form.cleaned_data.items():
            if name == "q" or value in (None, "", [], False):
                continue
            if isinstance(value, slice) and value.start is None and value.stop is None:
                continue
            count += 1
        return count


class BoardFilter(_ScopedOwnerTeamMixin, django_filters.FilterSet):
    """Filters of the pipeline board: owner, team (managers and admins), expected-close month."""

    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=staff_choices())
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=Team.objects.all())
    month = django_filters.CharFilter(
        label=_("expected close month"),
        method="filter_month",
        widget=forms.TextInput(attrs={"type": "month"}),
    )

    class Meta:
        model = Opportunity
        fields = []

    def __init__(self, *args, user: User | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope_owner_team(user)

    def filter_month(self, queryset, name, value):
        start = month_start(value)
        if start is None:
            return queryset
        return queryset.filter(expected_close_date__gte=start, expected_close_date__lt=next_month(start))

    def list_params(self) -> dict[str, str]:
        """The same filters in the opportunity list's terms (for "show all" links)."""
        if not self.is_bound or not self.form.is_valid():
            return {}
        data = self.form.cleaned_data
        params = {}
        if data.get("owner"):
            params["owner"] = str(data["owner"].pk)
        if data.get("team"):
            params["team"] = str(data["team"].pk)
        start = month_start(data.get("month") or "")
        if start is not None:
            params["expected_close_after"] = start.isoformat()
            params["expected_close_before"] = date.fromordinal(next_month(start).toordinal() - 1).isoformat()
        return params
