"""Fixtures shared by every app's tests: personas for each role, and the browser setup."""

import os

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from
# that thread are safe here (one thread, the live server in another).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _report_refresh_unlocked():
    """The dashboard queues at most one refresh of its figures a minute (a lock in the shared
    cache, reports/views.py); each test starts without a lock left by the one before."""
    from django.core.cache import cache

    from reports.tasks import REFRESH_LOCK

    cache.delete(REFRESH_LOCK)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch Debian's Chromium: Playwright cannot download its own browser here."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 1280, "height": 900}}


# --- personas -------------------------------------------------------------------------
# A team with a manager and two reps, another team with its own manager and rep, customer
# service and an admin: the cast every permission test needs.


@pytest.fixture
def team(db):
    from core.tests.factories import TeamFactory

    return TeamFactory(name="华东销售部")


@pytest.fixture
def other_team(db):
    from core.tests.factories import TeamFactory

    return TeamFactory(name="华北销售部")


@pytest.fixture
def rep(team):
    from core.models import Role
    from core.tests.factories import UserFactory

    return UserFactory(username="rep", role=Role.SALES_REP, team=team)


@pytest.fixture
def teammate(team):
    from core.models import Role
    from core.tests.factories import UserFactory

    return UserFactory(username="teammate", role=Role.SALES_REP, team=team)


@pytest.fixture
def manager(team):
    from core.models import Role
    from core.tests.factories import UserFactory

    user = UserFactory(username="manager", role=Role.SALES_MANAGER, team=team)
    team.managers.add(user)
    return user


@pytest.fixture
def other_rep(other_team):
    from core.models import Role
    from core.tests.factories import UserFactory

    return UserFactory(username="other_rep", role=Role.SALES_REP, team=other_team)


@pytest.fixture
def other_manager(other_team):
    from core.models import Role
    from core.tests.factories import UserFactory

    user = UserFactory(username="other_manager", role=Role.SALES_MANAGER, team=other_team)
    other_team.managers.add(user)
    return user


@pytest.fixture
def service(db):
    from core.models import Role
    from core.tests.factories import TeamFactory, UserFactory

    return UserFactory(username="service", role=Role.CUSTOMER_SERVICE, team=TeamFactory(name="客服部"))


@pytest.fixture
def admin_user(db):
    from core.models import Role
    from core.tests.factories import UserFactory

    return UserFactory(username="admin", role=Role.ADMIN, is_superuser=True, is_staff=True)


@pytest.fixture(autouse=True)
def _custom_field_cache():
    """Custom-field definitions are cached a few seconds per process (imports); a test's
    fields are rolled back with it, so no test sees another's."""
    from core.custom_fields import clear_cache

    clear_cache()
    yield
    clear_cache()
