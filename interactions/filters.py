import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import Team
from customers.forms import staff_choices
from customers.models import Customer
from customers.search import search_customers
from interactions.models import Interaction, Priority, Task, Ticket


def _date_range(label: str, field: str) -> django_filters.DateFromToRangeFilter:
    return django_filters.DateFromToRangeFilter(
        label=label, field_name=field, widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"})
    )


def _customer_team() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        label=_("team"), field_name="customer__team", queryset=Team.objects.order_by("name")
    )


def _customer_or_text(queryset, value: str, text_field: str):
    """Customers whose name/company/pinyin/phone match, or (3+ characters) the record's
    own text. Short terms search customer names only: a trigram index cannot serve them."""
    value = value.strip()
    if not value:
        return queryset
    customers = search_customers(Customer.objects.all(), value).values("pk")
    q = Q(customer__in=customers)
    if len(value) >= 3:
        q |= Q(**{f"{text_field}__icontains": value})
    return queryset.filter(q)


class InteractionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": _("Customer, or words of the summary")}),
    )
    kind = django_filters.ChoiceFilter(label=_("type"), choices=Interaction.Kind.choices)
    channel = django_filters.ChoiceFilter(label=_("channel"), choices=Interaction.Channel.choices)
    staff = django_filters.ModelChoiceFilter(
        label=_("staff"), field_name="created_by", queryset=staff_choices()
    )
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)
    occurred = _date_range(_("date"), "occurred_at")
    team = _customer_team()

    class Meta:
        model = Interaction
        fields = []

    def filter_search(self, queryset, name, value):
        return _customer_or_text(queryset, value, "summary")


class TicketFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": _("Customer, ticket number or subject")}),
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("status"), choices=Ticket.Status.choices, widget=forms.CheckboxSelectMultiple
    )
    category = django_filters.ChoiceFilter(label=_("category"), choices=Ticket.Category.choices)
    priority = django_filters.ChoiceFilter(label=_("priority"), choices=Priority.choices)
    assignee = django_filters.ModelChoiceFilter(label=_("assignee"), queryset=staff_choices())
    mine = django_filters.BooleanFilter(
        label=_("assigned to me"), method="filter_mine", widget=forms.CheckboxInput
    )
    open_only = django_filters.BooleanFilter(
        label=_("open only"), method="filter_open", widget=forms.CheckboxInput
    )
    breached = django_filters.BooleanFilter(
        label=_("SLA breached"), method="filter_breached", widget=forms.CheckboxInput
    )
    created = _date_range(_("opened"), "created_at")
    resolved = _date_range(_("resolved"), "resolved_at")
    team = _customer_team()

    class Meta:
        model = Ticket
        fields = []

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        # "Assigned to me" needs the user: given, or the request's (no request in a background export).
        self.user = user if user is not None else getattr(self.request, "user", None)

    def filter_search(self, queryset, name, value):
        value = value.strip().lstrip("#")
        if value.isdigit() and len(value) < 10:
            return queryset.filter(pk=int(value))
        return _customer_or_text(queryset, value, "subject")

    def filter_mine(self, queryset, name, value):
        return queryset.filter(assignee=self.user) if value and self.user is not None else queryset

    def filter_open(self, queryset, name, value):
        return queryset.unresolved() if value else queryset

    def filter_breached(self, queryset, name, value):
        return queryset.sla_breached() if value else queryset


class TaskFilter(django_filters.FilterSet):
    """Filters of the API's task list (the pages group tasks by due date instead): status,
    assignee (task_assignee_open_idx) and customer (task_customer_idx)."""

    status = django_filters.ChoiceFilter(label=_("status"), choices=Task.Status.choices)
    assignee = django_filters.ModelChoiceFilter(label=_("assignee"), queryset=staff_choices())
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)
    due = _date_range(_("due"), "due_at")

    class Meta:
        model = Task
        fields = []
