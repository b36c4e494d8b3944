"""Reads that may go to a PostgreSQL read replica (issue 10, "beyond one machine").

With DATABASE_REPLICA_URL set, settings define a "replica" database and `ReplicaRouter` sends
the reads made inside `replica_reads()` there: the reports and the dashboard, and the rows
of exports. Everything else — every write, the session and login, the export job's own
bookkeeping — stays on "default". Without a replica nothing changes.

A replica lags a little behind the primary: what reads from it is what may be a few seconds
old (figures, reports, exported rows), never what a page has just written and shows back.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.conf import settings

REPLICA = "replica"
_reading = ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """Inside: reads go to the replica, if there is one."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def reads_from_replica(view: Callable) -> Callable:
    """A view whose reads (after the middleware's) may come from the replica."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        with replica_reads():
            return view(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _reading.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # The same data on both: a record read from the replica may point at one from default.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica follows the primary's schema through replication.
        return db != REPLICA
