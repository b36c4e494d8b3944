"""A long export in a real Chromium: the order list's Export menu queues a background job, the
status page's progress bar follows the job (static/core/progress.js, no inline script),
and once the file is built the page offers the download, which holds the list's rows."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from core.exports import export_job_run
from core.models import ExportJob
from core.tasks import run_export_job
from customers.tests.factories import CustomerFactory
from sales.tests.factories import make_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Page, live_server, username: str, next_path: str) -> None:
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(settings.DEMO_PASSWORD)
    page.locator("form:has(#id_username) button[type=submit]").click()
    expect(page).to_have_url(f"{live_server.url}{next_path}")


def test_a_long_order_export_shows_its_progress_then_the_download(
    page: Page, live_server, manager, rep, settings, tmp_path, monkeypatch
):
    settings.EXPORT_SYNC_MAX_ROWS = 1
    settings.MEDIA_ROOT = tmp_path
    # The worker is played by the test: the job stays queued until built below.
    monkeypatch.setattr(run_export_job, "delay", lambda *args, **kwargs: None)
    manager.language = "en"
    manager.save(update_fields=["language"])
    orders = [make_order(CustomerFactory(name=f"客户{i}", owner=rep), rep) for i in range(3)]

    _log_in(page, live_server, "manager", "/sales/orders/")
    page.get_by_test_id("export-menu").click()
    page.get_by_test_id("export-csv").click()
    expect(page).to_have_url(re.compile(r"/exports/\d+/$"))
    job = ExportJob.objects.get()
    bar = page.locator("[data-progress-url] .progress-bar")
    expect(bar).to_be_attached()

    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.RUNNING, total_rows=10, processed_rows=3
    )
    expect(page.locator("[data-progress-label]")).to_have_text("3 of 10 rows", timeout=10000)
    expect(bar).to_have_attribute("style", re.compile(r"width: 30%"))

    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.QUEUED)
    assert export_job_run(job.pk) == 3
    download_link = page.get_by_test_id("export-download")
    expect(download_link).to_be_visible(timeout=10000)
    with page.expect_download() as info:
        download_link.click()
    data = Path(info.value.path()).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert {row[0] for row in rows[1:]} == {order.number for order in orders}

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("nav-my-exports").click()
    expect(page.get_by_test_id("export-row")).to_have_count(1)
