from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from core.models import User
from customers.exports import FORMATS, customers_export


class Command(BaseCommand):
    help = (
        "Export the customers a user may see (with their permissions and masking) to xlsx or csv. "
        "Filters are the customer ledger's query string, e.g. --filters 'lifecycle_stage=new&city=上海'."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, default="xlsx")
        parser.add_argument("--out", required=True, help="File to write.")
        # There is no "export everything" mode: the export runs as this user.
        parser.add_argument("--user", required=True, help="Username whose scope and permissions apply.")
        parser.add_argument("--filters", default="", help="Customer ledger query string.")

    def handle(self, *args, **options):
        try:
            user = User.objects.get(username=options["user"], is_active=True)
        except User.DoesNotExist:
            raise CommandError(f"No active user named {options['user']!r}.", returncode=2) from None
        if not user.has_perm("customers.export_customer"):
            raise CommandError(f"{user.username} may not export customers.", returncode=2)
        with open(options["out"], "wb") as out:
            count = customers_export(
                user=user, params=QueryDict(options["filters"]), fmt=options["format"], out=out
            )
        self.stdout.write(f"Exported {count} customers to {options['out']}.")
