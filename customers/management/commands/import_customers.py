from core.management.import_command import ImportCommand


class Command(ImportCommand):
    """python manage.py import_customers FILE [--dry-run] [--on-duplicate skip|update|create]
    [--owner USERNAME] [--errors-out FILE]"""

    kind = "customers"
