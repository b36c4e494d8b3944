"""Opportunities, the pipeline board and the forecast.

Every lookup starts from Opportunity.objects.visible_to(user) (the customer's scope, plus
the opportunities a user owns); writes go through sales.services so the stage history, the
probability and the follow-up tasks follow whichever page made the change.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Round, TruncMonth
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from core import custom_fields
from core.audit import audit_log
from core.models import AuditLog, User
from core.pagination import keyset_page
from core.views_exports import export_response
from customers.models import Customer
from customers.search import search_customers
from interactions.models import Task
from sales import selectors, services
from sales.filters_pipeline import BoardFilter, next_month
from sales.forms_pipeline import CustomerPickForm, OpportunityForm, OpportunityMoveForm, active_stages
from sales.models import Opportunity, OpportunityStageChange, PipelineStage, money

PAGE_SIZES = (25, 50, 100)
BOARD_CARDS_PER_COLUMN = 30
FORECAST_MONTHS = 6
HOME_CURRENCY = Opportunity.Currency.CNY

# amount × probability / 100, rounded to cents per opportunity like Opportunity.weighted_amount,
# so the sums on the board and the forecast add up to the figures on the cards.
WEIGHTED = Round(
    ExpressionWrapper(
        F("amount") * F("probability") / Value(Decimal("100")),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    ),
    2,
    output_field=DecimalField(max_digits=20, decimal_places=2),
)


# --- helpers -------------------------------------------------------------------------------


def _is_fetch(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def money_display(amount: Decimal | None, currency: str = HOME_CURRENCY) -> str:
    """¥1,234.50 for yuan, "USD 1,234.50" for the others; grouped like floatformat:"2g"."""
    number = formats.number_format(money(amount or Decimal("0")), 2, use_l10n=True, force_grouping=True)
    return f"¥{number}" if currency == HOME_CURRENCY else f"{currency} {number}"


def _amounts_display(by_currency: dict[str, Decimal]) -> str:
    """Yuan first, then any other currency, never added together: "¥1,000.00 + USD 50.00"."""
    parts = [money_display(by_currency.get(HOME_CURRENCY, Decimal("0")), HOME_CURRENCY)]
    parts += [
        money_display(by_currency[c], c) for c in sorted(by_currency) if c != HOME_CURRENCY and by_currency[c]
    ]
    return " + ".join(parts)


def humanise_seconds(seconds: int) -> str:
    """3 days, 4 hours (two units at most; Django's own translations)."""
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now, depth=2)


