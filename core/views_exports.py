"""Export pages: the response of every list's export URL, and "My exports" (background
exports: status with a progress bar, the JSON it polls, the download)."""

import tempfile
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.exports import (
    CONTENT_TYPES,
    FORMATS,
    Exporter,
    export_is_large,
    export_job_create,
    export_job_downloaded,
    export_run,
    get_exporter,
)
from core.models import ExportJob, User
from core.pagination import SortOption, keyset_page

EXPORTS_PER_PAGE = 25
# Above this, a download is spooled to a temporary file instead of memory.
SPOOL_MAX_BYTES = 10 * 1024 * 1024


def export_response(request: HttpRequest, kind: str) -> HttpResponse:
    """What a list's export URL answers (`?format=xlsx|csv` plus the list's filters): the file
    itself, or — past EXPORT_SYNC_MAX_ROWS rows — a background job and its status page.
    The app's view checks the permission first; it is checked here again."""
    exporter = get_exporter(kind)
    if exporter is None:
        raise Http404
    if not request.user.has_perm(exporter.permission):
        raise PermissionDenied
    fmt = request.GET.get("format", "xlsx")
    if fmt not in FORMATS:
        return HttpResponseBadRequest(_("Unknown export format."))
    if export_is_large(exporter=exporter, user=request.user, params=request.GET):
        job = export_job_create(exporter=exporter, user=request.user, params=request.GET, fmt=fmt)
        messages.info(
            request,
            _("The list is long: the file is being prepared in the background (also under “My exports”)."),
        )
        return redirect("core:export_status", pk=job.pk)
    # In memory up to 10 MB, then on disk; FileResponse closes it when the download ends.
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
    export_run(exporter=exporter, user=request.user, params=request.GET, fmt=fmt, out=out, request=request)
    out.seek(0)
    filename = f"{exporter.filename}-{timezone.localdate():%Y%m%d}.{fmt}"
    return FileResponse(out, as_attachment=True, filename=filename, content_type=CONTENT_TYPES[fmt])


# --- access helper -----------------------------------------------------------------------


def _get_export_job_for_user(user: User, pk: int) -> ExportJob:
    """The user's own export job. Anyone else's answers 404, admins' included: the file holds
    what its creator may see."""
    return get_object_or_404(ExportJob.objects.filter(created_by=user), pk=pk)


def _expires_at(job: ExportJob):
    return job.created_at + timedelta(days=settings.EXPORT_KEEP_DAYS)


def _progress_label(job: ExportJob) -> str:
    if job.total_rows:
        return _("%(done)s of %(total)s rows") % {
            "done": formats.number_format(job.processed_rows, force_grouping=True),
            "total": formats.number_format(job.total_rows, force_grouping=True),
        }
    return job.get_status_display()


def _list_link(job: ExportJob, exporter: Exporter | None) -> str:
    if exporter is None or not exporter.list_url:
        return ""
    url = reverse(exporter.list_url)
    return f"{url}?{job.params}" if job.params else url


# --- pages ---------------------------------------------------------------------------------


def export_list(request: HttpRequest) -> HttpResponse:
    """My exports, newest first. Queries: session, user, capped count, the page."""
    qs = ExportJob.objects.filter(created_by=request.user).defer("params", "error")
    page = keyset_page(
        qs, SortOption("created_at", descending=True), request.GET.get("cursor"), EXPORTS_PER_PAGE
    )
    for job in page.object_list:
        exporter = get_exporter(job.kind)
        job.title = exporter.title if exporter else job.kind
        job.expires_at = _expires_at(job)
    ctx = {"page": page, "keep_days": settings.EXPORT_KEEP_DAYS}
    return render(request, "core/export_list.html", ctx)


def export_status(request: HttpRequest, pk: int) -> HttpResponse:
    """One export: a progress bar while it is being built (static/core/progress.js
    polls export_progress), then the download link."""
    job = _get_export_job_for_user(request.user, pk)
    exporter = get_exporter(job.kind)
    ctx = {
        "job": job,
        "title": exporter.title if exporter else job.kind,
        "list_link": _list_link(job, exporter),
        "progress_label": _progress_label(job),
        "finished": job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED),
        "expires_at": _expires_at(job),
    }
    return render(request, "core/export_status.html", ctx)


@never_cache
@require_GET
def export_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """The job's state for the status page's progress bar."""
    job = _get_export_job_for_user(request.user, pk)
    done = job.status == ExportJob.Status.DONE
    data = {
        "status": job.status,
        "status_label": job.get_status_display(),
        "processed_rows": job.processed_rows,
        "total_rows": job.total_rows,
        "percent": job.progress_percent,
        "label": _progress_label(job),
        "finished": job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED),
        "download_url": reverse("core:export_download", args=[job.pk]) if done else None,
    }
    return JsonResponse(data)


@require_GET
def export_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The finished file, for its creator only (others: 404), while they may still export
    this list (else 403); each download goes to the audit log."""
    job = _get_export_job_for_user(request.user, pk)
    exporter = get_exporter(job.kind)
    if exporter is None or job.status != ExportJob.Status.DONE or not job.file:
        raise Http404
    if not request.user.has_perm(exporter.permission):
        raise PermissionDenied
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    export_job_downloaded(job=job, exporter=exporter, user=request.user, request=request)
    filename = f"{exporter.filename}-{timezone.localtime(job.created_at):%Y%m%d}.{job.format}"
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=CONTENT_TYPES[job.format])
