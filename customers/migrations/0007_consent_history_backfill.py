"""One consent-history row for every customer who had consented before the history existed:
given, at the recorded time (else when the customer was created), in the recorded way."""

from django.db import migrations

HOW_TO_SOURCE = {"web_form": "web_form", "paper": "paper", "verbal": "verbal", "email": "email", "import": "import"}


def backfill(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    ConsentRecord = apps.get_model("customers", "ConsentRecord")
    consenting = (
        Customer.objects.filter(marketing_consent=True)
        .exclude(consent_records__isnull=False)
        .values_list("pk", "marketing_consent_at", "marketing_consent_channel", "created_at")
    )
    batch = []
    for pk, at, how, created_at in consenting.iterator(chunk_size=2000):
        batch.append(
            ConsentRecord(
                customer_id=pk, channel="all", granted=True, at=at or created_at, source=HOW_TO_SOURCE.get(how, "")
            )
        )
        if len(batch) == 2000:
            ConsentRecord.objects.bulk_create(batch)
            batch = []
    ConsentRecord.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_privacy_consent_history")]

    # Reversed by dropping the table (the previous migration's reverse); nothing to undo here.
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
