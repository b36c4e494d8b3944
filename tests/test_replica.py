"""The read replica (core/replica.py): reports, the dashboard and export rows read from the
"replica" database when one is configured; writes, the session and everything else stay on
"default"; without a replica nothing changes.

The integration tests run when `make test` runs this file a second time with
TEST_WITH_REPLICA=1: a "replica" database mirroring the test database (the router's real
path; replication itself is PostgreSQL's)."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.replica import REPLICA, ReplicaRouter, replica_configured, replica_reads
from customers.models import Customer

router = ReplicaRouter()
with_replica = pytest.mark.skipif(
    not replica_configured(), reason="run with TEST_WITH_REPLICA=1 (make test does)"
)


def test_writes_always_go_to_default_and_the_replica_is_never_migrated():
    with replica_reads():
        assert router.db_for_write(Customer) == "default"
    assert router.allow_migrate(REPLICA, "customers") is False
    assert router.allow_migrate("default", "customers") is True


def test_reads_outside_the_block_or_without_a_replica_go_to_default(settings):
    assert router.db_for_read(Customer) is None
    settings.DATABASES = {"default": settings.DATABASES["default"]}
    with replica_reads():
        assert router.db_for_read(Customer) is None
    settings.DATABASES = {**settings.DATABASES, REPLICA: settings.DATABASES["default"]}
    with replica_reads():
        assert router.db_for_read(Customer) == REPLICA
        with replica_reads():
            pass
        assert router.db_for_read(Customer) == REPLICA  # nested blocks restore, not reset
    assert router.db_for_read(Customer) is None


def _tables(queries) -> str:
    return " ".join(q["sql"] for q in queries.captured_queries)


@with_replica
@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
def test_the_dashboard_and_an_export_read_their_rows_from_the_replica(client, rep, manager):
    from customers.tests.factories import CustomerFactory

    CustomerFactory(owner=rep, name="副本客户")
    client.force_login(manager)
    with (
        CaptureQueriesContext(connections[REPLICA]) as replica,
        CaptureQueriesContext(connections["default"]) as default,
    ):
        dashboard = client.get(reverse("reports:index"))
        export = client.get(reverse("customers:export"), {"format": "csv"})
    assert dashboard.status_code == 200 and export.status_code == 200
    assert "副本客户".encode() in b"".join(export.streaming_content if export.streaming else [export.content])
    read_on_replica = _tables(replica)
    assert '"reports_figure"' in read_on_replica and '"customers_customer"' in read_on_replica
    on_default = [q["sql"] for q in default.captured_queries]
    # Default: the session, the user and permissions, and the writes (the first visit's
    # figures, the export's audit entry); no dashboard figure is read there.
    assert not any(sql.startswith("SELECT") and '"reports_figure"' in sql for sql in on_default)
    assert any(sql.startswith("INSERT") and '"core_auditlog"' in sql for sql in on_default)
