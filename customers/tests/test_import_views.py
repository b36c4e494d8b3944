"""The import wizard pages (core/views_imports.py) with the customer importer: upload,
mapping, check, import, progress, error report, undo, template; permissions and queries."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from core.models import AuditLog, ImportJob
from customers.models import Customer
from customers.tests.test_import import make_job, xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """Messages are asserted in English (the users' language is otherwise the default zh-hans)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


UPLOAD = reverse("core:import_upload")
GOOD = [
    ["姓名", "手机", "邮箱"],
    ["张三", "13800138000", ""],
    ["李四", "13900139000", ""],
    ["坏", "12345", ""],
]


def upload(client, rows=GOOD, name="客户.xlsx", content=None):
    content = content if content is not None else xlsx(rows)
    return client.post(UPLOAD, {"kind": "customers", "file": SimpleUploadedFile(name, content)})


def mapping_data(job, **extra):
    data = {f"col_{position}": name for position, name in job.mapping.items()}
    data.update(
        {
            "on_duplicate": "skip",
            "match_on": ["phone", "email"],
            "default_owner": job.created_by_id,
            "remember": "on",
        }
    )
    data.update(extra)
    return data


def test_wizard_from_upload_to_undo(client, rep, django_capture_on_commit_callbacks):
    client.force_login(rep)
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("core:import_mapping", args=[job.pk])
    page = client.get(response.url)
    assert page.status_code == 200
    assert "张三" in page.content.decode()  # first values shown next to each column
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("core:import_mapping", args=[job.pk]), mapping_data(job))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.VALIDATED and job.dry_run
    assert Customer.objects.count() == 0
    detail = client.get(reverse("core:import_detail", args=[job.pk])).content.decode()
    assert 'data-testid="count-imported">2<' in detail and 'data-testid="count-rejected">1<' in detail
    assert "12345" in detail  # the problem row, its value and message
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("core:import_commit", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and (job.imported, job.rejected) == (2, 1)
    assert Customer.objects.filter(owner=rep).count() == 2
    # A second click does not import twice.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("core:import_commit", args=[job.pk]))
    assert Customer.objects.count() == 2
    report = client.get(reverse("core:import_error_report", args=[job.pk]))
    assert report.status_code == 200
    rows = list(
        load_workbook(io.BytesIO(b"".join(report.streaming_content)))
        .worksheets[0]
        .iter_rows(values_only=True)
    )
    assert rows[1][:2] == ("坏", "12345")
    confirm = client.get(reverse("core:import_undo", args=[job.pk]))
    assert confirm.status_code == 200 and Customer.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("core:import_undo", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UNDONE and job.undo_counts["deleted"] == 2
    assert Customer.objects.count() == 0
    assert AuditLog.objects.filter(action=AuditLog.Action.IMPORT_UNDO, actor=rep).exists()


def test_unusable_upload_shows_the_reason_and_keeps_nothing(client, rep):
    client.force_login(rep)
    response = upload(client, content=b"\x89PNG\r\n\x1a\n\x00\x00", name="photo.xlsx")
    assert response.status_code == 200
    assert "not a spreadsheet" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_no_header_and_empty_files_are_refused(client, rep):
    client.force_login(rep)
    assert "header" in upload(client, rows=[["x", "y"], [1, 2]]).content.decode()
    assert "invalid-feedback" in upload(client, content=b"").content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("客户.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "This is not a spreadsheet"),
        ("客户.xls", "<html><table><tr><td>姓名</td></tr></table></html>".encode(), "web page"),
        ("客户.csv", b"MZ\x90\x00\x03\x00\x00\x00", "This is not a spreadsheet"),
    ],
    ids=["pdf renamed .xlsx", "html saved as .xls", "program renamed .csv"],
)
def test_a_renamed_file_that_is_no_spreadsheet_is_refused_by_its_content(client, rep, name, content, message):
    client.force_login(rep)
    response = upload(client, content=content, name=name)
    assert response.status_code == 200
    assert message in response.context["form"].errors["file"][0]
    assert ImportJob.objects.count() == 0


def test_the_refusal_of_a_renamed_file_is_translated(client, rep, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(rep)
    response = client.post(
        UPLOAD,
        {"kind": "customers", "file": SimpleUploadedFile("a.xlsx", b"%PDF-1.7\n")},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert "这不是表格文件" in response.context["form"].errors["file"][0]


def test_a_file_over_the_limit_is_refused_and_not_kept(client, rep, settings):
    settings.IMPORT_MAX_UPLOAD_MB = 1
    client.force_login(rep)
    big = xlsx(GOOD) + b"\x00" * (1024 * 1024)  # a real workbook, padded past 1 MB
    response = upload(client, content=big)
    assert response.status_code == 200
    assert "larger than 1 MB" in response.context["form"].errors["file"][0]
    assert ImportJob.objects.count() == 0
    # Exactly at the limit is accepted as far as size goes (the padding then makes it unreadable).
    response = upload(client, content=b"a,b\n" + b"x" * (1024 * 1024 - 4))
    assert "larger than" not in str(response.context and response.context["form"].errors)


def test_an_upload_stops_being_stored_past_the_limit(settings, rf):
    # The upload handler passes nothing beyond the limit on, so a huge file never reaches
    # memory or a temporary file; the form refuses the stand-in by its size.
    from core.uploads import OversizedUpload, SizeLimitUploadHandler

    settings.IMPORT_MAX_UPLOAD_MB = 1
    handler = SizeLimitUploadHandler(rf.post("/"))
    handler.new_file("file", "big.xlsx", "application/octet-stream", None)
    chunk = b"x" * handler.chunk_size
    passed = [handler.receive_data_chunk(chunk, i * len(chunk)) for i in range(40)]
    assert sum(len(c) for c in passed if c) <= 1024 * 1024
    stand_in = handler.file_complete(40 * len(chunk))
    assert isinstance(stand_in, OversizedUpload) and stand_in.size == 40 * len(chunk)
    assert stand_in.read() == b""


def test_too_large_upload_is_refused(client, rep, settings):
    settings.IMPORT_MAX_UPLOAD_MB = 0
    client.force_login(rep)
    response = upload(client)
    assert "larger than 0 MB" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_mapping_errors_are_shown_and_nothing_runs(client, rep):
    client.force_login(rep)
    upload(client)
    job = ImportJob.objects.get()
    response = client.post(
        reverse("core:import_mapping", args=[job.pk]), mapping_data(job, col_0="", col_2="mobile")
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="mapping-errors"' in body
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_mapping_is_remembered_for_the_next_upload(client, rep):
    client.force_login(rep)
    upload(client, rows=[["姓名", "客户手机号呀"], ["张三", "13800138000"]])
    job = ImportJob.objects.get()
    client.post(reverse("core:import_mapping", args=[job.pk]), mapping_data(job, col_1="mobile"))
    upload(client, rows=[["姓名", "客户手机号呀"], ["李四", "13900139000"]])
    assert ImportJob.objects.latest("id").mapping == {"0": "name", "1": "mobile"}


def test_a_rep_cannot_choose_another_default_owner(client, rep, teammate):
    client.force_login(rep)
    upload(client)
    job = ImportJob.objects.get()
    response = client.post(
        reverse("core:import_mapping", args=[job.pk]), mapping_data(job, default_owner=teammate.pk)
    )
    assert response.status_code == 200  # form error: not a valid choice
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_progress_endpoint_reports_rows_done(client, rep):
    job = make_job(rep, xlsx(GOOD))
    client.force_login(rep)
    data = client.get(reverse("core:import_progress", args=[job.pk])).json()
    assert data["status"] == "uploaded" and data["running"] is False and data["total"] == 3


@pytest.mark.parametrize("persona", ["other_rep", "teammate", "manager"])
def test_other_peoples_imports_are_404(client, rep, persona, request):
    job = make_job(rep, xlsx(GOOD))
    client.force_login(request.getfixturevalue(persona))
    for name in ("import_detail", "import_mapping", "import_progress", "import_error_report", "import_undo"):
        assert client.get(reverse(f"core:{name}", args=[job.pk])).status_code == 404
    assert client.post(reverse("core:import_commit", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_admins_see_every_import_but_do_not_run_them(client, rep, admin_user):
    job = make_job(rep, xlsx(GOOD))
    client.force_login(admin_user)
    assert client.get(reverse("core:import_detail", args=[job.pk])).status_code == 200
    assert job.original_name in client.get(reverse("core:import_list")).content.decode()
    assert client.post(reverse("core:import_commit", args=[job.pk])).status_code == 403
    assert Customer.objects.count() == 0


def test_customer_service_may_not_import(client, service):
    client.force_login(service)
    assert client.get(UPLOAD).status_code == 403
    assert client.get(reverse("core:import_template", args=["customers"])).status_code == 403
    page = client.get(reverse("core:import_list"))
    assert page.status_code == 200 and 'data-testid="new-import"' not in page.content.decode()


def test_commit_and_undo_need_post(client, rep):
    job = make_job(rep, xlsx(GOOD))
    client.force_login(rep)
    assert client.get(reverse("core:import_commit", args=[job.pk])).status_code == 405


def test_template_download_in_the_users_language(client, rep):
    rep.language = "en"
    rep.save()
    client.force_login(rep)
    response = client.get(reverse("core:import_template", args=["customers"]))
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.worksheets[0].cell(row=1, column=1).value == "name"
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    assert client.get(reverse("core:import_template", args=["nonsense"])).status_code == 404


def test_detail_page_queries_do_not_grow_with_problems(client, rep):
    client.force_login(rep)
    small = make_job(rep, xlsx([["姓名", "手机"], ["坏", "1"]]))
    large = make_job(rep, xlsx([["姓名", "手机"]] + [[f"坏{i}", "1"] for i in range(40)]))
    from core.importing import import_run

    import_run(job=small, dry_run=True)
    import_run(job=large, dry_run=True)
    counts = []
    for job in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("core:import_detail", args=[job.pk])).status_code == 200
        counts.append(len(queries))
    # session, user, permissions (2), job with its users, issue count, issue page, savepoint
    # pair, and saving the session (idle expiry: 3): the same for 1 or 40 problems.
    assert counts[0] == counts[1]
    assert counts[0] <= 12


def test_import_list_shows_my_imports_only(client, rep, teammate):
    mine = make_job(rep, xlsx(GOOD), name="mine.xlsx")
    make_job(teammate, xlsx(GOOD), name="theirs.xlsx")
    client.force_login(rep)
    body = client.get(reverse("core:import_list")).content.decode()
    assert mine.original_name in body and "theirs.xlsx" not in body
