"""Load demo data: one user per role, their teams, and (from later apps) sample records.

Idempotent: running it again creates nothing twice and leaves changed passwords alone.
"""

from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from core.models import Role, Team, User
from core.services import user_ensure

DEMO_USERS = [
    # username, role, team key, first name, last name, superuser
    ("admin", Role.ADMIN, None, "管理员", "", True),
    ("manager", Role.SALES_MANAGER, "sales", "经理", "王", False),
    ("sales1", Role.SALES_REP, "sales", "小明", "李", False),
    ("sales2", Role.SALES_REP, "sales", "芳", "张", False),
    ("service1", Role.CUSTOMER_SERVICE, "service", "静", "陈", False),
]
DEMO_TEAMS = {"sales": "华东销售部", "service": "客服部"}


class Command(BaseCommand):
    help = "Load demo users, teams and records (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        password = settings.DEMO_PASSWORD
        teams = {key: Team.objects.get_or_create(name=name)[0] for key, name in DEMO_TEAMS.items()}
        created_count = 0
        for username, role, team_key, first_name, last_name, superuser in DEMO_USERS:
            user, created = user_ensure(
                username=username,
                password=password,
                role=role,
                team=teams.get(team_key),
                first_name=first_name,
                last_name=last_name,
                email=f"{username}@example.com",
                is_superuser=superuser,
            )
            created_count += created
            if role == Role.SALES_MANAGER:
                teams[team_key].managers.add(user)
        # Each app may add its demo records in a `demo.py` with `seed(stdout, users)`;
        # core does not know the apps, it only calls them in INSTALLED_APPS order.
        users = {u.username: u for u in User.objects.filter(username__in=[d[0] for d in DEMO_USERS])}
        for app_config in apps.get_app_configs():
            try:
                module = import_module(f"{app_config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app_config.name}.demo":
                    raise
                continue
            module.seed(self.stdout, users)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({created_count} users created)."))
        self.stdout.write(f"Demo logins (password for all: {password}):")
        for username, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {role.label}")
