"""docker-compose.yml is checked here because no Docker engine runs on our machines."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_stack_has_every_service(compose):
    assert set(compose["services"]) == {"postgres", "redis", "web", "worker", "beat"}


def test_databases_use_pinned_official_images_with_healthchecks(compose):
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"].startswith("redis:")
    for name in ("postgres", "redis", "web", "worker"):
        check = services[name]["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL") and len(check) > 1, name


def test_postgres_database_is_created_with_a_utf8_locale_for_chinese_search(compose):
    args = compose["services"]["postgres"]["environment"]["POSTGRES_INITDB_ARGS"]
    assert "C.UTF-8" in args and "UTF8" in args


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_app_services_build_the_image_and_read_dot_env(compose, name):
    service = compose["services"][name]
    assert service["build"] == "."
    assert service["env_file"] == ".env"
    env = service["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert any(v.endswith(":/backups") for v in service["volumes"])


def test_web_migrates_then_serves_with_gunicorn(compose):
    command = compose["services"]["web"]["command"]
    assert command.index("manage.py migrate") < command.index("gunicorn crm.wsgi:application")
    assert compose["services"]["web"]["ports"] == ["${WEB_PORT:-8000}:8000"]
    assert "/healthz/" in " ".join(compose["services"]["web"]["healthcheck"]["test"])


def test_worker_and_beat_run_celery(compose):
    assert compose["services"]["worker"]["command"][:4] == ["celery", "-A", "crm", "worker"]
    assert compose["services"]["beat"]["command"][:4] == ["celery", "-A", "crm", "beat"]


def test_named_volumes_for_database_and_backups(compose):
    assert {"pgdata", "backups"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_every_variable_the_stack_needs_is_documented_in_env_example(compose):
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    assert {
        "POSTGRES_PASSWORD",
        "ALLOWED_HOSTS",
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "BLIND_INDEX_KEY",
    } <= documented


def test_dockerfile_serves_with_gunicorn_and_installs_pinned_requirements():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "npm ci" in dockerfile
    assert "collectstatic" in dockerfile
    assert '"gunicorn", "crm.wsgi:application"' in dockerfile