def _service_errors(form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: on the field when the form has it."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


# --- access helpers ------------------------------------------------------------------------


def _get_opportunity_for_user(user: User, pk: int) -> Opportunity:
    """404 unless the user may see this opportunity."""
    qs = Opportunity.objects.visible_to(user).select_related(
        "customer", "owner", "team", "stage", "order", "created_by"
    )
    return get_object_or_404(qs, pk=pk)


def _get_rw_opportunity_for_user(user: User, pk: int) -> Opportunity:
    """404 unless visible; 403 unless the user may work on opportunities."""
    opportunity = _get_opportunity_for_user(user, pk)
    if not user.has_perm("sales.change_opportunity"):
        raise PermissionDenied
    return opportunity


def _order_create_url(opportunity: Opportunity) -> str:
    return reverse("sales:order_create") + f"?customer={opportunity.customer_id}&opportunity={opportunity.pk}"


# --- list ----------------------------------------------------------------------------------


def _with_list_columns(qs):
    """What a row of the list shows: customer, owner and stage joined, nothing more loaded."""
    return qs.select_related("customer", "owner", "stage").only(
        "id",
        "title",
        "custom",
        "amount",
        "currency",
        "probability",
        "expected_close_date",
        "created_at",
        "closed_at",
        "customer__id",
        "customer__name",
        "owner__id",
        "owner__username",
        "owner__first_name",
        "owner__last_name",
        "stage__id",
        "stage__name",
        "stage__name_en",
        "stage__kind",
    )


@permission_required("sales.view_opportunity", raise_exception=True)
def opportunity_list(request: HttpRequest) -> HttpResponse:
    """Queries: session, user, perms (2), managed teams, stage / owner / team choices,
    capped count, the page (customer, owner and stage joined) — none grows with the page."""
    params = request.GET.copy()
    # A sensitive custom-field filter typed into the form arrives in clear: answer with the
    # same list addressed by its blind-index token, so that the value does not stay in the
    # address bar, the browser's history, saved links or Referer headers.
    definitions = custom_fields.definitions("opportunity")
    tokenised = params.copy()
    custom_fields.private_filter_tokens("opportunity", tokenised, definitions)
    if tokenised.urlencode() != params.urlencode():
        return redirect(f"{request.path}?{tokenised.urlencode()}")
    sort_key, sort = selectors.opportunity_list_sort(params)
    try:
        per_page = int(params.get("per_page", 50))
    except ValueError:
        per_page = 50
    if per_page not in PAGE_SIZES:
        per_page = 50
    list_fields = [field for field in definitions if field.show_in_list]
    filterset = selectors.opportunity_list_filter(request.user, params, custom_definitions=definitions)
    page = keyset_page(_with_list_columns(filterset.qs), sort, params.get("cursor"), per_page)
    for opportunity in page.object_list:
        opportunity.custom_cells = custom_fields.list_cells(opportunity, list_fields)
    filter_params = params.copy()
    for key in ("cursor", "sort", "per_page"):
        filter_params.pop(key, None)
    # The export writes the rows in the list's order.
    export_params = filter_params.copy()
    if sort_key != selectors.OPPORTUNITY_DEFAULT_SORT:
        export_params["sort"] = sort_key
    ctx = {
        "filter": filterset,
        "page": page,
        "custom_columns": [field.label for field in list_fields],
        "sort": sort_key,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "filter_query": filter_params.urlencode(),
        "export_query": export_params.urlencode(),
        "today": timezone.localdate(),
    }
    return render(request, "sales/pipeline/opportunity_list.html", ctx)


@permission_required("sales.export_opportunity", raise_exception=True)
def opportunity_export(request: HttpRequest) -> HttpResponse:
    """The opportunities of the list's current filters and order as xlsx or csv
    (sales.exports; long lists in the background)."""
    return export_response(request, "opportunities")


# --- create / edit -------------------------------------------------------------------------


def _customer_pick(request: HttpRequest) -> HttpResponse:
    """The create page opened without ?customer=: find the customer first. The search is
    posted, so a phone number or email searched for stays out of URLs and logs."""
    form = CustomerPickForm(request.POST or request.GET or None)
    candidates = []
    query = ""
    if form.is_bound and form.is_valid():
        query = form.cleaned_data["q"].strip()
        if query:
            candidates = list(
                search_customers(Customer.objects.visible_to(request.user), query)
                .select_related("owner")
                .only(
                    "id",
                    "name",
                    "company",
                    "owner__id",
                    "owner__username",
                    "owner__first_name",
                    "owner__last_name",
                )
                .order_by("-created_at")[:20]
            )
    ctx = {"form": form, "query": query, "candidates": candidates}
    return render(request, "sales/pipeline/customer_pick.html", ctx)


@sensitive_post_parameters()  # sensitive custom fields (cf_<key>) stay out of error reports
@permission_required("sales.add_opportunity", raise_exception=True)
def opportunity_create(request: HttpRequest) -> HttpResponse:
    customer_pk = request.GET.get("customer")
    if not customer_pk:
        return _customer_pick(request)
    try:
        customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=int(customer_pk))
    except ValueError:
        raise Http404 from None
    stages = list(active_stages())
    form = OpportunityForm(request.POST or None, user=request.user, stages=stages)
    if request.method == "POST" and form.is_valid():
        data = form.service_data()
        data["customer"] = customer
        # Only users who may assign owners choose one; everyone else owns what they create.
        data.setdefault("owner", request.user)
        try:
            opportunity = services.opportunity_create(user=request.user, data=data)
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Opportunity “%(title)s” created.") % {"title": opportunity.title})
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    ctx = {"form": form, "customer": customer, "opportunity": None}
    return render(request, "sales/pipeline/opportunity_form.html", ctx)


@sensitive_post_parameters()
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = _get_rw_opportunity_for_user(request.user, pk)
    stages = list(active_stages())
    form = OpportunityForm(request.POST or None, instance=opportunity, user=request.user, stages=stages)
    if request.method == "POST" and form.is_valid():
        try:
            services.opportunity_update(opportunity=opportunity, user=request.user, data=form.service_data())
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    ctx = {"form": form, "customer": opportunity.customer, "opportunity": opportunity}
    return render(request, "sales/pipeline/opportunity_form.html", ctx)


# --- detail --------------------------------------------------------------------------------


@require_POST
@permission_required("customers.view_sensitive", raise_exception=True)
def opportunity_reveal(request: HttpRequest, pk: int, field: str) -> HttpResponse:
    """Show one sensitive custom field (cf_<key>) in clear; every reveal is logged."""
    opportunity = _get_opportunity_for_user(request.user, pk)
    custom = custom_fields.sensitive_field("opportunity", field)
    if custom is None:
        return JsonResponse({"error": _("Unknown field.")}, status=400)
    audit_log(
        actor=request.user, action=AuditLog.Action.REVEAL, obj=opportunity, field=field, request=request
    )
    return JsonResponse({"value": custom_fields.revealed_text(opportunity, custom)})


