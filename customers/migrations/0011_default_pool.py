"""The company-wide default customer pool (公海), and every live customer without an owner
placed in it (no team has a pool of its own yet)."""

from django.db import migrations


def create_default_pool(apps, schema_editor):
    CustomerPool = apps.get_model("customers", "CustomerPool")
    Customer = apps.get_model("customers", "Customer")
    pool, _ = CustomerPool.objects.get_or_create(is_default=True, defaults={"name": ""})
    Customer.objects.filter(owner__isnull=True, pool__isnull=True).update(pool=pool)


def remove_default_pool(apps, schema_editor):
    CustomerPool = apps.get_model("customers", "CustomerPool")
    Customer = apps.get_model("customers", "Customer")
    Customer.objects.filter(pool__is_default=True).update(pool=None)
    CustomerPool.objects.filter(is_default=True, events__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0010_customer_pool")]

    operations = [migrations.RunPython(create_default_pool, remove_default_pool)]
