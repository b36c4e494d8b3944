"""Property-based tests (hypothesis): whatever a spreadsheet holds, the import accounts for
every row and never fails; whatever bytes are uploaded, the wizard answers with a page, not
an error."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import importing
from core.models import ImportJob
from customers.tests.test_import import make_job

pytestmark = pytest.mark.django_db

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEADERS = ["姓名", "手机", "邮箱", "生日", "公司", "标签", "负责人", "营销同意", "客户等级", "联系人"]
cell = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["13800138000", "1.38E+10", "２０２４年１月５日", "45296", "=1+1", "是", "VIP", "rep", "", " "]
    ),
)


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADERS, *rows])
    # A NUL byte makes the file "not a spreadsheet" (tested with the unusable files); every
    # other control character stays in.
    return out.getvalue().replace("\x00", "").encode("utf-8")


@SETTINGS
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=len(HEADERS) + 2), min_size=1, max_size=15))
def test_every_row_is_accounted_for_whatever_the_cells(rep, rows):
    job = make_job(rep, _csv(rows), name="random.csv")
    for dry_run in (True, False):
        job = importing.import_run(job=job, dry_run=dry_run)
        assert job.status in (ImportJob.Status.VALIDATED, ImportJob.Status.DONE), job.error
        assert job.imported + job.updated + job.skipped + job.rejected == job.total_rows
    if importing.can_undo(job):
        importing.import_undo(job=job, user=rep)


@SETTINGS
@given(content=st.binary(max_size=2000), name=st.sampled_from(["a.xlsx", "a.csv", "a.xls", "a"]))
def test_random_uploads_never_give_an_error_page(client, rep, content, name):
    client.force_login(rep)
    response = client.post(
        reverse("core:import_upload"), {"kind": "customers", "file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code in (200, 302)