def _stage_durations(opportunity: Opportunity, changes: list[OpportunityStageChange]) -> list[dict]:
    """Total time per stage, in the order the stages were first entered; the current stage
    counts until now while the opportunity is open."""
    seconds: dict[int, int] = {}
    stages: dict[int, PipelineStage] = {}
    for change in changes:
        stages.setdefault(change.to_stage_id, change.to_stage)
        seconds.setdefault(change.to_stage_id, 0)
        if change.from_stage_id is not None:
            seconds[change.from_stage_id] = seconds.get(change.from_stage_id, 0) + change.seconds_in_previous
    stages.setdefault(opportunity.stage_id, opportunity.stage)
    if not opportunity.stage.is_closed:
        ongoing = int((timezone.now() - opportunity.stage_entered_at).total_seconds())
        seconds[opportunity.stage_id] = seconds.get(opportunity.stage_id, 0) + max(0, ongoing)
    return [
        {
            "stage": stage,
            "seconds": seconds.get(pk, 0),
            "human": humanise_seconds(seconds.get(pk, 0)),
            "current": pk == opportunity.stage_id,
        }
        for pk, stage in stages.items()
        if not (stage.is_closed and pk == opportunity.stage_id)
    ]


@permission_required("sales.view_opportunity", raise_exception=True)
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = _get_opportunity_for_user(request.user, pk)
    changes = list(opportunity.stage_changes.select_related("from_stage", "to_stage", "changed_by"))
    for change in changes:
        change.time_in_previous = humanise_seconds(change.seconds_in_previous) if change.from_stage_id else ""
    tasks = list(
        Task.objects.visible_to(request.user)
        .filter(subject_type=ContentType.objects.get_for_model(Opportunity), subject_id=opportunity.pk)
        .select_related("assignee")
        .order_by(Case(When(status=Task.Status.OPEN, then=0), default=1), "due_at", "pk")
    )
    stages = list(active_stages())
    can_move = request.user.has_perm("sales.change_opportunity")
    move_to = request.GET.get("move_to", "")
    move_form = OpportunityMoveForm(
        initial={"stage": int(move_to) if move_to.isdigit() else opportunity.stage_id}, stages=stages
    )
    is_won = opportunity.stage.kind == PipelineStage.Kind.WON
    ctx = {
        "opportunity": opportunity,
        "custom_items": custom_fields.detail_items(
            opportunity,
            custom_fields.definitions("opportunity"),
            reveal_url=lambda name: reverse("sales:opportunity_reveal", args=[opportunity.pk, name]),
            id_prefix="",
        ),
        "can_reveal": request.user.has_perm("customers.view_sensitive"),
        "changes": changes,
        "durations": _stage_durations(opportunity, changes),
        "tasks": tasks,
        "stages": stages,
        "move_form": move_form,
        "can_move": can_move,
        "can_edit": can_move,
        "offer_order": is_won and opportunity.order_id is None and request.user.has_perm("sales.add_order"),
        "order_create_url": _order_create_url(opportunity),
        "today": timezone.localdate(),
    }
    return render(request, "sales/pipeline/opportunity_detail.html", ctx)


# --- move ----------------------------------------------------------------------------------


def _move_failed(
    request: HttpRequest, opportunity: Opportunity, error: str, *, lost_stage: PipelineStage | None = None
) -> HttpResponse:
    if _is_fetch(request):
        return JsonResponse({"ok": False, "error": error}, status=400)
    messages.error(request, error)
    if lost_stage is not None:
        # Without a reason a lost move cannot happen: the detail page's form asks for one.
        detail = reverse("sales:opportunity_detail", args=[opportunity.pk])
        return redirect(f"{detail}?move_to={lost_stage.pk}#move")
    return redirect(_next_url(request, reverse("sales:opportunity_detail", args=[opportunity.pk])))


