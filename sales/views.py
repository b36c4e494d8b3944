from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.models import User
from core.pagination import SortOption, keyset_page
from core.views_exports import export_response
from customers.models import Customer
from sales import selectors, services
from sales.forms import OrderForm, OrderLineFormSet, OrderStatusForm
from sales.models import Opportunity, Order, Product


def _get_order_for_user(user: User, pk: int) -> Order:
    qs = Order.objects.visible_to(user).select_related("customer", "owner", "created_by")
    return get_object_or_404(qs, pk=pk)


def _get_rw_order_for_user(user: User, pk: int) -> Order:
    order = _get_order_for_user(user, pk)
    if not user.has_perm("sales.change_order"):
        raise PermissionDenied
    return order


def index(request: HttpRequest) -> HttpResponse:
    if request.user.has_perm("sales.change_opportunity"):
        return redirect("sales:pipeline")
    return redirect("sales:order_list")


@permission_required("sales.view_order", raise_exception=True)
def order_list(request: HttpRequest) -> HttpResponse:
    """Queries: session, user, perms (2), managed teams, filter choices, capped count, page."""
    filterset = selectors.order_list_filter(request.user, request.GET)
    qs = filterset.qs.select_related("customer", "owner")
    page = keyset_page(qs, selectors.ORDER_LIST_SORT, request.GET.get("cursor"), 50)
    params = request.GET.copy()
    params.pop("cursor", None)
    ctx = {"filter": filterset, "page": page, "filter_query": params.urlencode()}
    return render(request, "sales/order_list.html", ctx)


@permission_required("sales.export_order", raise_exception=True)
def order_export(request: HttpRequest) -> HttpResponse:
    """The orders of the list's current filters as xlsx or csv (sales.exports; long lists in
    the background)."""
    return export_response(request, "orders")


def _order_form_ctx(form, formset, order=None, customer=None, opportunity=None) -> dict:
    return {
        "form": form,
        "formset": formset,
        "order": order,
        "customer": customer,
        "opportunity": opportunity,
    }


@permission_required("sales.add_order", raise_exception=True)
def order_create(request: HttpRequest) -> HttpResponse:
    """New order for a customer (?customer=), optionally from a won opportunity (?opportunity=)."""
    visible = Customer.objects.visible_to(request.user)
    customer_id = request.GET.get("customer") or request.POST.get("customer")
    if not customer_id or not str(customer_id).isdigit():
        messages.info(request, _("Open the customer first, then “New order”."))
        return redirect("customers:list")
    customer = get_object_or_404(visible, pk=int(customer_id))
    opportunity = None
    opportunity_id = request.GET.get("opportunity") or request.POST.get("opportunity")
    if opportunity_id and str(opportunity_id).isdigit():
        opportunity = get_object_or_404(
            Opportunity.objects.visible_to(request.user).filter(customer=customer, order__isnull=True),
            pk=int(opportunity_id),
        )
    initial = {"customer": customer, "owner": customer.owner_id or request.user.pk}
    if opportunity is not None:
        initial["notes"] = opportunity.title
    form = OrderForm(request.POST or None, customer_choices=visible, user=request.user, initial=initial)
    formset = OrderLineFormSet(request.POST or None, instance=Order(), prefix="lines")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = dict(form.cleaned_data)
        data.setdefault("owner", None)
        try:
            order = services.order_create(
                user=request.user, data=data, lines=formset.line_data(), opportunity=opportunity
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Order %(number)s recorded.") % {"number": order.number})
            return redirect("sales:order_detail", pk=order.pk)
    return render(
        request,
        "sales/order_form.html",
        _order_form_ctx(form, formset, customer=customer, opportunity=opportunity),
    )


def order_edit(request: HttpRequest, pk: int) -> HttpResponse:
    order = _get_rw_order_for_user(request.user, pk)
    if not order.is_counted:
        messages.error(request, _("A cancelled or refunded order cannot be edited."))
        return redirect("sales:order_detail", pk=order.pk)
    visible = Customer.objects.visible_to(request.user)
    form = OrderForm(request.POST or None, instance=order, customer_choices=visible, user=request.user)
    formset = OrderLineFormSet(request.POST or None, instance=order, prefix="lines")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        try:
            with transaction.atomic():
                services.order_update(
                    order=order, user=request.user, data=form.cleaned_data, lines=formset.line_data()
                )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:order_detail", pk=order.pk)
    return render(
        request, "sales/order_form.html", _order_form_ctx(form, formset, order=order, customer=order.customer)
    )


def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = _get_order_for_user(request.user, pk)
    ctx = {
        "order": order,
        "lines": list(order.lines.select_related("product")),
        "opportunity": Opportunity.objects.filter(order=order).only("id", "title").first(),
        "can_change": request.user.has_perm("sales.change_order"),
        "next_statuses": _next_statuses(order),
    }
    return render(request, "sales/order_detail.html", ctx)


def _next_statuses(order: Order) -> list[tuple[str, str]]:
    S = Order.Status
    following = {
        S.PENDING: [S.PAID, S.CANCELLED],
        S.PAID: [S.SHIPPED, S.COMPLETED, S.REFUNDED],
        S.SHIPPED: [S.COMPLETED, S.REFUNDED],
        S.COMPLETED: [S.REFUNDED],
    }.get(order.status, [])
    return [(s, S(s).label) for s in following]


@require_POST
@permission_required("sales.change_order", raise_exception=True)
def order_status(request: HttpRequest, pk: int) -> HttpResponse:
    order = _get_order_for_user(request.user, pk)
    form = OrderStatusForm(request.POST)
    allowed = dict(_next_statuses(order))
    if not form.is_valid() or form.cleaned_data["status"] not in allowed:
        messages.error(request, _("This order cannot move to that status."))
        return redirect("sales:order_detail", pk=order.pk)
    try:
        services.order_set_status(order=order, user=request.user, status=form.cleaned_data["status"])
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _("Order %(number)s is now “%(status)s”.")
            % {"number": order.number, "status": order.get_status_display()},
        )
    return redirect("sales:order_detail", pk=order.pk)


@permission_required("sales.view_product", raise_exception=True)
def product_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    qs = Product.objects.all()
    if query:
        qs = qs.filter(name__icontains=query) | qs.filter(sku__icontains=query)
    page = keyset_page(qs, SortOption("id", descending=True), request.GET.get("cursor"), 50)
    ctx = {"page": page, "query": query, "can_manage": request.user.has_perm("sales.change_product")}
    return render(request, "sales/product_list.html", ctx)
