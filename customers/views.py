from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.db.models.functions import Upper
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from core import custom_fields
from core.audit import audit_log
from core.models import AuditLog, User
from core.pagination import SortOption, keyset_page
from core.personal_data import mask_email, mask_phone, mask_text
from core.views_exports import export_response
from customers import exports, services
from customers.filters import CustomerFilter
from customers.forms import (
    BulkActionForm,
    ConsentChangeForm,
    ContactForm,
    CustomerForm,
    DuplicateCheckForm,
    MergeForm,
    PoolReleaseForm,
    SavedViewForm,
)
from customers.models import Contact, Customer, SavedView, Tag
from customers.panels import customer_panels, list_actions
from customers.search import private_search_key, search_customers
from customers.selectors import customer_history
from customers.timeline import customer_timeline, timeline_kinds

SORTS = {
    "-created": SortOption("created_at", descending=True),
    "created": SortOption("created_at", descending=False),
    "name": SortOption("name_upper", descending=False),
    "-name": SortOption("name_upper", descending=True),
    "-contacted": SortOption("last_contacted_at", descending=True, nullable=True),
    "contacted": SortOption("last_contacted_at", descending=False, nullable=True),
    # Churn risk, highest first (cust_churn_risk_idx serves both directions).
    "-risk": SortOption("churn_risk_score", descending=True),
    "risk": SortOption("churn_risk_score", descending=False),
}
DEFAULT_SORT = "-created"
PAGE_SIZES = (25, 50, 100)
# Consent changes listed on the customer page (all of them are in the access export).
CONSENT_SHOWN = 10
MASKERS = {
    "mobile": mask_phone,
    "other_phone": mask_phone,
    "phone": mask_phone,
    "email": mask_email,
    "wechat": mask_text,
    "street": mask_text,
}


# --- access helpers ----------------------------------------------------------------------


def _get_customer_for_user(user: User, pk: int, *, include_deleted: bool = False) -> Customer:
    """404 unless the user may see this customer."""
    qs = Customer.objects.visible_to(user, include_deleted=include_deleted).select_related(
        "owner", "team", "created_by"
    )
    return get_object_or_404(qs, pk=pk)


def _get_rw_customer_for_user(user: User, pk: int) -> Customer:
    """404 unless visible; 403 unless the user may edit basic information."""
    customer = _get_customer_for_user(user, pk)
    # An anonymised placeholder is never edited: that would bring personal data back.
    if not user.has_perm("customers.change_customer") or customer.is_anonymised:
        raise PermissionDenied
    return customer


def _masked(obj, fields) -> dict[str, str]:
    return {f: MASKERS[f](getattr(obj, f)) for f in fields}


def _sensitive(obj, fields, url_name: str, url_args: list, id_prefix: str) -> dict[str, dict]:
    """Masked value, reveal URL and element id of each sensitive field, for the template."""
    return {
        f: {
            "masked": MASKERS[f](getattr(obj, f)),
            "url": reverse(url_name, args=[*url_args, f]),
            "id": f"{id_prefix}{f}",
        }
        for f in fields
    }


# --- list --------------------------------------------------------------------------------


def _list_queryset(user: User):
    return (
        Customer.objects.visible_to(user)
        .annotate(name_upper=Upper("name"))
        .select_related("owner", "team")
        .defer("notes", "preferences", "search_text", "search_grams", "street", "wechat", "other_phone")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id", "name", "color")))
    )


def customer_list(request: HttpRequest) -> HttpResponse:
    """The customer ledger. Queries: session, user, (perms), filter choices, count, page,
    tags of the page, saved views — none grows with the page size."""
    params = request.GET.copy()
    sort_key = params.get("sort", DEFAULT_SORT)
    if sort_key not in SORTS:
        sort_key = DEFAULT_SORT
    try:
        per_page = int(params.get("per_page", 50))
    except ValueError:
        per_page = 50
    if per_page not in PAGE_SIZES:
        per_page = 50
    definitions = custom_fields.definitions("customer")
    list_fields = [field for field in definitions if field.show_in_list]
    filterset = CustomerFilter(
        params, queryset=_list_queryset(request.user), user=request.user, custom_definitions=definitions
    )
    page = keyset_page(filterset.qs, SORTS[sort_key], params.get("cursor"), per_page)
    for customer in page.object_list:
        customer.masked = _masked(customer, ("mobile", "email"))
        # From the row's own JSON column: no query per row.
        customer.custom_cells = custom_fields.list_cells(customer, list_fields)

    # The filter part of the query string, for saved views, sorting links and bulk actions.
    filter_params = params.copy()
    for key in ("cursor", "sort", "per_page"):
        filter_params.pop(key, None)
    ctx = {
        "filter": filterset,
        "page": page,
        "custom_columns": [field.label for field in list_fields],
        "sort": sort_key,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "filter_query": filter_params.urlencode(),
        "filter_query_without_key": _without(filter_params, "qk"),
        "saved_views": SavedView.objects.filter(user=request.user),
        "bulk_form": BulkActionForm(),
        "can_bulk": request.user.has_perm("customers.change_customer"),
        "can_assign": request.user.has_perm("customers.change_customer_owner"),
        "can_delete": request.user.has_perm("customers.delete_customer"),
        "list_actions": list_actions(),
    }
    return render(request, "customers/customer_list.html", ctx)