@require_POST
def opportunity_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move an opportunity to another stage: the board's drag and drop (fetch, JSON answer
    with the columns' new totals) and the card / detail forms (redirect back)."""
    try:
        opportunity = _get_rw_opportunity_for_user(request.user, pk)
    except Http404:
        if _is_fetch(request):
            return JsonResponse({"ok": False, "error": _("This opportunity does not exist.")}, status=404)
        raise
    except PermissionDenied:
        if _is_fetch(request):
            return JsonResponse({"ok": False, "error": _("You may not move opportunities.")}, status=403)
        raise
    stages = list(active_stages())
    form = OpportunityMoveForm(request.POST, stages=stages)
    if not form.is_valid():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        return _move_failed(request, opportunity, " ".join(errors))
    stage = form.cleaned_data["stage"]
    try:
        opportunity = services.opportunity_move(
            opportunity=opportunity,
            stage=stage,
            user=request.user,
            lost_reason=form.cleaned_data["lost_reason"],
        )
    except ValidationError as exc:
        lost = stage if getattr(exc, "code", None) == "lost_reason" else None
        return _move_failed(request, opportunity, " ".join(exc.messages), lost_stage=lost)

    won = stage.kind == PipelineStage.Kind.WON
    offer_order = won and opportunity.order_id is None and request.user.has_perm("sales.add_order")
    if _is_fetch(request):
        board_params = QueryDict(request.POST.get("board_query", ""))
        _filterset, board_qs = _board_queryset(request.user, board_params)
        return JsonResponse(
            {
                "ok": True,
                "stage": stage.pk,
                "probability": opportunity.probability,
                "column_totals": _column_totals(board_qs, stages),
                "won": won,
                "order_url": _order_create_url(opportunity) if offer_order else None,
                "message": _("Moved to %(stage)s.") % {"stage": stage.label},
            }
        )
    if won:
        if offer_order:
            messages.success(
                request,
                _("“%(title)s” is won. Create the order for it now: use the button below.")
                % {"title": opportunity.title},
            )
        else:
            messages.success(request, _("“%(title)s” is won.") % {"title": opportunity.title})
        return redirect("sales:opportunity_detail", pk=opportunity.pk)
    messages.success(
        request, _("“%(title)s” moved to %(stage)s.") % {"title": opportunity.title, "stage": stage.label}
    )
    return redirect(_next_url(request, reverse("sales:opportunity_detail", args=[opportunity.pk])))


# --- the board -----------------------------------------------------------------------------


def _period_start() -> datetime:
    """Start of the current month: the won and lost columns show what closed since."""
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today.replace(day=1), time.min))


def _board_queryset(user: User, params: QueryDict):
    """Visible opportunities on the board (open ones, and those closed this month), with
    the board's filters applied."""
    qs = Opportunity.objects.visible_to(user).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=_period_start())
    )
    filterset = BoardFilter(params, queryset=qs, user=user)
    return filterset, filterset.qs


def _column_totals(qs, stages: list[PipelineStage]) -> dict[str, dict]:
    """Count, amount and weighted amount per stage: one aggregate query grouped by stage
    (and currency: amounts in different currencies are shown side by side, never added)."""
    count: dict[int, int] = defaultdict(int)
    amount: dict[int, dict[str, Decimal]] = defaultdict(dict)
    weighted: dict[int, dict[str, Decimal]] = defaultdict(dict)
    rows = (
        qs.order_by()
        .values("stage_id", "currency")
        # Not named "amount": F("amount") in WEIGHTED would then mean the sum.
        .annotate(n=Count("pk"), amount_sum=Sum("amount"), weighted_sum=Sum(WEIGHTED))
    )
    for row in rows:
        stage_id, currency = row["stage_id"], row["currency"]
        count[stage_id] += row["n"]
        amount[stage_id][currency] = row["amount_sum"] or Decimal("0")
        weighted[stage_id][currency] = row["weighted_sum"] or Decimal("0")
    return {
        str(stage.pk): {
            "count": count[stage.pk],
            "amount": _amounts_display(amount[stage.pk]),
            "weighted": _amounts_display(weighted[stage.pk]),
        }
        for stage in stages
    }


def _card_queryset(qs):
    return qs.select_related("customer", "owner").only(
        "id",
        "title",
        "amount",
        "currency",
        "probability",
        "expected_close_date",
        "created_at",
        "closed_at",
        "stage_id",
        "customer__id",
        "customer__name",
        "owner__id",
        "owner__username",
        "owner__first_name",
        "owner__last_name",
    )


