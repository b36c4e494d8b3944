"""The import wizard: upload → mapping and options → check (dry run, every row) → import
(in the background, with progress) → summary, error report, undo."""

import os

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import importing
from core.forms import ImportOptionsForm, ImportUploadForm
from core.models import ImportJob
from core.spreadsheets import UnusableFile

ISSUES_PER_PAGE = 50
IMPORTS_PER_PAGE = 30
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _get_job_for_user(request: HttpRequest, pk: int) -> ImportJob:
    """Own imports; admins (core.view_importjob) see everyone's. 404 otherwise."""
    job = get_object_or_404(
        ImportJob.objects.select_related("created_by", "default_owner", "undone_by"), pk=pk
    )
    if job.created_by_id != request.user.pk and not request.user.has_perm("core.view_importjob"):
        raise Http404
    return job


def _get_rw_job_for_user(request: HttpRequest, pk: int) -> ImportJob:
    """Only the person who uploaded the file runs, maps or undoes it (403 for admins who see it)."""
    job = _get_job_for_user(request, pk)
    if job.created_by_id != request.user.pk:
        raise PermissionDenied
    if not request.user.has_perm(importing.get_importer(job.kind).permission):
        raise PermissionDenied
    return job


def _importers(request: HttpRequest):
    importers = importing.importers_for(request.user)
    if not importers:
        raise PermissionDenied
    return importers


@require_GET
def import_list(request: HttpRequest) -> HttpResponse:
    """My imports (all imports for admins), newest first."""
    jobs = ImportJob.objects.select_related("created_by").order_by("-created_at", "-id")
    show_all = request.user.has_perm("core.view_importjob")
    if not show_all:
        jobs = jobs.filter(created_by=request.user)
    page = Paginator(jobs, IMPORTS_PER_PAGE).get_page(request.GET.get("page"))
    labels = {importer.kind: importer.label for importer in importing._REGISTRY.values()}
    ctx = {
        "page": page,
        "show_all": show_all,
        "labels": labels,
        "can_import": bool(importing.importers_for(request.user)),
    }
    return render(request, "core/imports/list.html", ctx)


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    importers = _importers(request)
    initial = {"kind": request.GET.get("kind") or importers[0].kind}
    form = ImportUploadForm(request.POST or None, request.FILES or None, importers=importers, initial=initial)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = ImportJob(
            kind=form.cleaned_data["kind"],
            created_by=request.user,
            original_name=os.path.basename(upload.name)[:255],
            file_size=upload.size,
        )
        job.file.save(upload.name, upload, save=False)
        job.save()
        try:
            importing.job_prepare(job=job)
        except UnusableFile as exc:
            job.file.delete(save=False)
            job.delete()
            form.add_error("file", str(exc))
        else:
            return redirect("core:import_mapping", pk=job.pk)
    ctx = {"form": form, "importers": importers}
    return render(request, "core/imports/upload.html", ctx)


@require_http_methods(["GET", "POST"])
def import_mapping(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_rw_job_for_user(request, pk)
    if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.VALIDATED) and not (
        job.status == ImportJob.Status.FAILED and job.dry_run
    ):
        return redirect("core:import_detail", pk=job.pk)
    importer = importing.get_importer(job.kind)
    try:
        samples = importing.job_samples(job)
    except UnusableFile as exc:
        messages.error(request, str(exc))
        return redirect("core:import_list")
    form = ImportOptionsForm(
        request.POST or None, job=job, importer=importer, user=request.user, samples=samples
    )
    if request.method == "POST" and form.is_valid():
        job.mapping = form.mapping()
        job.on_duplicate = form.cleaned_data["on_duplicate"]
        job.match_on = form.cleaned_data.get("match_on") or []
        job.default_owner = form.cleaned_data["default_owner"]
        job.save(update_fields=["mapping", "on_duplicate", "match_on", "default_owner"])
        if form.cleaned_data["remember"]:
            importing.mapping_save(user=request.user, kind=job.kind, headers=job.headers, mapping=job.mapping)
        importing.import_start(job=job, dry_run=True)
        return redirect("core:import_detail", pk=job.pk)
    ctx = {"job": job, "form": form, "importer": importer, "samples": samples}
    return render(request, "core/imports/mapping.html", ctx)