@require_POST
def customer_search(request: HttpRequest) -> HttpResponse:
    """The filter form posts here; it answers with a redirect to the list URL.

    A phone number or email in the search box becomes its blind-index token (qk), so the
    plaintext never lands in the address bar, browser history, access logs, saved views or
    Referer headers. Names and other filters pass through as they are.
    """
    query = QueryDict(mutable=True)
    for key, values in request.POST.lists():
        if key != "csrfmiddlewaretoken":
            query.setlist(key, [v for v in values if v != ""])
    text = query.get("q", "").strip()
    if text:
        query.pop("qk", None)
        token = private_search_key(text)
        if token is not None:
            query.pop("q")
            query["qk"] = token or "invalid"
    query.pop("cursor", None)
    # Sensitive custom-field filters travel as their blind-index tokens too.
    custom_fields.private_filter_tokens("customer", query)
    # The pool (公海) shares this search form; it says so in a hidden field.
    target = "customers:pool" if query.pop("target", [""])[-1:] == ["pool"] else "customers:list"
    return redirect(reverse(target) + "?" + query.urlencode())


def _without(params: QueryDict, key: str) -> str:
    params = params.copy()
    params.pop(key, None)
    return params.urlencode()


# --- saved views -------------------------------------------------------------------------


@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if form.is_valid():
        view, created = SavedView.objects.update_or_create(
            user=request.user, name=form.cleaned_data["name"], defaults={"query": form.cleaned_data["query"]}
        )
        messages.success(request, _("Saved view “%(name)s”.") % {"name": view.name})
        return redirect(reverse("customers:list") + "?" + view.query)
    messages.error(request, _("Give the view a name."))
    return redirect(reverse("customers:list") + "?" + request.POST.get("query", ""))


@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, user=request.user)
    view.delete()
    messages.success(request, _("Deleted the saved view “%(name)s”.") % {"name": view.name})
    return redirect("customers:list")


# --- bulk actions ------------------------------------------------------------------------


@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponse:
    """Bulk actions on the selected customers (or all that match the filters): a
    confirmation page first, then the change."""
    required = {
        "assign_owner": "customers.change_customer_owner",
        "add_tag": "customers.change_customer",
        "remove_tag": "customers.change_customer",
        "set_stage": "customers.change_customer",
        "delete": "customers.delete_customer",
    }
    # Permission first: someone who may not use the action learns nothing from the form.
    action = request.POST.get("action", "")
    if action in required and not request.user.has_perm(required[action]):
        raise PermissionDenied
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors():
            messages.error(request, error)
        for name, errors in form.errors.items():
            if name != "__all__":
                messages.error(request, f"{form.fields[name].label}: {' '.join(errors)}")
        return redirect(reverse("customers:list") + "?" + request.POST.get("query", ""))
    data = form.cleaned_data
    action = data["action"]
    visible = Customer.objects.visible_to(request.user)
    if data["select_all"]:
        customers = CustomerFilter(QueryDict(data["query"]), queryset=visible, user=request.user).qs
    else:
        customers = visible.filter(pk__in=data["ids"])
    count = customers.count()
    if not data["confirmed"]:
        ctx = {
            "form": form,
            "count": count,
            "action_label": dict(BulkActionForm.ACTIONS)[action],
            "sample": list(customers.order_by("-created_at").only("id", "name")[:10]),
            "back": reverse("customers:list") + "?" + data["query"],
        }
        return render(request, "customers/bulk_confirm.html", ctx)
    if action == "assign_owner":
        result = services.customers_bulk_assign_owner(
            customers=customers, owner=data["owner"], user=request.user, request=request
        )
    elif action in ("add_tag", "remove_tag"):
        result = services.customers_bulk_tag(
            customers=customers, tag=data["tag"], add=action == "add_tag", user=request.user, request=request
        )
    elif action == "set_stage":
        result = services.customers_bulk_set_stage(
            customers=customers, stage=data["stage"], user=request.user, request=request
        )
    else:
        result = services.customers_bulk_delete(customers=customers, user=request.user, request=request)
    messages.success(
        request,
        ngettext("%(count)d customer changed.", "%(count)d customers changed.", result.changed)
        % {"count": result.changed},
    )
    return redirect(reverse("customers:list") + "?" + data["query"])


