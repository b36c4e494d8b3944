"""Settings for the test suite: real PostgreSQL and Redis, named by TEST_DATABASE_URL and
TEST_REDIS_URL (`make test` starts throwaway servers and sets both when they are unset)."""

import os

from django.core.exceptions import ImproperlyConfigured

for _name in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
    if not os.environ.get(_name):
        raise ImproperlyConfigured(
            f"{_name} is not set. Run the tests with `make test`, which starts throwaway "
            f"PostgreSQL and Redis servers, or point {_name} at running ones."
        )

os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.pop("CELERY_RESULT_BACKEND", None)
# Test-only keys; production refuses to start without real ones (see tests/test_settings.py).
os.environ["DEBUG"] = "true"
os.environ["SECRET_KEY"] = "test-secret-key"
os.environ["FIELD_ENCRYPTION_KEYS"] = "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDAwMDE="
os.environ["BLIND_INDEX_KEY"] = "test-blind-index-key"

# `make test` runs tests/test_replica.py once more with a "replica" database that mirrors the
# test database (the router's real path, without a second server).
if os.environ.get("TEST_WITH_REPLICA"):
    os.environ["DATABASE_REPLICA_URL"] = os.environ["TEST_DATABASE_URL"]

from .settings import *

# Unit tests run tasks in-process; the Celery integration tests switch to the real
# Redis broker and a real worker (see core/tests/test_celery.py).
CELERY_TASK_ALWAYS_EAGER = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests: serve from the finders

# Uploaded imports, error reports and background exports go to a throwaway folder.
import atexit
import shutil
import tempfile

MEDIA_ROOT = tempfile.mkdtemp(prefix="crm-test-media-")
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