@permission_required("sales.view_opportunity", raise_exception=True)
def pipeline_board(request: HttpRequest) -> HttpResponse:
    """Columns of the active stages. Queries: session, user, perms (2), managed teams, the
    stages, the owner / team choices (managers and admins), one aggregate for every
    column's totals, one query per column for its newest cards — however many
    opportunities there are."""
    stages = list(active_stages())
    filterset, qs = _board_queryset(request.user, request.GET)
    totals = _column_totals(qs, stages)
    list_params = filterset.list_params()
    period_start = timezone.localtime(_period_start()).date()
    columns = []
    for stage in stages:
        stage_qs = _card_queryset(qs.filter(stage=stage))
        if stage.is_closed:
            cards = list(stage_qs.order_by("-closed_at", "-pk")[:BOARD_CARDS_PER_COLUMN])
        else:
            cards = list(stage_qs.order_by("-created_at", "-pk")[:BOARD_CARDS_PER_COLUMN])
        link = QueryDict(mutable=True)
        link.update({**list_params, "stage": str(stage.pk)})
        if stage.is_closed:
            link["closed_after"] = period_start.isoformat()
        columns.append(
            {
                "stage": stage,
                "cards": cards,
                "totals": totals[str(stage.pk)],
                "show_all_url": reverse("sales:opportunity_list") + "?" + link.urlencode(),
            }
        )
    can_move = request.user.has_perm("sales.change_opportunity")
    ctx = {
        "filter": filterset,
        "columns": columns,
        "stages": stages,
        "can_move": can_move,
        "can_add": request.user.has_perm("sales.add_opportunity"),
        "today": timezone.localdate(),
        "period_start": period_start,
        "board_url": request.get_full_path(),
        "board_query": request.GET.urlencode(),
        "cards_per_column": BOARD_CARDS_PER_COLUMN,
    }
    return render(request, "sales/pipeline/board.html", ctx)


# --- forecast ------------------------------------------------------------------------------


def _forecast_rows(user: User, today: date):
    """Weighted amounts of the visible open opportunities, grouped by team, owner, currency
    and expected-close month (with an "overdue" flag): one GROUP BY query."""
    return (
        Opportunity.objects.visible_to(user)
        .open()
        .annotate(
            month=TruncMonth("expected_close_date"),
            overdue=ExpressionWrapper(Q(expected_close_date__lt=today), output_field=BooleanField()),
        )
        .values(
            "team_id",
            "team__name",
            "owner_id",
            "owner__username",
            "owner__first_name",
            "owner__last_name",
            "currency",
            "month",
            "overdue",
        )
        .annotate(weighted=Sum(WEIGHTED), n=Count("pk"))
        .order_by()
    )


@permission_required("sales.view_opportunity", raise_exception=True)
def forecast(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    months = [today.replace(day=1)]
    for _i in range(FORECAST_MONTHS - 1):
        months.append(next_month(months[-1]))
    horizon_end = next_month(months[-1])
    buckets = ["overdue", *[m.isoformat() for m in months], "later", "none"]

    def bucket_of(row) -> str:
        if row["month"] is None:
            return "none"
        if row["overdue"]:
            return "overdue"
        if row["month"] >= horizon_end:
            return "later"
        return row["month"].isoformat()

    def empty() -> dict[str, Decimal]:
        return dict.fromkeys(buckets, Decimal("0"))

    teams: dict = {}
    others: dict[str, dict[str, Decimal]] = {}
    total = empty()
    for row in _forecast_rows(request.user, today):
        bucket = bucket_of(row)
        weighted = row["weighted"] or Decimal("0")
        if row["currency"] != HOME_CURRENCY:
            others.setdefault(row["currency"], empty())[bucket] += weighted
            continue
        team = teams.setdefault(
            row["team_id"],
            {"name": row["team__name"] or _("No team"), "reps": {}, "cells": empty()},
        )
        owner = User(
            pk=row["owner_id"],
            username=row["owner__username"],
            first_name=row["owner__first_name"],
            last_name=row["owner__last_name"],
        )
        rep = team["reps"].setdefault(row["owner_id"], {"name": str(owner), "cells": empty()})
        rep["cells"][bucket] += weighted
        team["cells"][bucket] += weighted
        total[bucket] += weighted

    def line(cells: dict[str, Decimal]) -> dict:
        return {"cells": [cells[b] for b in buckets], "total": sum(cells.values(), Decimal("0"))}

    table = []
    for team in sorted(teams.values(), key=lambda t: str(t["name"])):
        reps = [
            {"name": r["name"], **line(r["cells"])}
            for r in sorted(team["reps"].values(), key=lambda r: r["name"])
        ]
        table.append({"name": team["name"], "reps": reps, **line(team["cells"])})
    other_rows = [{"currency": c, **line(cells)} for c, cells in sorted(others.items())]
    ctx = {
        "months": months,
        "table": table,
        "total": line(total),
        "other_rows": other_rows,
        "today": today,
        "home_currency": HOME_CURRENCY,
    }
    return render(request, "sales/pipeline/forecast.html", ctx)
