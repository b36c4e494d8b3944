from io import BytesIO

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.audit import audit_log
from core.exports import write_xlsx
from core.models import AuditLog
from core.replica import reads_from_replica
from core.spreadsheets import neutralise
from reports.behaviour import (
    channels_chart,
    product_mix,
    purchases_by_tier,
    response_chart,
    rfm_matrix,
    staff_activity,
)
from reports.charts import layout
from reports.diagram import flow_layout, lifecycle_funnel, maintenance_process, tier_pyramid, tier_transitions
from reports.forms import PeriodForm, default_period
from reports.scope import Period, Scope, teams_for
from reports.selectors import customer_breakdown, dashboard_chart, dashboard_charts, key_figures
from reports.services import last_refresh
from reports.tasks import REFRESH_LOCK, refresh_figures

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _scope_and_period(request: HttpRequest) -> tuple[PeriodForm, Scope, Period]:
    """The filters of the request; invalid ones fall back to the defaults (the form shows why)."""
    form = PeriodForm(request.GET or None, user=request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        return form, Scope(request.user, data.get("team")), Period(data["start"], data["end"])
    start, end = default_period()
    if not form.is_bound:
        # The inputs show the period in use.
        form = PeriodForm(user=request.user, initial={"start": start, "end": end})
    return form, Scope(request.user), Period(start, end)


@permission_required("customers.view_customer", raise_exception=True)
@reads_from_replica
def index(request: HttpRequest) -> HttpResponse:
    """The managers' dashboard. Queries: session, user, permissions, team choices, seven
    figure aggregates, the stage and tier counts, and one per chart (about 20, whatever the
    data size)."""
    form, scope, period = _scope_and_period(request)
    refreshed = last_refresh()
    if refreshed is None:
        _start_refresh()  # a new installation: the job has not run yet
        refreshed = last_refresh()  # (done already when tasks run in-process)
    figures = key_figures(scope, period, refreshed=refreshed)
    by_stage, by_tier = customer_breakdown(scope)
    charts = dashboard_charts(scope, period, by_tier, refreshed=refreshed)
    query = request.GET.urlencode()
    ctx = {
        "form": form,
        "period": period,
        "previous": period.previous(),
        "scope": scope,
        "figures": figures,
        "by_stage": by_stage,
        "by_tier": by_tier,
        "charts": [(chart, layout(chart), chart.table()) for chart in charts.values()],
        "query": query,
        "refreshed": refreshed,
        "refresh_minutes": round(settings.CELERY_BEAT_SCHEDULE["report-figures-recent"]["schedule"] / 60),
        "may_refresh": teams_for(request.user) is not None,
    }
    return render(request, "reports/dashboard.html", ctx)


def _start_refresh() -> bool:
    """Queue a rebuild of the recent figures unless one is queued or running (a click storm
    runs one job; the lock expires after a minute should a worker die)."""
    if not cache.add(REFRESH_LOCK, 1, timeout=60):
        return False
    refresh_figures.delay()
    return True


@require_POST
@permission_required("customers.view_customer", raise_exception=True)
def refresh(request: HttpRequest) -> HttpResponse:
    """Bring the dashboard's figures up to date now (managers and admins)."""
    if teams_for(request.user) is None:
        raise PermissionDenied
    if _start_refresh():
        messages.success(request, _("The figures are being brought up to date; reload the page in a minute."))
    else:
        messages.info(request, _("The figures are already being brought up to date."))
    query = request.POST.get("query", "")
    return redirect(f"{reverse('reports:index')}?{query}" if query else reverse("reports:index"))


@permission_required("customers.view_customer", raise_exception=True)
@reads_from_replica
def chart_export(request: HttpRequest, chart: str) -> HttpResponse:
    """One chart's table as .xlsx, for the same filters as the page (recorded)."""
    form, scope, period = _scope_and_period(request)
    found = dashboard_chart(chart, scope, period)
    if found is None:
        raise Http404
    header, rows = found.table()
    out = BytesIO()
    write_xlsx(
        [str(neutralise(h)) for h in header],
        ([neutralise(cell) for cell in row] for row in rows),
        out,
        title=str(found.title),
    )
    audit_log(
        actor=request.user,
        action=AuditLog.Action.EXPORT,
        request=request,
        report=chart,
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        team=scope.team.pk if scope.team else None,
        rows=len(rows),
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    response = HttpResponse(out.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="dashboard-{chart}-{stamp}.xlsx"'
    return response


@permission_required("customers.view_customer", raise_exception=True)
@reads_from_replica
def maintenance(request: HttpRequest) -> HttpResponse:
    """The customer maintenance diagram (客户管理维护图). Queries: session, user, permissions,
    team choices, pyramid (2), funnel (1), transitions (1), process (3)."""
    form, scope, period = _scope_and_period(request)
    transitions = tier_transitions(scope, period)
    ctx = {
        "form": form,
        "period": period,
        "pyramid": tier_pyramid(scope, period),
        "funnel": lifecycle_funnel(scope, period),
        "transitions": transitions,
        "flow": flow_layout(transitions),
        "process": maintenance_process(scope, period),
    }
    return render(request, "reports/maintenance.html", ctx)


@permission_required("customers.view_customer", raise_exception=True)
@reads_from_replica
def behaviour(request: HttpRequest) -> HttpResponse:
    """Customer behaviour analysis (客户行为分析). Queries: session, user, permissions, team
    choices, purchases (2), product mix (1), channels (1), resolution times (1), RFM (1),
    staff activity (4)."""
    form, scope, period = _scope_and_period(request)
    charts = [channels_chart(scope, period), response_chart(scope, period)]
    ctx = {
        "form": form,
        "period": period,
        "purchases": purchases_by_tier(scope, period),
        "mix": product_mix(scope, period),
        "charts": [(chart, layout(chart), chart.table()) for chart in charts],
        "rfm": rfm_matrix(scope),
        "staff": staff_activity(scope, period),
    }
    return render(request, "reports/behaviour.html", ctx)
