"""Personal-information rights on one customer: the access export, erasure (anonymisation) and
marketing-consent changes. Export and erasure need customers.handle_privacy_requests (admins)
besides seeing the customer: 404 outside the user's scope, then 403 without the permission."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.models import User
from customers import privacy, services
from customers.forms import AccessRequestForm, ConsentChangeForm, ErasureForm
from customers.models import Customer, PrivacyRequest
from customers.views import _get_customer_for_user, _get_rw_customer_for_user

PERMISSION = "customers.handle_privacy_requests"


def _get_privacy_customer_for_user(user: User, pk: int) -> Customer:
    """404 unless the user may see the customer (recycle bin included); 403 unless they
    handle privacy requests."""
    customer = _get_customer_for_user(user, pk, include_deleted=True)
    if not user.has_perm(PERMISSION):
        raise PermissionDenied
    return customer


def _page(request: HttpRequest, customer: Customer, *, access_form=None, erasure_form=None, status=200):
    ctx = {
        "customer": customer,
        "access_form": access_form or AccessRequestForm(),
        "erasure_form": erasure_form or ErasureForm(customer=customer),
        "requests": list(
            PrivacyRequest.objects.filter(customer=customer)
            .select_related("requested_by")
            .order_by("-created_at")[:50]
        ),
    }
    return render(request, "customers/privacy.html", ctx, status=status)


def customer_privacy(request: HttpRequest, pk: int) -> HttpResponse:
    """The customer's privacy page: export their data, erase it, the requests handled so far."""
    customer = _get_privacy_customer_for_user(request.user, pk)
    return _page(request, customer)


@require_POST
def customer_privacy_export(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_privacy_customer_for_user(request.user, pk)
    form = AccessRequestForm(request.POST)
    if not form.is_valid():
        return _page(request, customer, access_form=form, status=400)
    fmt = form.cleaned_data["format"]
    content, filename = privacy.privacy_access_export(
        customer=customer,
        user=request.user,
        fmt=fmt,
        reason=form.cleaned_data["reason"],
        reference=form.cleaned_data["reference"],
        request=request,
    )
    response = HttpResponse(content, content_type=privacy.EXPORT_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Personal data: never kept by a browser or proxy cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def customer_erase(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_privacy_customer_for_user(request.user, pk)
    if customer.is_anonymised:
        messages.info(request, _("This customer's personal data was already erased."))
        return redirect("customers:privacy", pk=customer.pk)
    form = ErasureForm(request.POST, customer=customer)
    if not form.is_valid():
        return _page(request, customer, erasure_form=form, status=400)
    try:
        privacy.customer_erase(
            customer=customer,
            user=request.user,
            reason=form.cleaned_data["reason"],
            reference=form.cleaned_data["reference"],
            request=request,
        )
    except privacy.AlreadyAnonymised:
        messages.info(request, _("This customer's personal data was already erased."))
    else:
        # No name in the message: it would be kept in the session.
        messages.success(
            request, _("The personal data of customer #%(number)d was erased.") % {"number": customer.pk}
        )
    return redirect("customers:privacy", pk=customer.pk)


@require_POST
def customer_consent(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a marketing consent given or withdrawn (by phone, an unsubscribe link...)."""
    customer = _get_rw_customer_for_user(request.user, pk)
    form = ConsentChangeForm(request.POST)
    if form.is_valid():
        try:
            services.consent_record_change(
                customer=customer,
                granted=form.cleaned_data["granted"],
                channel=form.cleaned_data["channel"],
                source=form.cleaned_data["source"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Consent change recorded."))
    else:
        messages.error(request, _("Choose whether consent was given or withdrawn, and how."))
    return redirect(reverse("customers:detail", args=[customer.pk]) + "#consent")
