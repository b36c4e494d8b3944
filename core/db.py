"""Database helpers that keep PostgreSQL-only features out of the SQLite default."""

from django.contrib.postgres.indexes import GinIndex
from django.db import connection
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


def update_rows(model, objects, fields: list[str], *, batch_size: int = 1000) -> None:
    """Write `fields` of saved `objects`, each with its own values, in one statement per batch.

    On PostgreSQL: `UPDATE … FROM (VALUES …)`. bulk_update() builds a CASE per row and field
    instead, which costs far more to build than to run (1,500 customers × 8 fields: 8 s against
    0.1 s). Elsewhere (the SQLite default) bulk_update(). Like bulk_update(), no signals, no
    auto_now: set such fields yourself and name them.
    """
    objects = list(objects)
    if not objects:
        return
    if connection.vendor != "postgresql":
        model._base_manager.bulk_update(objects, fields, batch_size=batch_size)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    placeholder = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in columns) + ")"
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    names = ", ".join(quote(field.column) for field in columns)
    pk = quote(meta.pk.column)
    for start in range(0, len(objects), batch_size):
        batch = objects[start : start + batch_size]
        params = [
            field.get_db_prep_save(getattr(obj, field.attname), connection)
            for obj in batch
            for field in columns
        ]
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 (names from the model)
            f"FROM (VALUES {', '.join([placeholder] * len(batch))}) AS v({names}) WHERE t.{pk} = v.{pk}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