# --- detail ------------------------------------------------------------------------------


def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_customer_for_user(request.user, pk, include_deleted=True)
    if customer.is_deleted and customer.merged_into_id:
        survivor = Customer.objects.visible_to(request.user).filter(pk=customer.merged_into_id).first()
        if survivor is not None:
            messages.info(request, _("This customer was merged into %(name)s.") % {"name": survivor.name})
            return redirect("customers:detail", pk=survivor.pk)
    contacts = list(customer.contacts.all())
    contact_fields = custom_fields.definitions("contact")
    for contact in contacts:
        contact.sensitive = _sensitive(
            contact,
            Contact.SENSITIVE_FIELDS,
            "customers:contact_reveal",
            [customer.pk, contact.pk],
            f"contact-{contact.pk}-",
        )
        contact.custom_items = custom_fields.detail_items(
            contact,
            contact_fields,
            reveal_url=lambda name, c=contact: reverse(
                "customers:contact_reveal", args=[customer.pk, c.pk, name]
            ),
            id_prefix=f"contact-{contact.pk}-",
        )
    completeness, missing = customer.completeness()
    kinds = [k for k in request.GET.getlist("kind") if k in dict(timeline_kinds())]
    ctx = {
        "customer": customer,
        "sensitive": _sensitive(customer, Customer.SENSITIVE_FIELDS, "customers:reveal", [customer.pk], ""),
        "custom_items": custom_fields.detail_items(
            customer,
            custom_fields.definitions("customer"),
            reveal_url=lambda name: reverse("customers:reveal", args=[customer.pk, name]),
            id_prefix="",
        ),
        "contacts": contacts,
        "tags": list(customer.tags.all()),
        "completeness": completeness,
        "missing": missing,
        "timeline": customer_timeline(customer, request.user, kinds=kinds),
        "timeline_kinds": timeline_kinds(),
        "timeline_selected": kinds,
        "panels": customer_panels(request, customer) if not customer.is_deleted else {},
        "history": customer_history(customer),
        "consent_records": list(
            customer.consent_records.select_related("recorded_by").order_by("-at", "-id")[:CONSENT_SHOWN]
        ),
        "consent_form": ConsentChangeForm(),
        "can_edit": request.user.has_perm("customers.change_customer")
        and not customer.is_deleted
        and not customer.is_anonymised,
        "can_handle_privacy": request.user.has_perm("customers.handle_privacy_requests"),
        "can_reveal": request.user.has_perm("customers.view_sensitive"),
        "can_delete": request.user.has_perm("customers.delete_customer"),
        "can_merge": request.user.has_perm("customers.merge_customer"),
        "stale": customer.is_stale(),
        "can_release": customer.owner_id is not None
        and not customer.is_deleted
        and not customer.is_anonymised
        and request.user.has_perm("customers.claim_customer")
        and (
            customer.owner_id == request.user.pk or request.user.has_perm("customers.change_customer_owner")
        ),
        "release_form": PoolReleaseForm(),
    }
    return render(request, "customers/customer_detail.html", ctx)


@require_POST
@permission_required("customers.view_sensitive", raise_exception=True)
def customer_reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """Show one sensitive field in clear; every reveal is logged."""
    customer = _get_customer_for_user(request.user, pk)
    return _reveal(request, customer, "customer", field, Customer.SENSITIVE_FIELDS)


def _reveal(request: HttpRequest, obj, target: str, field: str, built_in: tuple[str, ...]) -> JsonResponse:
    """One sensitive field in clear, built-in or custom (cf_<key>), and its audit entry."""
    custom = custom_fields.sensitive_field(target, field)
    if field not in built_in and custom is None:
        return JsonResponse({"error": _("Unknown field.")}, status=400)
    audit_log(actor=request.user, action=AuditLog.Action.REVEAL, obj=obj, field=field, request=request)
    value = custom_fields.revealed_text(obj, custom) if custom is not None else getattr(obj, field)
    return JsonResponse({"value": value})


@require_POST
@permission_required("customers.view_sensitive", raise_exception=True)
def contact_reveal(request: HttpRequest, pk: int, contact_pk: int, field: str) -> HttpResponse:
    customer = _get_customer_for_user(request.user, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, customer=customer)
    return _reveal(request, contact, "contact", field, Contact.SENSITIVE_FIELDS)


