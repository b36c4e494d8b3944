import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import custom_fields
from core.models import Team
from customers.forms import staff_choices
from customers.models import Customer, Tag
from customers.search import search_by_private_key, search_customers


class CustomerFilter(django_filters.FilterSet):
    """Filters of the customer ledger. Each has an index (see Customer.Meta.indexes)."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": _("Name, company, contact, pinyin, phone or email")}),
    )
    # A phone number or email searched for, as its blind-index token (see customer_search).
    qk = django_filters.CharFilter(method="filter_private_key", widget=forms.HiddenInput)
    lifecycle_stage = django_filters.MultipleChoiceFilter(
        label=_("lifecycle stage"),
        choices=Customer.LifecycleStage.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    value_tier = django_filters.MultipleChoiceFilter(
        label=_("tier"), choices=Customer.ValueTier.choices, widget=forms.CheckboxSelectMultiple
    )
    abc_class = django_filters.ChoiceFilter(label=_("ABC class"), choices=Customer.AbcClass.choices[1:])
    tag = django_filters.ModelChoiceFilter(label=_("tag"), field_name="tags", queryset=Tag.objects.all())
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=staff_choices())
    no_owner = django_filters.BooleanFilter(
        label=_("without owner"), method="filter_no_owner", widget=forms.CheckboxInput
    )
    team = django_filters.ModelChoiceFilter(label=_("team"), queryset=Team.objects.all())
    province = django_filters.CharFilter(label=_("province"))
    city = django_filters.CharFilter(label=_("city"))
    source = django_filters.ChoiceFilter(label=_("source"), choices=Customer.Source.choices)
    created = django_filters.DateFromToRangeFilter(
        label=_("created between"),
        field_name="created_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    last_contacted = django_filters.DateFromToRangeFilter(
        label=_("last contacted between"),
        field_name="last_contacted_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    # Customers with an interaction in the range (the dashboard's "active customers").
    contacted = django_filters.DateFromToRangeFilter(
        label=_("contacted between"),
        method="filter_contacted",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    # Tier moves between two dates (the maintenance diagram's transitions): tier_from / tier_to
    # narrow them; "" in tier_from means "first classified".
    tier_moved = django_filters.DateFromToRangeFilter(
        label=_("tier changed between"),
        method="filter_tier_moved",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    tier_from = django_filters.ChoiceFilter(
        label=_("tier before"),
        choices=[("none", _("Not classified")), *Customer.ValueTier.choices],
        method="filter_nothing",
    )
    tier_to = django_filters.ChoiceFilter(
        label=_("tier after"), choices=Customer.ValueTier.choices, method="filter_nothing"
    )
    # Recency and frequency scores ("54": R 5, F 4), the behaviour analysis' RFM matrix.
    rfm = django_filters.CharFilter(
        label=_("RFM score starts with"), field_name="rfm_score", lookup_expr="startswith", max_length=3
    )
    # Customers with an automatic task of a rule done in a range (e.g. win-back tasks).
    task_rule = django_filters.CharFilter(method="filter_nothing", widget=forms.HiddenInput)
    task_done = django_filters.DateFromToRangeFilter(
        label=_("task done between"),
        method="filter_task_done",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    stale = django_filters.BooleanFilter(
        label=_("information stale"), method="filter_stale", widget=forms.CheckboxInput
    )
    churn_warning = django_filters.BooleanFilter(
        label=_("churn warning"), method="filter_churn_warning", widget=forms.CheckboxInput
    )
    # The follow-up escalation's marks (跟进超时, kept by interactions.escalation).
    followup = django_filters.ChoiceFilter(
        label=_("follow-up"),
        choices=[
            ("overdue", _("Follow-up overdue (owner reminded)")),
            ("escalated", _("Follow-up escalated (high risk)")),
        ],
        method="filter_followup",
    )
    churn_risk_min = django_filters.NumberFilter(
        label=_("churn risk at least"),
        field_name="churn_risk_score",
        lookup_expr="gte",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "placeholder": "0–100"}),
    )

    class Meta:
        model = Customer
        fields = []

    def __init__(self, *args, user=None, custom_definitions=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The filterable custom fields (cf_<key>): indexed equality, ranges within the scope.
        custom_fields.add_filters(self, "customer", custom_definitions)
        # Filter lists show only what the user may filter by.
        if user is not None and not (user.is_superuser or user.has_perm("customers.view_all_customers")):
            managed = user.managed_team_ids
            if managed:
                self.filters["owner"].queryset = staff_choices().filter(
                    Q(team_id__in=managed) | Q(pk=user.pk)
                )
                self.filters["team"].queryset = Team.objects.filter(pk__in=managed)
            else:
                del self.filters["owner"]
                del self.filters["team"]
                del self.filters["no_owner"]

    def filter_search(self, queryset, name, value):
        return search_customers(queryset, value)

    def filter_private_key(self, queryset, name, value):
        return search_by_private_key(queryset, value)

    def filter_no_owner(self, queryset, name, value):
        # An unticked checkbox means "any owner", not "has an owner".
        return queryset.filter(owner__isnull=True) if value else queryset

    def filter_contacted(self, queryset, name, value):
        if not value or (value.start is None and value.stop is None):
            return queryset
        # The interactions app adds the relation; customers does not import it. Served by
        # inter_customer_idx (customer, -occurred_at).
        interaction = Customer._meta.get_field("interactions").related_model
        within = interaction.objects.filter(customer=OuterRef("pk"))
        if value.start is not None:
            within = within.filter(occurred_at__gte=value.start)
        if value.stop is not None:
            within = within.filter(occurred_at__lte=value.stop)
        return queryset.filter(Exists(within))

    def filter_nothing(self, queryset, name, value):
        # Read by filter_tier_moved / filter_task_done.
        return queryset

    def filter_tier_moved(self, queryset, name, value):
        if not value or value.start is None or value.stop is None:
            return queryset
        start, end = timezone.localdate(value.start), timezone.localdate(value.stop)
        moved = queryset.tier_moves(start, end).exclude(tier_before=F("tier_after"))
        data = self.form.cleaned_data
        if data.get("tier_from"):
            moved = moved.filter(tier_before="" if data["tier_from"] == "none" else data["tier_from"])
        if data.get("tier_to"):
            moved = moved.filter(tier_after=data["tier_to"])
        return moved

    def filter_task_done(self, queryset, name, value):
        rule = self.form.cleaned_data.get("task_rule")
        if not value or value.start is None or value.stop is None or not rule:
            return queryset
        # The interactions app adds the relation (related_name "tasks").
        task = Customer._meta.get_field("tasks").related_model
        done = task.objects.filter(
            customer=OuterRef("pk"), rule=rule, status="done", completed_at__range=(value.start, value.stop)
        )
        return queryset.filter(Exists(done))

    def filter_stale(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.stale()

    def filter_churn_warning(self, queryset, name, value):
        # Flagged by the nightly churn job (sales.churn); unticked means everyone.
        return queryset.filter(churn_flagged_at__isnull=False) if value else queryset

    def filter_followup(self, queryset, name, value):
        # Served by cust_followup_reminded_idx and cust_followup_escalated_idx respectively.
        if value == "overdue":
            return queryset.filter(followup_reminded_at__isnull=False, followup_escalated_at__isnull=True)
        if value == "escalated":
            return queryset.filter(followup_escalated_at__isnull=False)
        return queryset

    @property
    def active_count(self) -> int:
        """How many filters (besides the search box) are in use, for the "Filters (3)" badge."""
        if not self.is_bound or not self.form.is_valid():
            return 0
        count = 0
        for name, value in self.form.cleaned_data.items():
            if name in ("q", "qk") or value in (None, "", [], False):
                continue
            if isinstance(value, slice) and value.start is None and value.stop is None:
                continue
            count += 1
        return count
