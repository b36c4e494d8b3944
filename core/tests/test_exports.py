"""core.exports: the writers, the registry, background export jobs (claim, progress, failure,
clean-up) and the "My exports" pages (status, progress JSON, download, list).

Core knows no domain app, so these tests export teams through an exporter registered here;
each app's tests cover its own exports through its list's export URL.
"""

import dataclasses
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import exports
from core.exports import (
    Column,
    Exporter,
    export_job_create,
    export_write,
    field_column,
    filter_query,
    plain,
    register_exporter,
    write_csv,
    write_xlsx,
)
from core.models import AuditLog, ExportJob, JobRun, Team
from core.personal_data import mask_text
from core.tasks import cleanup_exports, run_export_job
from core.tests.factories import TeamFactory, UserFactory
from core.tests.spreadsheets import body, csv_rows, xlsx_rows

pytestmark = pytest.mark.django_db


def _teams(user, params):
    return Team.objects.filter(name__startswith=params.get("prefix", "T-")).order_by("name")


TEAM_EXPORTER = Exporter(
    kind="test-teams",
    title="teams",
    permission="core.view_team",
    queryset=_teams,
    columns=[
        field_column(Team, "name"),
        Column("code", lambda team: team.name, masker=mask_text),
        field_column(Team, "created_at"),
    ],
    filename="teams",
    list_url="core:home",
    sensitive_permission="core.change_team",
)


@pytest.fixture
def team_exporter():
    register_exporter(TEAM_EXPORTER)
    yield TEAM_EXPORTER
    exports._exporters.pop(TEAM_EXPORTER.kind, None)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def teams():
    return [TeamFactory(name=f"T-{i}") for i in range(1, 6)]


def _job(user, **kwargs) -> ExportJob:
    kwargs.setdefault("kind", TEAM_EXPORTER.kind)
    kwargs.setdefault("params", "prefix=T-")
    kwargs.setdefault("format", "csv")
    return ExportJob.objects.create(created_by=user, **kwargs)


def _files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


# --- writers and helpers -------------------------------------------------------------------


def test_csv_has_a_bom_formats_datetimes_and_leaves_the_stream_open():
    out = io.BytesIO()
    count = write_csv(["名称", "时间"], iter([["张三", datetime(2026, 3, 1, 9, 30, 5)]]), out)
    assert count == 1
    assert not out.closed
    assert csv_rows(out.getvalue()) == [["名称", "时间"], ["张三", "2026-03-01 09:30:05"]]


def test_xlsx_is_streamed_into_one_sheet_with_a_valid_title():
    out = io.BytesIO()
    count = write_xlsx(["name", "amount"], iter([["a", 1.5], ["b", 2]]), out, title="orders/2026: [all]")
    assert count == 2
    rows = xlsx_rows(out.getvalue())
    assert rows == [("name", "amount"), ("a", 1.5), ("b", 2)]


def test_plain_turns_aware_datetimes_into_local_wall_clock_time():
    value = datetime(2026, 3, 1, 1, 0, 0, 123456, tzinfo=ZoneInfo("UTC"))
    assert plain(value) == datetime(2026, 3, 1, 9, 0, 0)  # Asia/Shanghai
    assert plain(None) == ""
    assert plain(5) == 5


def test_filter_query_drops_paging_and_redacts_the_search():
    query = filter_query(QueryDict("q=张三&status=paid&cursor=abc&sort=-amount&per_page=50&format=csv"))
    assert QueryDict(query).dict() == {"q": "[redacted]", "status": "paid"}
    assert filter_query("qk=token&city=上海") == QueryDict("qk=token&city=上海").urlencode()


def test_export_write_masks_without_the_sensitive_permission_and_reports_progress(
    rep, admin_user, teams, team_exporter, monkeypatch
):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    rep.language = "en"
    seen = []
    out = io.BytesIO()
    count, unmasked = export_write(
        exporter=team_exporter, user=rep, params=QueryDict(), fmt="csv", out=out, progress=seen.append
    )
    assert (count, unmasked, seen) == (5, False, [2, 4])
    header, first, *_rest = csv_rows(out.getvalue())
    assert header == ["name", "code", "created at"]
    assert first[:2] == ["T-1", "T-****"]

    out = io.BytesIO()
    count, unmasked = export_write(
        exporter=team_exporter, user=admin_user, params=QueryDict(), fmt="csv", out=out
    )
    assert unmasked is True
    assert csv_rows(out.getvalue())[1][:2] == ["T-1", "T-1"]


