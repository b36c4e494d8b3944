from django.core.management.base import BaseCommand

from customers.services import customers_purge_expired


class Command(BaseCommand):
    help = "Delete for good the customers that stayed in the recycle bin past CUSTOMER_RECYCLE_BIN_DAYS."

    def handle(self, *args, **options):
        purged = customers_purge_expired()
        self.stdout.write(f"Purged {purged} customers.")
