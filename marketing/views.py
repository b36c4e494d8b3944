from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import custom_fields
from core.models import User
from customers.filters import CustomerFilter
from customers.models import Customer
from marketing import services
from marketing.forms import (
    CampaignForm,
    CampaignSendForm,
    MessageTemplateForm,
    SegmentCreateForm,
    SelectionForm,
)
from marketing.models import Campaign, CampaignRecipient, MessageTemplate, Segment
from marketing.selectors import SKIP_REASONS, segment_count, segment_members

SEGMENTS_PER_PAGE = 25
RECIPIENTS_PER_PAGE = 50

# --- access helpers ----------------------------------------------------------------------


def _get_segment_for_user(user: User, pk: int) -> Segment:
    """404 unless the user may see the segment."""
    return get_object_or_404(Segment.objects.visible_to(user).select_related("created_by"), pk=pk)


def _get_rw_segment_for_user(user: User, pk: int) -> Segment:
    """404 unless visible; 403 unless it is the user's own (or the user is an admin)."""
    segment = _get_segment_for_user(user, pk)
    if segment.created_by_id != user.pk and not user.is_superuser:
        raise PermissionDenied
    return segment


def _get_campaign_for_user(user: User, pk: int) -> Campaign:
    return get_object_or_404(
        Campaign.objects.visible_to(user).select_related("segment", "template", "created_by"), pk=pk
    )


# --- segments ----------------------------------------------------------------------------


@permission_required("marketing.view_segment", raise_exception=True)
def segment_list(request: HttpRequest) -> HttpResponse:
    """Queries: session, user, perms, count, the page of segments, then one bounded count per
    segment on the page (at most SEGMENTS_PER_PAGE, each capped like the ledger's count)."""
    page = Paginator(
        Segment.objects.visible_to(request.user).select_related("created_by"), SEGMENTS_PER_PAGE
    ).get_page(request.GET.get("page"))
    definitions = custom_fields.definitions("customer")
    for segment in page.object_list:
        segment.count, segment.count_capped = segment_count(segment, request.user, definitions)
    return render(request, "marketing/segment_list.html", {"page": page})