def test_formula_cells_are_neutralised_by_every_exporter(rep, team_exporter):
    TeamFactory(name="T-=1+1")
    out = io.BytesIO()
    export_write(exporter=team_exporter, user=rep, params=QueryDict("prefix=T-="), fmt="xlsx", out=out)
    (_header, row) = xlsx_rows(out.getvalue())
    assert row[0] == "T-=1+1"  # not at the start: harmless
    TeamFactory(name="=cmd|' /C calc'!A0")
    out = io.BytesIO()
    export_write(exporter=team_exporter, user=rep, params=QueryDict("prefix=="), fmt="csv", out=out)
    assert csv_rows(out.getvalue())[1][0] == "'=cmd|' /C calc'!A0"


# --- background jobs -------------------------------------------------------------------------


def test_a_queued_job_is_built_with_progress_then_audited(rep, teams, team_exporter, media, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    job = _job(rep)
    recorded = []
    real_write = exports.export_write

    def spy(**kwargs):
        progress = kwargs.pop("progress")

        def record(rows):
            progress(rows)
            recorded.append(ExportJob.objects.get(pk=job.pk).processed_rows)

        return real_write(progress=record, **kwargs)

    monkeypatch.setattr(exports, "export_write", spy)

    assert run_export_job.delay(job.pk).get() == 5

    assert recorded == [2, 4]
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE
    assert (job.total_rows, job.processed_rows, job.progress_percent) == (5, 5, 100)
    assert job.finished_at is not None
    assert job.file.name.startswith("exports/") and job.file.name.endswith(".csv")
    with job.file.open("rb") as handle:
        rows = csv_rows(handle.read())
    assert [row[0] for row in rows[1:]] == ["T-1", "T-2", "T-3", "T-4", "T-5"]
    assert rows[1][1] == "T-****"
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == rep
    assert entry.details == {
        "kind": "test-teams",
        "rows": 5,
        "format": "csv",
        "query": "prefix=T-",
        "unmasked": False,
        "job": job.pk,
        "background": True,
    }


def test_a_job_is_built_once_however_often_the_task_is_delivered(rep, teams, team_exporter, media):
    job = _job(rep)
    assert run_export_job(job.pk) == 5
    assert run_export_job(job.pk) is None
    assert len(_files(media)) == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.EXPORT).count() == 1


def test_a_user_without_the_permission_gets_a_failed_job(teams, team_exporter, media):
    nobody = UserFactory(username="nobody", language="en")
    job = _job(nobody)
    assert run_export_job(job.pk) is None
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert job.error == "You may not export this list."
    assert not job.file and not _files(media)


def test_an_error_while_writing_fails_the_job_and_leaves_no_file(rep, teams, media):
    def boom(team):
        raise RuntimeError("disk on fire")

    broken = dataclasses.replace(TEAM_EXPORTER, kind="test-broken", columns=[Column("x", boom)])
    register_exporter(broken)
    try:
        job = _job(rep, kind="test-broken")
        assert run_export_job(job.pk) is None
    finally:
        exports._exporters.pop("test-broken")
    job.refresh_from_db()
    assert job.status == ExportJob.Status.FAILED
    assert "RuntimeError: disk on fire" in job.error
    assert not _files(media)
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_a_job_deleted_while_running_stops_and_leaves_no_file(rep, teams, media, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 1)

    def vanish(team):
        ExportJob.objects.filter(kind="test-vanish").delete()
        return team.name

    vanishing = dataclasses.replace(TEAM_EXPORTER, kind="test-vanish", columns=[Column("x", vanish)])
    register_exporter(vanishing)
    try:
        job = _job(rep, kind="test-vanish")
        assert run_export_job(job.pk) is None
    finally:
        exports._exporters.pop("test-vanish")
    assert not ExportJob.objects.exists()
    assert not _files(media)


