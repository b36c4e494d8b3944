"""Production settings (DEBUG off) refuse to start without their secrets."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROD_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1maWVsZC1lbmNyeXB0aW9uLWtleS0wMDAwMDE=",
    "BLIND_INDEX_KEY": "y" * 40,
    "BACKUP_ENCRYPTION_KEY": "YmFja3VwLWtleS1mb3ItdGhlLXNldHRpbmdzLXRlc3Q=",
    "ALLOWED_HOSTS": "crm.example.com",
    "DATABASE_URL": "sqlite:////tmp/never-created.sqlite3",
    "ENV_FILE": "",  # a developer's .env must not fill the gaps under test
}


def _start(env_overrides: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PROD_ENV and not k.startswith("TEST_")}
    env.update(PROD_ENV)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    code = "import django; django.setup(); print('started')"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_settings_start_with_every_key():
    result = _start({})
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "BACKUP_ENCRYPTION_KEY"]
)
def test_production_settings_refuse_to_start_without_a_key(missing):
    result = _start({missing: None})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"The environment variable {missing} is not set" in result.stderr


def test_development_mode_starts_without_keys():
    result = _start(
        {"DEBUG": "true", "SECRET_KEY": None, "FIELD_ENCRYPTION_KEYS": None, "BLIND_INDEX_KEY": None}
    )
    assert result.returncode == 0, result.stderr


def test_production_settings_are_hardened():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS > 0, s.CELERY_TASK_ALWAYS_EAGER)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(PROD_ENV, DJANGO_SETTINGS_MODULE="crm.settings", CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True", "True", "True", "True", "False"], result.stderr


def _print_settings(expression: str, **overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env.update(PROD_ENV, DJANGO_SETTINGS_MODULE="crm.settings", **overrides)
    code = f"import django; django.setup(); from django.conf import settings as s; print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_security_settings_come_from_the_environment():
    result = _print_settings(
        "s.SESSION_COOKIE_AGE, s.SESSION_SAVE_EVERY_REQUEST, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, "
        "s.AUDIT_LOG_RETENTION_DAYS",
        SESSION_COOKIE_AGE="3600",
        AXES_FAILURE_LIMIT="3",
        AXES_COOLOFF_MINUTES="0",
        AUDIT_LOG_RETENTION_DAYS="0",
    )
    assert result.stdout.split() == ["3600", "True", "3", "None", "0"], result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUDIT_LOG_RETENTION_DAYS", "-1"), ("AXES_FAILURE_LIMIT", "0"), ("SESSION_COOKIE_AGE", "10")],
)
def test_bad_security_settings_stop_the_start(name, value):
    result = _print_settings("1", **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_require_2fa_roles_comes_from_the_environment():
    assert _print_settings("s.REQUIRE_2FA_ROLES").stdout.strip() == "[]"
    result = _print_settings("s.REQUIRE_2FA_ROLES", REQUIRE_2FA_ROLES="admin, manager")
    assert result.stdout.strip() == "['admin', 'sales_manager']", result.stderr
    result = _print_settings("1", REQUIRE_2FA_ROLES="admin,boss")
    assert result.returncode != 0
    assert "REQUIRE_2FA_ROLES names unknown roles: boss" in result.stderr


# --- manage.py check --deploy (CI runs scripts/check-deploy.sh; this keeps it in the suite) ---


def _deploy_env(**overrides) -> dict[str, str]:
    """Production-like values, as scripts/check-deploy.sh sets them: DEBUG off, fresh random
    keys, servers that are never reached (check --deploy does not connect)."""
    import base64
    import secrets

    from cryptography.fernet import Fernet

    # Not the test run's own variables (conftest.py sets DJANGO_ALLOW_ASYNC_UNSAFE for the
    # browser tests, which check --deploy rightly warns about).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TEST_") and k not in PROD_ENV and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    env.update(
        ENV_FILE="",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="crm.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        BLIND_INDEX_KEY=secrets.token_urlsafe(48),
        BACKUP_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        ALLOWED_HOSTS="crm.example.com",
        DATABASE_URL="postgres://crm:unused@127.0.0.1:1/crm",
        REDIS_URL="redis://127.0.0.1:1/0",
        SECURE_HSTS_SECONDS="31536000",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _check_deploy(**overrides) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_deploy_env(**overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_passes_with_two_factor_required():
    assert _check_deploy(REQUIRE_2FA_ROLES="admin,manager").returncode == 0


@pytest.mark.parametrize("missing", ["SECRET_KEY", "BLIND_INDEX_KEY"])
def test_a_missing_key_stops_manage_py_with_a_clear_message(missing):
    result = _check_deploy(**{missing: None})
    assert result.returncode != 0
    assert (
        f"ImproperlyConfigured: The environment variable {missing} is not set. It is required when "
        "DEBUG is off; see .env.example for how to generate it."
    ) in result.stderr


def test_check_deploy_fails_on_an_insecure_setting():
    # The test can fail: with HTTPS redirects off, check --deploy warns and exits non-zero.
    result = _check_deploy(SECURE_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout


def test_secret_key_fallbacks_come_from_the_environment():
    assert _print_settings("s.SECRET_KEY_FALLBACKS").stdout.strip() == "[]"
    result = _print_settings("s.SECRET_KEY_FALLBACKS", SECRET_KEY_FALLBACKS="old-key-1,old-key-2")
    assert result.stdout.strip() == "['old-key-1', 'old-key-2']", result.stderr
