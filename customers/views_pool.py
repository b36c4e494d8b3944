"""The customer pool (公海) pages: browse and claim, release, assign (customers.pool)."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.db.models.functions import Upper
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.models import User
from core.pagination import keyset_page
from customers import pool as pool_services
from customers.filters import CustomerFilter
from customers.forms import PoolAssignForm, PoolReleaseForm
from customers.models import Customer, CustomerPool, Tag
from customers.views import DEFAULT_SORT, PAGE_SIZES, SORTS, _get_customer_for_user, _masked

# Filters of the ledger that make no sense in the pool (nobody owns these customers).
POOL_EXCLUDED_FILTERS = ("owner", "no_owner")


def _pool_queryset(user: User, pool_ids: list[int]):
    return (
        pool_services.pool_customers_for_user(user, pool_ids)
        .annotate(name_upper=Upper("name"))
        .select_related("team", "pool")
        .defer(
            "notes",
            "preferences",
            "search_text",
            "search_grams",
            "street",
            "wechat",
            "other_phone",
            "churn_risk_reason",
        )
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name", "color")))
    )


def _back(request: HttpRequest) -> str:
    """Where a pool action returns to: the list it came from (same filters), else the pool."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("customers:pool")


@permission_required("customers.view_customer", raise_exception=True)
def pool_list(request: HttpRequest) -> HttpResponse:
    """The pool: customers without an owner in the pools the user works with, with the
    ledger's filters, search and sorting; personal data always masked (no reveal here).
    Queries: session, user, perms, pools, filter choices, count, page, tags of the page,
    the user's held count and claims today — none grows with the page size."""
    user = request.user
    pools = list(CustomerPool.objects.for_user(user))
    params = request.GET.copy()
    selected = None
    if params.get("pool"):
        selected = next((p for p in pools if str(p.pk) == params["pool"]), None)
    pool_ids = [selected.pk] if selected else [p.pk for p in pools]
    sort_key = params.get("sort", DEFAULT_SORT)
    if sort_key not in SORTS:
        sort_key = DEFAULT_SORT
    try:
        per_page = int(params.get("per_page", 50))
    except ValueError:
        per_page = 50
    if per_page not in PAGE_SIZES:
        per_page = 50
    filterset = CustomerFilter(params, queryset=_pool_queryset(user, pool_ids), user=user)
    for name in POOL_EXCLUDED_FILTERS:
        filterset.filters.pop(name, None)
        filterset.form.fields.pop(name, None)
    page = keyset_page(filterset.qs, SORTS[sort_key], params.get("cursor"), per_page)
    for customer in page.object_list:
        customer.masked = _masked(customer, ("mobile", "email"))
    filter_params = params.copy()
    for key in ("cursor", "sort", "per_page"):
        filter_params.pop(key, None)
    can_claim = user.has_perm("customers.claim_customer")
    can_assign = user.has_perm("customers.change_customer_owner")
    ctx = {
        "pools": pools,
        "selected_pool": selected,
        "rules_pool": selected or (pools[0] if len(pools) == 1 else None),
        "filter": filterset,
        "page": page,
        "sort": sort_key,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "filter_query": filter_params.urlencode(),
        "current_url": request.get_full_path(),
        "can_claim": can_claim,
        "can_assign": can_assign,
        "assign_form": PoolAssignForm() if can_assign else None,
        "held": pool_services.held_count(user) if can_claim else None,
        "claimed_today": pool_services.claims_today(user) if can_claim else None,
    }
    if can_assign:
        ctx["assign_form"].fields["owner"].queryset = pool_services.pool_assignees(user)
    return render(request, "customers/pool_list.html", ctx)


@require_POST
@permission_required("customers.claim_customer", raise_exception=True)
def pool_claim(request: HttpRequest, pk: int) -> HttpResponse:
    # Any customer of the user's pools, owned or not: claiming an owned one is answered
    # with an error, not a 404, since it may have been claimed a moment ago.
    pool_ids = pool_services.pool_ids_for_user(request.user)
    customer = get_object_or_404(Customer.objects.active(), pk=pk, pool_id__in=pool_ids)
    try:
        pool_services.pool_customer_claim(customer=customer, user=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(_back(request))
    messages.success(request, _("“%(name)s” is now your customer.") % {"name": customer})
    return redirect("customers:detail", pk=customer.pk)


@require_POST
@permission_required("customers.claim_customer", raise_exception=True)
def pool_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Return a customer to the pool (退回公海): its owner, or a manager of its team (or an
    admin), with a reason."""
    customer = _get_customer_for_user(request.user, pk)
    if customer.owner_id != request.user.pk and not request.user.has_perm("customers.change_customer_owner"):
        raise PermissionDenied
    if customer.is_anonymised:
        raise PermissionDenied
    form = PoolReleaseForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("customers:detail", pk=customer.pk)
    try:
        pool_services.pool_customer_release(
            customer=customer, user=request.user, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("customers:detail", pk=customer.pk)
    messages.success(request, _("“%(name)s” went back to the pool.") % {"name": customer})
    if Customer.objects.visible_to(request.user).filter(pk=customer.pk).exists():
        return redirect("customers:detail", pk=customer.pk)
    return redirect("customers:pool")


@require_POST
@permission_required("customers.change_customer_owner", raise_exception=True)
def pool_assign(request: HttpRequest) -> HttpResponse:
    """Managers assign pool customers (分配) to a rep of their teams; admins to anyone."""
    data = request.POST.copy()
    # Ticked rows arrive as one "ids" value each.
    data["ids"] = ",".join(request.POST.getlist("ids"))
    form = PoolAssignForm(data)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_back(request))
    customers = pool_services.pool_customers_for_user(request.user).filter(pk__in=form.cleaned_data["ids"])
    owner = form.cleaned_data["owner"]
    try:
        result = pool_services.pool_customers_assign(customers=customers, owner=owner, user=request.user)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect(_back(request))
    if result.assigned:
        messages.success(
            request,
            ngettext(
                "%(count)d customer assigned to %(name)s.",
                "%(count)d customers assigned to %(name)s.",
                result.assigned,
            )
            % {"count": result.assigned, "name": owner},
        )
    else:
        messages.warning(request, _("No customer was assigned: they are no longer in the pool."))
    return redirect(_back(request))