def test_creating_a_job_enqueues_it_after_the_commit_and_an_identical_request_reuses_it(
    rep, teams, team_exporter, media, django_capture_on_commit_callbacks
):
    params = QueryDict("prefix=T-&cursor=abc&format=csv")
    with django_capture_on_commit_callbacks() as callbacks:
        first = export_job_create(exporter=team_exporter, user=rep, params=params, fmt="csv")
        again = export_job_create(exporter=team_exporter, user=rep, params=params, fmt="csv")
        other_format = export_job_create(exporter=team_exporter, user=rep, params=params, fmt="xlsx")
    assert again.pk == first.pk and other_format.pk != first.pk
    assert first.params == "prefix=T-"  # paging and format dropped
    assert first.status == ExportJob.Status.QUEUED
    assert len(callbacks) == 2
    for callback in callbacks:
        callback()
    first.refresh_from_db()
    assert first.status == ExportJob.Status.DONE


# --- pages -------------------------------------------------------------------------------------


def _login(client, user, language="en"):
    user.language = language
    user.save(update_fields=["language"])
    client.force_login(user)


def test_status_page_shows_the_progress_to_its_creator_only(client, rep, teammate, admin_user, team_exporter):
    job = _job(rep, status=ExportJob.Status.RUNNING, total_rows=10, processed_rows=4)
    url = reverse("core:export_status", args=[job.pk])
    _login(client, rep)
    page = client.get(url).content.decode()
    assert "data-progress-url" in page
    assert 'aria-valuenow="40"' in page
    assert "4 of 10 rows" in page
    assert "core/progress.js" in page
    # CSP: no inline script on the page.
    assert not re.findall(r"<script(?![^>]*\bsrc=)", page)
    for other in (teammate, admin_user):
        client.force_login(other)
        assert client.get(url).status_code == 404


def test_status_page_of_a_finished_job_links_the_download(client, rep, team_exporter):
    job = _job(rep, status=ExportJob.Status.DONE, total_rows=3, processed_rows=3, file="exports/x.csv")
    _login(client, rep)
    page = client.get(reverse("core:export_status", args=[job.pk])).content.decode()
    assert reverse("core:export_download", args=[job.pk]) in page
    assert "data-progress-url" not in page
    assert 'href="/?prefix=T-"' in page  # back to the list with its filters


def test_progress_json_for_the_creator_only(client, rep, teammate, team_exporter):
    job = _job(rep, status=ExportJob.Status.RUNNING, total_rows=8, processed_rows=2)
    url = reverse("core:export_progress", args=[job.pk])
    _login(client, rep)
    response = client.get(url)
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    assert data["status"] == "running"
    assert (data["processed_rows"], data["total_rows"], data["percent"]) == (2, 8, 25)
    assert data["finished"] is False and data["download_url"] is None
    assert data["label"] == "2 of 8 rows"

    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, processed_rows=8)
    data = client.get(url).json()
    assert data["finished"] is True
    assert data["percent"] == 100
    assert data["download_url"] == reverse("core:export_download", args=[job.pk])

    client.force_login(teammate)
    assert client.get(url).status_code == 404


def test_download_for_the_creator_only_and_each_download_is_audited(
    client, rep, teammate, teams, team_exporter, media
):
    job = _job(rep)
    run_export_job(job.pk)
    url = reverse("core:export_download", args=[job.pk])

    client.force_login(teammate)
    assert client.get(url).status_code == 404

    _login(client, rep)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    day = timezone.localdate(job.created_at)
    assert response["Content-Disposition"] == f'attachment; filename="teams-{day:%Y%m%d}.csv"'
    assert len(csv_rows(body(response))) == 6
    entry = AuditLog.objects.filter(action=AuditLog.Action.EXPORT).latest("at")
    assert entry.actor == rep
    assert entry.ip_address == "127.0.0.1"
    assert entry.details["download"] is True
    assert entry.details["job"] == job.pk
    assert entry.details["rows"] == 5
    assert AuditLog.objects.filter(action=AuditLog.Action.EXPORT).count() == 2  # built, downloaded


