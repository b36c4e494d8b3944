"""Reads shared by the marketing pages, the sending task and the customer timeline."""

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _

from core import custom_fields
from core.pagination import capped_count
from customers.filters import CustomerFilter
from customers.models import ConsentRecord, Customer
from customers.timeline import TimelineEntry
from marketing.models import PLACEHOLDER_RE, CampaignRecipient, Channel, Segment


def segment_members(segment: Segment, user, definitions=None) -> QuerySet:
    """The segment's customers that `user` may see: for a dynamic segment, the customer
    ledger's own filters over the ledger's own scope, so the count matches the list page."""
    visible = Customer.objects.visible_to(user)
    if segment.is_static:
        return visible.filter(segment_memberships__segment=segment)
    filterset = CustomerFilter(
        QueryDict(segment.query),
        queryset=visible,
        user=user,
        custom_definitions=definitions if definitions is not None else custom_fields.definitions("customer"),
    )
    return filterset.qs


def segment_count(segment: Segment, user, definitions=None) -> tuple[int, bool]:
    """(count, capped) like the ledger's "More than N customers". Pass the custom-field
    `definitions` when counting several segments (one query instead of one each)."""
    return capped_count(segment_members(segment, user, definitions))


def reachable(customers: QuerySet, channel: str) -> QuerySet:
    """Customers a marketing message on `channel` may go to: marketing consent given, not
    withdrawn for that channel since (a channel-only unsubscribe), not anonymised, and with an
    address for the channel."""
    latest_for_channel = (
        ConsentRecord.objects.filter(customer=OuterRef("pk"), channel=channel)
        .order_by("-at", "-id")
        .values("granted")[:1]
    )
    address = ~Q(email_bidx="") if channel == Channel.EMAIL else ~Q(mobile_bidx="")
    return (
        customers.filter(marketing_consent=True, anonymised_at__isnull=True)
        .filter(address)
        .annotate(channel_consent=Subquery(latest_for_channel))
        # Explicit about NULL (no record for the channel): exclude() would drop those too.
        .filter(Q(channel_consent__isnull=True) | Q(channel_consent=True))
    )


def skip_reason(customer: Customer, channel: str, reachable_ids: set[int]) -> str:
    """Why a segment member gets nothing (stored on the recipient; never personal data)."""
    if customer.pk in reachable_ids:
        return ""
    if not customer.marketing_consent:
        return "no_consent"
    if customer.anonymised_at is not None:
        return "anonymised"
    address_key = customer.email_bidx if channel == Channel.EMAIL else customer.mobile_bidx
    return "no_address" if not address_key else "unsubscribed"


SKIP_REASONS = {
    "no_consent": lambda: _("No marketing consent"),
    "unsubscribed": lambda: _("Unsubscribed from this channel"),
    "no_address": lambda: _("No address for this channel"),
    "anonymised": lambda: _("Personal data erased"),
    "cancelled": lambda: _("Campaign cancelled."),
}


def personalisation(customers: list[Customer]) -> dict[int, dict[str, str]]:
    """The placeholder values of each customer, in bulk: one query for the last product
    bought by all of them (the owner comes with the customers' select_related("owner"))."""
    from sales.models import Order, OrderLine

    ids = [c.pk for c in customers]
    last_product = dict(
        OrderLine.objects.filter(order__customer_id__in=ids, order__status__in=Order.PURCHASED)
        .order_by("order__customer_id", "-order__ordered_at", "-order_id", "-id")
        .distinct("order__customer_id")
        .values_list("order__customer_id", "product__name")
    )
    values = {}
    for customer in customers:
        owner = customer.owner if customer.owner_id else None
        values[customer.pk] = {
            "name": customer.name,
            "owner": (owner.get_full_name() or owner.username) if owner else "",
            "last_product": last_product.get(customer.pk, ""),
            "tier": customer.get_value_tier_display() if customer.value_tier else "",
        }
    return values


def render_text(text: str, values: dict[str, str]) -> str:
    """Fill the placeholders; plain text, so nothing needs escaping (emails are text/plain)."""
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), ""), text)


def campaign_entries(customer, user, limit: int) -> list[TimelineEntry]:
    """The customer timeline's marketing messages (sent or failed): one query."""
    recipients = (
        CampaignRecipient.objects.filter(customer=customer)
        .exclude(status__in=[CampaignRecipient.Status.QUEUED, CampaignRecipient.Status.SKIPPED])
        .select_related("campaign")
        .order_by("-queued_at", "-id")[:limit]
    )
    can_open = user.has_perm("marketing.send_campaign")
    entries = []
    for r in recipients:
        failed = r.status == CampaignRecipient.Status.FAILED
        title = (
            _("Marketing %(channel)s not delivered: %(campaign)s")
            if failed
            else _("Marketing %(channel)s sent: %(campaign)s")
        ) % {"channel": r.campaign.get_channel_display(), "campaign": r.campaign.name}
        entries.append(
            TimelineEntry(
                at=r.sent_at or r.queued_at,
                kind="marketing",
                icon="envelope-exclamation" if failed else "megaphone",
                title=title,
                url=reverse("marketing:campaign_detail", args=[r.campaign_id]) if can_open else None,
            )
        )
    return entries
