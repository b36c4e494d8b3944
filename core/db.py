"""Database helpers that keep PostgreSQL-only features out of the SQLite default."""

from django.contrib.postgres.indexes import GinIndex
from django.db.backends.ddl_references import Statement
from django.db.models import Index


class PostgresOnlyIndexMixin:
    """An index created on PostgreSQL only; on other databases (SQLite, the embedded
    default for `make run`) the migration runs but creates nothing."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def remove_sql(self, model, schema_editor, **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Statement("SELECT 1")
        return super().remove_sql(model, schema_editor, **kwargs)


class PostgresOnlyGinIndex(PostgresOnlyIndexMixin, GinIndex):
    pass


class PostgresOnlyIndex(PostgresOnlyIndexMixin, Index):
    """A B-tree index using what only PostgreSQL supports (e.g. DESC NULLS LAST)."""