@require_POST
def customer_verify(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_rw_customer_for_user(request.user, pk)
    services.customer_mark_verified(customer=customer, user=request.user)
    messages.success(request, _("Marked the information as verified today."))
    return redirect("customers:detail", pk=customer.pk)


# --- create / edit -----------------------------------------------------------------------


# Personal data never reaches error reports (mail to admins, logs) in clear: every posted
# value of these forms is hidden, so admin-defined sensitive custom fields (cf_<key>) are too.
SENSITIVE_POST = sensitive_post_parameters()


@SENSITIVE_POST
@permission_required("customers.add_customer", raise_exception=True)
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        if "owner" not in data:
            data["owner"] = request.user
        try:
            customer = services.customer_create(user=request.user, data=data, tags=form.cleaned_data["tags"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if form.override_reason:
                audit_log(
                    actor=request.user,
                    action=AuditLog.Action.DUPLICATE_OVERRIDE,
                    obj=customer,
                    request=request,
                    reason=form.override_reason,
                    matches=[d.pk for d in form.hard_duplicates],
                )
            messages.success(request, _("Customer “%(name)s” created.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", _form_ctx(request, form, None))


@SENSITIVE_POST
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_rw_customer_for_user(request.user, pk)
    form = CustomerForm(request.POST or None, instance=customer, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                customer=customer,
                user=request.user,
                data=form.service_data(),
                tags=form.cleaned_data["tags"],
                request=request,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_form.html", _form_ctx(request, form, customer))


@permission_required("customers.view_customer", raise_exception=True)
def customer_check(request: HttpRequest) -> HttpResponse:
    """The duplicate check (查重): is this phone, email or company already on record, whoever
    owns it? A match the user may not see is answered with its owner (or "in the pool") and
    its date only, never its details. Queries: session, user, perms, the lookup, visibility."""
    form = DuplicateCheckForm(request.GET or None)
    matches = None
    if form.is_bound and form.is_valid():
        found = list(
            services.customer_duplicate_lookup(
                phone=form.cleaned_data["phone"],
                email=form.cleaned_data["email"],
                company=form.cleaned_data["company"],
            )
        )
        visible = set(
            Customer.objects.visible_to(request.user)
            .filter(pk__in=[c.pk for c in found])
            .values_list("pk", flat=True)
        )
        matches = [{"customer": c, "visible": c.pk in visible} for c in found]
    return render(request, "customers/customer_check.html", {"form": form, "matches": matches})


def _form_ctx(request: HttpRequest, form: CustomerForm, customer: Customer | None) -> dict:
    visible_ids = set()
    if form.duplicates:
        visible_ids = set(
            Customer.objects.visible_to(request.user)
            .filter(pk__in=[d.pk for d in form.duplicates])
            .values_list("pk", flat=True)
        )
    # Matches the user may not see are named only by owner and date, never by content.
    duplicates = [{"customer": d, "visible": d.pk in visible_ids} for d in form.duplicates]
    return {
        "form": form,
        "customer": customer,
        "duplicates": duplicates,
        "hard_duplicates": bool(form.hard_duplicates),
    }


# --- contacts ----------------------------------------------------------------------------


@SENSITIVE_POST
def contact_create(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_rw_customer_for_user(request.user, pk)
    form = ContactForm(request.POST or None, instance=Contact(customer=customer))
    if request.method == "POST" and form.is_valid():
        services.contact_save(contact=form.save(commit=False), user=request.user)
        messages.success(request, _("Contact added."))
        return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/contact_form.html", {"form": form, "customer": customer})


@SENSITIVE_POST
def contact_edit(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _get_rw_customer_for_user(request.user, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, customer=customer)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        services.contact_save(contact=form.save(commit=False), user=request.user)
        messages.success(request, _("Contact saved."))
        return redirect("customers:detail", pk=customer.pk)
    return render(
        request, "customers/contact_form.html", {"form": form, "customer": customer, "contact": contact}
    )


@require_POST
def contact_delete(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _get_rw_customer_for_user(request.user, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, customer=customer)
    services.contact_delete(contact=contact, user=request.user)
    messages.success(request, _("Contact deleted."))
    return redirect("customers:detail", pk=customer.pk)


# --- delete, recycle bin -----------------------------------------------------------------


@permission_required("customers.delete_customer", raise_exception=True)
def customer_delete(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_customer_for_user(request.user, pk)
    if request.method == "POST":
        services.customer_delete(customer=customer, user=request.user, request=request)
        messages.success(
            request,
            _("“%(name)s” moved to the recycle bin. It can be restored for %(days)d days.")
            % {"name": customer.name, "days": _recycle_days()},
        )
        return redirect("customers:list")
    return render(request, "customers/customer_confirm_delete.html", {"customer": customer})


def _recycle_days() -> int:
    return settings.CUSTOMER_RECYCLE_BIN_DAYS


@permission_required("customers.delete_customer", raise_exception=True)
def recycle_bin(request: HttpRequest) -> HttpResponse:
    qs = (
        Customer.objects.visible_to(request.user, include_deleted=True)
        .deleted()
        .select_related("owner", "deleted_by")
        .only("id", "name", "company", "deleted_at", "owner", "deleted_by")
    )
    page = keyset_page(
        qs, SortOption("deleted_at", descending=True, nullable=True), request.GET.get("cursor"), 50
    )
    ctx = {
        "page": page,
        "days": _recycle_days(),
        "can_purge": request.user.has_perm("customers.purge_customer"),
    }
    return render(request, "customers/recycle_bin.html", ctx)


def _get_deleted_customer_for_user(user: User, pk: int) -> Customer:
    qs = Customer.objects.visible_to(user, include_deleted=True).deleted()
    return get_object_or_404(qs, pk=pk)


@require_POST
@permission_required("customers.delete_customer", raise_exception=True)
def customer_restore(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_deleted_customer_for_user(request.user, pk)
    services.customer_restore(customer=customer, user=request.user, request=request)
    messages.success(request, _("“%(name)s” restored.") % {"name": customer.name})
    return redirect("customers:detail", pk=customer.pk)


@require_POST
@permission_required("customers.purge_customer", raise_exception=True)
def customer_purge(request: HttpRequest, pk: int) -> HttpResponse:
    customer = _get_deleted_customer_for_user(request.user, pk)
    name = customer.name
    services.customer_purge(customer=customer, user=request.user, request=request)
    messages.success(request, _("“%(name)s” deleted for good.") % {"name": name})
    return redirect("customers:recycle_bin")


# --- merge -------------------------------------------------------------------------------


@permission_required("customers.merge_customer", raise_exception=True)
def customer_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the customer to fold into this one, then which values survive."""
    survivor = _get_customer_for_user(request.user, pk)
    other_pk = request.GET.get("other") or request.POST.get("other")
    ctx: dict = {"survivor": survivor}
    if not other_pk:
        # Posted, so a phone number or email searched for stays out of URLs and logs.
        query = request.POST.get("q") or request.GET.get("q", "")
        candidates = []
        if query:
            candidates = list(
                search_customers(Customer.objects.visible_to(request.user), query)
                .exclude(pk=survivor.pk)
                .select_related("owner")
                .order_by("-created_at")[:20]
            )
        ctx.update({"query": query, "candidates": candidates})
        return render(request, "customers/customer_merge_pick.html", ctx)
    try:
        merged = _get_customer_for_user(request.user, int(other_pk))
    except ValueError:
        raise Http404 from None
    if merged.pk == survivor.pk:
        messages.error(request, _("Choose another customer: a customer cannot be merged into itself."))
        return redirect("customers:merge", pk=survivor.pk)
    form = MergeForm(request.POST or None, survivor=survivor, merged=merged)
    if request.method == "POST" and form.is_valid():
        services.customer_merge(
            survivor=survivor, merged=merged, choices=form.choices(), user=request.user, request=request
        )
        messages.success(
            request,
            _("“%(merged)s” merged into “%(survivor)s”.")
            % {"merged": merged.name, "survivor": survivor.name},
        )
        return redirect("customers:detail", pk=survivor.pk)
    rows = []
    for name in form.differing:
        rows.append(
            {
                "field": form[name],
                "left": _merge_display(survivor, name),
                "right": _merge_display(merged, name),
            }
        )
    ctx.update({"merged": merged, "form": form, "rows": rows})
    return render(request, "customers/customer_merge.html", ctx)


def _merge_display(customer: Customer, name: str) -> str:
    if name in MASKERS:
        return MASKERS[name](getattr(customer, name))
    field = Customer._meta.get_field(name)
    if field.choices:
        return getattr(customer, f"get_{name}_display")()
    value = getattr(customer, name)
    return "" if value is None else str(value)


# --- export ------------------------------------------------------------------------------


@permission_required("customers.export_customer", raise_exception=True)
def customer_export(request: HttpRequest) -> HttpResponse:
    """The customers of the ledger's current filters as xlsx or csv, within the user's
    scope, masked unless the user may reveal personal data (customers.exports); long lists
    are built in the background (core.views_exports)."""
    return export_response(request, exports.EXPORTER.kind)
