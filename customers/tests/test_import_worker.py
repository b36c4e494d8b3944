"""An import through the real path: the job enqueued on the test Redis, a real Celery worker
reading the uploaded file through the storage API and committing in batches."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from core import importing
from core.models import ImportJob
from core.tests.test_celery import real_broker  # noqa: F401 - fixture
from customers.models import Customer
from customers.tests.test_import import make_job, xlsx


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_checks_then_imports_a_file_in_batches(real_broker, rep, settings):  # noqa: F811
    settings.IMPORT_BATCH_SIZE = 7
    rows = [["姓名", "手机"]] + [[f"客户{i}", f"1380013{i:04d}"] for i in range(30)] + [["坏", "1"]]
    job = make_job(rep, xlsx(rows))

    def wait_for(status):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status == status:
                return
            time.sleep(0.2)
        raise AssertionError(f"job stayed {job.status}: {job.error}")

    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert importing.import_start(job=job, dry_run=True)
        wait_for(ImportJob.Status.VALIDATED)
        assert Customer.objects.count() == 0
        assert importing.import_start(job=job, dry_run=False)
        assert not importing.import_start(job=job, dry_run=False)  # a second click runs nothing
        wait_for(ImportJob.Status.DONE)
    assert (job.imported, job.rejected, job.processed_rows, job.total_rows) == (30, 1, 31, 31)
    assert Customer.objects.filter(owner=rep).count() == 30
    assert job.error_report
