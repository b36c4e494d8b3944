"""Exports of the interaction list and the ticket list (registered in
InteractionsConfig.ready()).

The rows are the list's: the user's scope and the list's FilterSet (interactions.selectors),
in the list's order. Writing, masking, neutralising and the audit entry are core.exports'.
"""

from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.exports import Column, Exporter, field_column
from core.models import User
from core.pagination import sort_order
from core.personal_data import mask_phone
from interactions import selectors
from interactions.models import Interaction, Ticket

USER_FIELDS = ("id", "username", "first_name", "last_name")


def _user_fields(relation: str) -> list[str]:
    return [f"{relation}__{name}" for name in USER_FIELDS]


def interaction_export_rows(user: User, params: QueryDict):
    return (
        selectors.interaction_list_filter(user, params)
        .qs.select_related("customer", "contact", "created_by")
        .only(
            "id",
            "occurred_at",
            "kind",
            "channel",
            "direction",
            "summary",
            "outcome",
            "satisfaction",
            "next_step",
            "ticket",
            "customer__id",
            "customer__name",
            "contact__id",
            "contact__name",
            *_user_fields("created_by"),
        )
        .order_by(*sort_order(selectors.INTERACTION_LIST_SORT))
    )


INTERACTION_EXPORTER = Exporter(
    kind="interactions",
    title=Interaction._meta.verbose_name_plural,
    permission="interactions.export_interaction",
    queryset=interaction_export_rows,
    columns=[
        field_column(Interaction, "occurred_at"),
        field_column(Interaction, "customer", value=lambda i: i.customer.name),
        field_column(Interaction, "contact", value=lambda i: i.contact.name if i.contact_id else ""),
        field_column(Interaction, "kind"),
        field_column(Interaction, "channel"),
        field_column(Interaction, "direction"),
        field_column(Interaction, "summary"),
        field_column(Interaction, "outcome"),
        field_column(Interaction, "satisfaction"),
        field_column(Interaction, "next_step"),
        field_column(Interaction, "created_by"),
        field_column(Interaction, "ticket", value=lambda i: f"#{i.ticket_id}" if i.ticket_id else ""),
    ],
    filename="interactions",
    list_url="interactions:interaction_list",
)


def ticket_export_rows(user: User, params: QueryDict):
    return (
        selectors.ticket_list_filter(user, params)
        .qs.select_related("customer", "contact", "assignee")
        .only(
            "id",
            "subject",
            "category",
            "priority",
            "status",
            "sla_due_at",
            "satisfaction",
            "created_at",
            "resolved_at",
            "closed_at",
            # Only what the columns show: every other personal-data column stays encrypted.
            "customer__id",
            "customer__name",
            "customer__mobile",
            "contact__id",
            "contact__name",
            *_user_fields("assignee"),
        )
        .order_by(*sort_order(selectors.TICKET_LIST_SORT))
    )


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


TICKET_EXPORTER = Exporter(
    kind="tickets",
    title=Ticket._meta.verbose_name_plural,
    permission="interactions.export_ticket",
    queryset=ticket_export_rows,
    columns=[
        Column(gettext_lazy("ticket number"), lambda t: t.pk),
        field_column(Ticket, "subject"),
        field_column(Ticket, "customer", value=lambda t: t.customer.name),
        Column(gettext_lazy("customer mobile phone"), lambda t: t.customer.mobile, masker=mask_phone),
        field_column(Ticket, "contact", value=lambda t: t.contact.name if t.contact_id else ""),
        field_column(Ticket, "category"),
        field_column(Ticket, "priority"),
        field_column(Ticket, "status"),
        field_column(Ticket, "assignee"),
        field_column(Ticket, "created_at"),
        field_column(Ticket, "sla_due_at"),
        Column(gettext_lazy("SLA breached"), lambda t: _yes_no(t.sla_breached)),
        field_column(Ticket, "resolved_at"),
        field_column(Ticket, "closed_at"),
        field_column(Ticket, "satisfaction"),
    ],
    filename="tickets",
    list_url="interactions:ticket_list",
    sensitive_permission="customers.view_sensitive",
)
