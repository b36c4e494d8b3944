"""Exports of the order list and the opportunity list (registered in SalesConfig.ready()).

The rows are the list's: the user's scope and the list's FilterSet (sales.selectors), in the
list's order. Writing, masking, neutralising and the audit entry are core.exports'.
"""

from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from core.exports import Column, Exporter, field_column
from core.models import User
from core.pagination import sort_order
from core.personal_data import mask_phone
from sales import selectors
from sales.models import Opportunity, Order

SENSITIVE = "customers.view_sensitive"


def order_export_rows(user: User, params: QueryDict):
    return (
        selectors.order_list_filter(user, params)
        .qs.select_related("customer", "owner")
        .only(
            "id",
            "number",
            "ordered_at",
            "status",
            "channel",
            "total",
            # Only what the columns show: every other personal-data column stays encrypted.
            "customer__id",
            "customer__name",
            "customer__company",
            "customer__mobile",
            "owner__id",
            "owner__username",
            "owner__first_name",
            "owner__last_name",
        )
        .order_by(*sort_order(selectors.ORDER_LIST_SORT))
    )


ORDER_EXPORTER = Exporter(
    kind="orders",
    title=Order._meta.verbose_name_plural,
    permission="sales.export_order",
    queryset=order_export_rows,
    columns=[
        field_column(Order, "number"),
        field_column(Order, "customer", value=lambda o: o.customer.name),
        Column(_("company"), lambda o: o.customer.company),
        Column(_("customer mobile phone"), lambda o: o.customer.mobile, masker=mask_phone),
        field_column(Order, "ordered_at"),
        field_column(Order, "status"),
        field_column(Order, "channel"),
        field_column(Order, "total"),
        field_column(Order, "owner"),
    ],
    filename="orders",
    list_url="sales:order_list",
    sensitive_permission=SENSITIVE,
)


def opportunity_export_rows(user: User, params: QueryDict):
    _key, sort = selectors.opportunity_list_sort(params)
    return (
        selectors.opportunity_list_filter(user, params)
        .qs.select_related("customer", "owner", "team", "stage")
        .only(
            "id",
            "title",
            "custom",
            "amount",
            "currency",
            "probability",
            "expected_close_date",
            "source",
            "next_step",
            "created_at",
            "closed_at",
            "customer__id",
            "customer__name",
            "owner__id",
            "owner__username",
            "owner__first_name",
            "owner__last_name",
            "team__id",
            "team__name",
            "stage__id",
            "stage__name",
            "stage__name_en",
            "stage__kind",
        )
        .order_by(*sort_order(sort))
    )


OPPORTUNITY_EXPORTER = Exporter(
    kind="opportunities",
    title=Opportunity._meta.verbose_name_plural,
    permission="sales.export_opportunity",
    queryset=opportunity_export_rows,
    columns=[
        field_column(Opportunity, "title"),
        field_column(Opportunity, "customer", value=lambda o: o.customer.name),
        # The stage name in the user's language (PipelineStage.label).
        field_column(Opportunity, "stage", value=lambda o: o.stage.label),
        field_column(Opportunity, "amount"),
        # The ISO code, as accounting software reads it.
        field_column(Opportunity, "currency", value=lambda o: o.currency),
        field_column(Opportunity, "probability"),
        Column(_("weighted amount"), lambda o: o.weighted_amount),
        field_column(Opportunity, "expected_close_date"),
        field_column(Opportunity, "owner"),
        field_column(Opportunity, "team"),
        field_column(Opportunity, "source"),
        field_column(Opportunity, "next_step"),
        field_column(Opportunity, "created_at"),
        field_column(Opportunity, "closed_at"),
    ],
    filename="opportunities",
    list_url="sales:opportunity_list",
    # Sensitive custom fields are masked unless the user may reveal personal data.
    sensitive_permission=SENSITIVE,
    custom_target="opportunity",
)
