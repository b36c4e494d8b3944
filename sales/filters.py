import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from core.models import Team
from customers.forms import staff_choices
from customers.models import Customer
from customers.search import search_customers
from sales.models import Order, OrderLine, Product


class OrderFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        widget=forms.TextInput(attrs={"placeholder": _("Order number or customer")}),
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("status"), choices=Order.Status.choices, widget=forms.CheckboxSelectMultiple
    )
    ordered = django_filters.DateFromToRangeFilter(
        label=_("ordered between"),
        field_name="ordered_at",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )
    product = django_filters.ModelChoiceFilter(
        label=_("product"),
        queryset=Product.objects.order_by("name"),
        method="filter_product",
        # For the API schema (a product id); the method does the filtering.
        field_name="lines__product",
    )
    owner = django_filters.ModelChoiceFilter(label=_("owner"), queryset=staff_choices())
    total = django_filters.RangeFilter(label=_("amount between"), field_name="total")
    team = django_filters.ModelChoiceFilter(
        label=_("team"), field_name="customer__team", queryset=Team.objects.order_by("name")
    )
    tier = django_filters.ChoiceFilter(
        label=_("customer tier"), field_name="customer__value_tier", choices=Customer.ValueTier.choices
    )
    customer = django_filters.NumberFilter(field_name="customer_id", widget=forms.HiddenInput)

    class Meta:
        model = Order
        fields = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.upper().startswith("SO"):
            return queryset.filter(number__istartswith=value)
        return queryset.filter(customer__in=search_customers(Customer.objects.all(), value).values("pk"))

    def filter_product(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(Exists(OrderLine.objects.filter(order=OuterRef("pk"), product=value)))
