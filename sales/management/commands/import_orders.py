from core.management.import_command import ImportCommand


class Command(ImportCommand):
    """python manage.py import_orders FILE [--dry-run] [--on-duplicate skip|update|create]
    [--owner USERNAME] [--user USERNAME] [--errors-out FILE]

    One row per order line; consecutive rows with the same order number are one order. The
    --owner owns orders whose row names no owner and whose customer has none."""

    kind = "orders"
