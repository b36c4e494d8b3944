"""Celery against the real Redis of the test run, with a real worker."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from core.tasks import add, heartbeat
from crm.celery import app


@pytest.fixture
def real_broker():
    """Switch the app from eager mode to the test Redis for one test."""
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://"), "the test run must name a real Redis"
    old = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=broker, result_backend=broker)
    yield app
    app.conf.update(old)


def test_a_task_makes_a_round_trip_through_redis_and_a_real_worker(real_broker):
    with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = add.delay(2, 3)
        assert result.get(timeout=20) == 5
    # It really went through the broker: the result was stored in Redis by the worker.
    assert result.backend.__class__.__name__ == "RedisBackend"
    assert result.state == "SUCCESS"


@pytest.mark.django_db
def test_without_a_broker_tasks_run_in_process(settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    assert heartbeat.delay().get()


def test_the_beat_schedule_names_only_registered_tasks():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.django_db(transaction=True)
def test_beat_and_a_real_worker_run_a_scheduled_job(real_broker, tmp_path):
    """Smoke test of the production set-up: beat enqueues on Redis, a worker runs the job,
    the job writes its JobRun row."""
    import time

    from celery.beat import EmbeddedService

    from core.models import JobRun

    old_schedule = real_broker.conf.beat_schedule
    real_broker.conf.beat_schedule = {"smoke-heartbeat": {"task": "core.tasks.heartbeat", "schedule": 0.5}}
    beat = EmbeddedService(real_broker, thread=True, schedule_filename=str(tmp_path / "beat-schedule"))
    try:
        with start_worker(real_broker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            beat.start()
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and not JobRun.objects.filter(name="heartbeat", status="succeeded").exists()
            ):
                time.sleep(0.3)
    finally:
        beat.stop()
        real_broker.conf.beat_schedule = old_schedule
    assert JobRun.objects.filter(name="heartbeat", status="succeeded").exists()