@require_POST
@permission_required("marketing.add_segment", raise_exception=True)
def segment_create(request: HttpRequest) -> HttpResponse:
    form = SegmentCreateForm(request.POST)
    query = request.POST.get("query", "")
    if not form.is_valid():
        messages.error(request, _("Give the segment a name."))
        return redirect(reverse("customers:list") + "?" + query)
    try:
        segment = services.segment_create(
            user=request.user,
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["kind"],
            query=form.cleaned_data["query"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(reverse("customers:list") + "?" + query)
    messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
    return redirect("marketing:segment_list")


@permission_required("marketing.view_segment", raise_exception=True)
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A dynamic segment opens the customer ledger with its filters; a static list shows its
    members (those the user may see) with a way to remove them."""
    segment = _get_segment_for_user(request.user, pk)
    if not segment.is_static:
        return redirect(reverse("customers:list") + "?" + segment.query)
    members = segment_members(segment, request.user).select_related("owner").order_by("name", "pk")
    page = Paginator(members.only("pk", "name", "company", "owner"), RECIPIENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    ctx = {
        "segment": segment,
        "page": page,
        "can_change": segment.created_by_id == request.user.pk or request.user.is_superuser,
    }
    return render(request, "marketing/segment_detail.html", ctx)


@permission_required("marketing.delete_segment", raise_exception=True)
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _get_rw_segment_for_user(request.user, pk)
    if request.method == "POST":
        try:
            services.segment_delete(segment=segment, user=request.user, request=request)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("marketing:segment_list")
        messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
        return redirect("marketing:segment_list")
    return render(request, "marketing/segment_confirm_delete.html", {"segment": segment})


@require_POST
@permission_required("marketing.change_segment", raise_exception=True)
def segment_add_members(request: HttpRequest) -> HttpResponse:
    """From the ledger's bulk selection: a confirmation page (choose the list), then the add."""
    form = SelectionForm(request.POST, user=request.user)
    back = reverse("customers:list") + "?" + request.POST.get("query", "")
    # A missing list on the confirmation page is shown there; any other error goes back.
    if not form.is_valid() and set(form.errors) - {"segment"}:
        for error in form.non_field_errors() or [_("Invalid selection.")]:
            messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    visible = Customer.objects.visible_to(request.user)
    if data.get("select_all"):
        customers = CustomerFilter(QueryDict(data.get("query", "")), queryset=visible, user=request.user).qs
    else:
        customers = visible.filter(pk__in=data.get("ids", []))
    count = customers.count()
    if not data.get("confirmed") or form.errors:
        ctx = {"form": form, "count": count, "back": back}
        return render(request, "marketing/segment_add_confirm.html", ctx)
    segment = data.get("segment")
    if segment is None:
        segment = services.segment_create(user=request.user, name=data["new_name"], kind=Segment.Kind.STATIC)
    added = services.segment_add_members(segment=segment, customers=customers, user=request.user)
    messages.success(
        request,
        ngettext("%(count)d customer added to “%(name)s”.", "%(count)d customers added to “%(name)s”.", added)
        % {"count": added, "name": segment.name},
    )
    return redirect("marketing:segment_detail", pk=segment.pk)


@require_POST
@permission_required("marketing.change_segment", raise_exception=True)
def segment_remove_members(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _get_rw_segment_for_user(request.user, pk)
    try:
        ids = [int(i) for i in request.POST.getlist("customer")]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, _("Select at least one customer."))
        return redirect("marketing:segment_detail", pk=segment.pk)
    removed = services.segment_remove_members(segment=segment, customer_ids=ids, user=request.user)
    messages.success(
        request,
        ngettext("%(count)d customer removed.", "%(count)d customers removed.", removed) % {"count": removed},
    )
    return redirect("marketing:segment_detail", pk=segment.pk)


# --- message templates -------------------------------------------------------------------


@permission_required("marketing.send_campaign", raise_exception=True)
def template_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(MessageTemplate.objects.all(), SEGMENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "marketing/template_list.html", {"page": page})


@permission_required("marketing.send_campaign", raise_exception=True)
def template_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, pk=pk) if pk else MessageTemplate(created_by=request.user)
    form = MessageTemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Template saved."))
        return redirect("marketing:template_list")
    return render(request, "marketing/template_form.html", {"form": form, "template_obj": template})


@require_POST
@permission_required("marketing.send_campaign", raise_exception=True)
def template_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(MessageTemplate, pk=pk)
    try:
        services.campaign_test_send(template=template, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Test message sent to you."))
    return redirect("marketing:template_edit", pk=template.pk)


# --- campaigns ---------------------------------------------------------------------------


@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_list(request: HttpRequest) -> HttpResponse:
    """Queries: session, user, perms, count, the page (with segment and template)."""
    qs = Campaign.objects.visible_to(request.user).select_related("segment", "template")
    page = Paginator(qs, SEGMENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "marketing/campaign_list.html", {"page": page})


@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("name", "kind", "segment", "trigger", "template")}
        try:
            campaign = services.campaign_create(user=request.user, data=data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Campaign “%(name)s” created.") % {"name": campaign.name})
            return redirect("marketing:campaign_detail", pk=campaign.pk)
    return render(request, "marketing/campaign_form.html", {"form": form})


@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign_for_user(request.user, pk)
    recipients = campaign.recipients.select_related("customer").only(
        "id",
        "campaign",
        "status",
        "reason",
        "error",
        "sent_at",
        "occurrence",
        "customer__id",
        "customer__name",
    )
    status = request.GET.get("status", "")
    if status in CampaignRecipient.Status.values:
        recipients = recipients.filter(status=status)
    page = Paginator(recipients.order_by("id"), RECIPIENTS_PER_PAGE).get_page(request.GET.get("page"))
    for r in page.object_list:
        r.reason_text = SKIP_REASONS[r.reason]() if r.reason in SKIP_REASONS else r.reason
    audience = None
    if campaign.segment_id:
        audience = segment_count(campaign.segment, campaign.created_by)
    ctx = {
        "campaign": campaign,
        "page": page,
        "status": status,
        "statuses": CampaignRecipient.Status.choices,
        "audience": audience,
        "send_form": CampaignSendForm(),
    }
    return render(request, "marketing/campaign_detail.html", ctx)


@require_POST
@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Send now or schedule: a confirmation page first (with the audience), then the start."""
    campaign = _get_campaign_for_user(request.user, pk)
    form = CampaignSendForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a valid date and time."))
        return redirect("marketing:campaign_detail", pk=campaign.pk)
    if campaign.kind != Campaign.Kind.BROADCAST or campaign.status not in (
        Campaign.Status.DRAFT,
        Campaign.Status.SCHEDULED,
    ):
        messages.error(request, _("This campaign cannot be sent in its current state."))
        return redirect("marketing:campaign_detail", pk=campaign.pk)
    if not form.cleaned_data["confirmed"]:
        ctx = {
            "campaign": campaign,
            "form": form,
            "audience": segment_count(campaign.segment, campaign.created_by),
        }
        return render(request, "marketing/campaign_send_confirm.html", ctx)
    at = form.cleaned_data["scheduled_at"]
    if services.campaign_schedule(campaign=campaign, at=at, user=request.user, request=request):
        messages.success(request, _("Campaign scheduled.") if at else _("Campaign is being sent."))
    else:
        messages.error(request, _("This campaign cannot be sent in its current state."))
    return redirect("marketing:campaign_detail", pk=campaign.pk)


@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign_for_user(request.user, pk)
    if request.method == "POST":
        if services.campaign_cancel(campaign=campaign, user=request.user, request=request):
            messages.success(request, _("Campaign cancelled."))
        else:
            messages.error(request, _("This campaign cannot be cancelled in its current state."))
        return redirect("marketing:campaign_detail", pk=campaign.pk)
    return render(request, "marketing/campaign_confirm_cancel.html", {"campaign": campaign})


@require_POST
@permission_required("marketing.send_campaign", raise_exception=True)
def campaign_activate(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _get_campaign_for_user(request.user, pk)
    if campaign.kind != Campaign.Kind.CARE or campaign.status == Campaign.Status.CANCELLED:
        messages.error(request, _("Only care campaigns are switched on and off."))
        return redirect("marketing:campaign_detail", pk=campaign.pk)
    active = request.POST.get("active") == "on"
    services.care_campaign_set_active(campaign=campaign, active=active, user=request.user, request=request)
    messages.success(request, _("Care campaign switched on.") if active else _("Care campaign paused."))
    return redirect("marketing:campaign_detail", pk=campaign.pk)


# --- unsubscribe (no login: the signed link is the proof) ---------------------------------


@login_not_required
@csrf_exempt  # mail clients' one-click POST (RFC 8058) carries no CSRF token; the link is signed
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    customer_id = services.unsubscribe_customer_id(token)
    customer = Customer.objects.active().filter(pk=customer_id).first() if customer_id else None
    if customer is None:
        return render(request, "marketing/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        services.customer_unsubscribe(customer=customer)
        return render(request, "marketing/unsubscribe.html", {"done": True})
    return render(request, "marketing/unsubscribe.html", {"token": token})
