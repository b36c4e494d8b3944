"""The marketing app's part of a customer's access export (customers/privacy.py): the
marketing messages sent or attempted, and the static lists they are on. Nothing to erase:
these rows hold no personal data beyond the link to the customer."""

from django.utils.translation import gettext as _

from customers.models import Customer
from customers.privacy import Sheet, model_sheet
from marketing.models import CampaignRecipient, SegmentMember


def export(customer: Customer) -> list[Sheet]:
    messages = (
        CampaignRecipient.objects.filter(customer=customer)
        .select_related("campaign")
        .order_by("queued_at", "pk")
    )
    lists = (
        SegmentMember.objects.filter(customer=customer).select_related("segment").order_by("added_at", "pk")
    )
    return [
        model_sheet(
            "marketing_messages",
            _("Marketing messages"),
            CampaignRecipient,
            messages,
            ["campaign", "status", "reason", "queued_at", "sent_at"],
        ),
        Sheet(
            "marketing_lists",
            _("Static lists"),
            [("segment", _("Static list")), ("added_at", _("Added"))],
            [[m.segment.name, m.added_at.isoformat()] for m in lists],
        ),
    ]
