"""Recompute every blind index (the keyed hashes that make exact phone and email search work on
encrypted data) with the current BLIND_INDEX_KEY.

BLIND_INDEX_KEY has no list of old keys like FIELD_ENCRYPTION_KEYS: a hash made with the old
key simply no longer matches. Rotation (README "Key management"): stop the web app and the
workers, set the new key, run this command, start again. Until it has run, searching by phone
or email and the duplicate checks find nothing. Covers customers (and their change history)
and contacts; reads the decrypted values, so FIELD_ENCRYPTION_KEYS must be right. Writes with
bulk_update: no history rows, no timestamps. Safe to interrupt and run again.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from core.audit import audit_log
from core.models import AuditLog
from customers.models import Contact, Customer
from customers.search import email_bidx, phone_bidx

# model → {blind index column: (source column, hash function)}
TARGETS = (
    (
        Customer,
        {
            "mobile_bidx": ("mobile", phone_bidx),
            "other_phone_bidx": ("other_phone", phone_bidx),
            "email_bidx": ("email", email_bidx),
        },
    ),
    (
        Customer.history.model,
        {
            "mobile_bidx": ("mobile", phone_bidx),
            "other_phone_bidx": ("other_phone", phone_bidx),
            "email_bidx": ("email", email_bidx),
        },
    ),
    (Contact, {"phone_bidx": ("phone", phone_bidx), "email_bidx": ("email", email_bidx)}),
)


def reindex_model(model, columns: dict, batch_size: int = 1000) -> int:
    """Rewrite the blind indexes of `model` that differ from what the current key gives;
    returns how many rows changed."""
    manager = model._base_manager
    pk_name = model._meta.pk.name
    sources = [source for source, _ in columns.values()]
    changed = 0
    last_pk = None
    while True:
        qs = manager.order_by(pk_name).values(pk_name, *sources, *columns)
        if last_pk is not None:
            qs = qs.filter(**{f"{pk_name}__gt": last_pk})
        rows = list(qs[:batch_size])
        if not rows:
            return changed
        last_pk = rows[-1][pk_name]
        updates = []
        for row in rows:
            fresh = {column: hash_(row[source] or "") for column, (source, hash_) in columns.items()}
            if any(fresh[column] != row[column] for column in columns):
                updates.append(model(**{pk_name: row[pk_name], **fresh}))
        if updates:
            with transaction.atomic():
                manager.bulk_update(updates, list(columns), batch_size=batch_size)
            changed += len(updates)


class Command(BaseCommand):
    help = "Recompute every blind index (phone/email search) with the current BLIND_INDEX_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        total = 0
        for model, columns in TARGETS:
            changed = reindex_model(model, columns, batch_size)
            total += changed
            self.stdout.write(f"{model._meta.label}: {changed} rows re-indexed")
        audit_log(actor=None, action=AuditLog.Action.KEY_ROTATION, key="BLIND_INDEX_KEY", rows=total)
        self.stdout.write(
            self.style.SUCCESS(f"Done: {total} rows re-indexed with the current BLIND_INDEX_KEY.")
        )