def test_download_of_an_unfinished_job_is_not_found(client, rep, team_exporter):
    job = _job(rep, status=ExportJob.Status.RUNNING)
    client.force_login(rep)
    assert client.get(reverse("core:export_download", args=[job.pk])).status_code == 404


def test_download_needs_the_export_permission_still(client, rep, teams, team_exporter, media):
    job = _job(rep)
    run_export_job(job.pk)
    rep.groups.clear()
    client.force_login(rep)
    assert client.get(reverse("core:export_download", args=[job.pk])).status_code == 403


def test_my_exports_lists_only_my_jobs(client, rep, teammate, team_exporter):
    _job(rep, status=ExportJob.Status.DONE, total_rows=12, file="exports/a.csv")
    _job(rep, status=ExportJob.Status.FAILED)
    _job(teammate)
    _login(client, rep)
    response = client.get(reverse("core:exports"))
    page = response.content.decode()
    assert page.count('data-testid="export-row"') == 2
    assert "Teams" in page
    assert page.count('data-testid="export-status"') == 2


def test_my_exports_empty_state(client, rep):
    client.force_login(rep)
    assert 'data-testid="empty-state"' in client.get(reverse("core:exports")).content.decode()


def test_my_exports_query_count_does_not_grow_and_pages(client, rep, team_exporter):
    _login(client, rep)
    for _ in range(3):
        _job(rep)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("core:exports"))
    for _ in range(30):
        _job(rep)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("core:exports"))
    # session, user, capped count, the page; the navigation: perms (2), the task badge,
    # the unread count; saving the session on every request (idle expiry): 3 more.
    assert len(many.captured_queries) == len(few.captured_queries) == 11
    assert len(response.context["page"].object_list) == 25
    assert 'data-testid="next-page"' in response.content.decode()


def test_the_user_menu_links_my_exports_for_those_who_may_export(client, rep, manager):
    client.force_login(manager)
    assert 'data-testid="nav-my-exports"' in client.get(reverse("core:home")).content.decode()
    client.force_login(rep)
    assert 'data-testid="nav-my-exports"' not in client.get(reverse("core:home")).content.decode()


# --- clean-up ------------------------------------------------------------------------------


def test_cleanup_deletes_files_and_jobs_past_the_retention(rep, teams, team_exporter, media, settings):
    settings.EXPORT_KEEP_DAYS = 7
    old, recent = _job(rep), _job(rep, format="xlsx")
    run_export_job(old.pk)
    run_export_job(recent.pk)
    old.refresh_from_db()
    recent.refresh_from_db()
    ExportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    never_built = _job(rep)
    ExportJob.objects.filter(pk=never_built.pk).update(created_at=timezone.now() - timedelta(days=30))

    assert cleanup_exports.delay().get() == {"jobs": 2, "files": 1}

    assert list(ExportJob.objects.all()) == [recent]
    storage = recent.file.storage
    assert not storage.exists(old.file.name)
    assert storage.exists(recent.file.name)
    run = JobRun.objects.get(name="cleanup_exports")
    assert run.status == JobRun.Status.SUCCEEDED and run.counts == {"jobs": 2, "files": 1}


def test_cleanup_command(rep, media):
    from django.core.management import call_command

    ExportJob.objects.filter(pk=_job(rep).pk).update(created_at=timezone.now() - timedelta(days=100))
    stdout = io.StringIO()
    call_command("cleanup_exports", stdout=stdout)
    assert stdout.getvalue().strip() == "jobs=1 files=0"


def test_the_role_groups_grant_exports_to_managers_not_reps():
    perms = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(
            name__in=["sales_manager", "sales_rep", "customer_service", "admin"]
        )
    }
    exporting = {
        "export_customer",
        "export_order",
        "export_opportunity",
        "export_interaction",
        "export_ticket",
    }
    assert perms["admin"] >= exporting
    assert perms["sales_manager"] >= exporting
    assert not perms["sales_rep"] & exporting
    assert perms["customer_service"] & exporting == {"export_ticket"}