@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while running; then the check's or the import's outcome with every problem."""
    job = _get_job_for_user(request, pk)
    issues = job.issues.order_by("row_number", "id")
    page = Paginator(issues, ISSUES_PER_PAGE).get_page(request.GET.get("page"))
    importer = importing.get_importer(job.kind)
    mapped = importer.columns_by_name()
    ctx = {
        "job": job,
        "label": importer.label,
        "page": page,
        "mapping": [
            (job.headers[int(position)] if int(position) < len(job.headers) else "", mapped[name].label)
            for position, name in sorted(job.mapping.items(), key=lambda item: int(item[0]))
            if name in mapped
        ],
        "can_undo": importing.can_undo(job) and job.created_by_id == request.user.pk,
        "undo_deadline": importing.undo_deadline(job),
        "is_owner": job.created_by_id == request.user.pk,
        "importable": job.status == ImportJob.Status.VALIDATED and (job.imported or job.updated),
        "progress_label": _progress_label(job),
    }
    return render(request, "core/imports/detail.html", ctx)


@require_GET
def import_progress(request: HttpRequest, pk: int) -> JsonResponse:
    """Polled by static/core/progress.js while a run is going."""
    job = _get_job_for_user(request, pk)
    return JsonResponse(
        {
            "status": job.status,
            "running": job.is_running,
            "finished": not job.is_running,
            "processed": job.processed_rows,
            "total": job.total_rows,
            "percent": job.progress_percent,
            "label": _progress_label(job),
        }
    )


def _progress_label(job: ImportJob) -> str:
    return _("%(done)s of about %(total)s rows") % {"done": job.processed_rows, "total": job.total_rows}


@require_POST
def import_commit(request: HttpRequest, pk: int) -> HttpResponse:
    job = _get_rw_job_for_user(request, pk)
    if importing.import_start(job=job, dry_run=False):
        messages.success(
            request, _("The import has started. You can leave this page; it goes on in the background.")
        )
    else:
        messages.error(request, _("This import has already been run."))
    return redirect("core:import_detail", pk=job.pk)


@require_http_methods(["GET", "POST"])
def import_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then delete what the import created and restore what it updated."""
    job = _get_rw_job_for_user(request, pk)
    if not importing.can_undo(job):
        messages.error(request, _("This import can no longer be undone."))
        return redirect("core:import_detail", pk=job.pk)
    if request.method == "POST":
        try:
            importing.import_undo_start(job=job, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, _("Undoing the import. Records created by it are deleted, updated ones restored.")
            )
        return redirect("core:import_detail", pk=job.pk)
    ctx = {"job": job, "deadline": importing.undo_deadline(job), "now": timezone.now()}
    return render(request, "core/imports/undo_confirm.html", ctx)


@require_GET
def import_error_report(request: HttpRequest, pk: int) -> FileResponse:
    job = _get_job_for_user(request, pk)
    if not job.error_report:
        raise Http404
    stem = os.path.splitext(job.original_name)[0] or "import"
    filename = _("%(file)s - rows not imported.xlsx") % {"file": stem}
    return FileResponse(job.error_report.open("rb"), as_attachment=True, filename=filename, content_type=XLSX)


@require_GET
def import_template(request: HttpRequest, kind: str) -> HttpResponse:
    importers = {importer.kind: importer for importer in _importers(request)}
    if kind not in importers:
        raise Http404
    importer = importers[kind]
    content = importing.template_workbook(importer)
    response = HttpResponse(content, content_type=XLSX)
    filename = _("%(kind)s import template.xlsx") % {"kind": importer.label}
    response["Content-Disposition"] = _content_disposition(filename)
    return response


def _content_disposition(filename: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"template.xlsx\"; filename*=UTF-8''{quote(filename)}"
