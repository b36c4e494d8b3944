"""Re-encrypt every encrypted value with the first key of FIELD_ENCRYPTION_KEYS.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it),
restart, run this command, then remove the old keys. Covers every model with an
EncryptedTextField, history tables included. Safe to interrupt and run again.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from core import crypto
from core.audit import audit_log
from core.fields import EncryptedTextField
from core.models import AuditLog


def encrypted_models():
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


class Command(BaseCommand):
    help = "Re-encrypt all personal data with the newest key in FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        total = 0
        for model, fields in encrypted_models():
            rotated = self._rotate_model(model, fields, batch_size)
            total += rotated
            self.stdout.write(f"{model._meta.label}: {rotated} rows re-encrypted")
        audit_log(actor=None, action=AuditLog.Action.KEY_ROTATION, rows=total)
        self.stdout.write(self.style.SUCCESS(f"Done: {total} rows re-encrypted with the newest key."))

    def _rotate_model(self, model, fields, batch_size: int) -> int:
        # Read the raw ciphertext: cast to plain text so the field does not decrypt it.
        # Write back with update() and a plain-text Value so it is not encrypted again,
        # and no save() side effects (history rows, timestamps) run.
        raw = {f"raw_{f.name}": Cast(f.name, output_field=TextField()) for f in fields}
        manager = model._base_manager
        rotated = 0
        last_pk = None
        while True:
            qs = manager.order_by("pk").annotate(**raw).values("pk", *raw)
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            rows = list(qs[:batch_size])
            if not rows:
                return rotated
            with transaction.atomic():
                for row in rows:
                    last_pk = row["pk"]
                    updates = {}
                    for field in fields:
                        token = row[f"raw_{field.name}"]
                        if token and not crypto.encrypted_with_primary_key(token):
                            updates[field.name] = Value(crypto.rotate(token), output_field=TextField())
                    if updates:
                        manager.filter(pk=last_pk).update(**updates)
                        rotated += 1
