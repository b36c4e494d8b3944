"""The Celery app. Settings come from Django's settings (CELERY_* names); tasks are
autodiscovered from each app's tasks.py; the beat schedule is CELERY_BEAT_SCHEDULE."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
