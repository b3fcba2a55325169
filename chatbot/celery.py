"""Celery app; reads CELERY_* from Django settings (eager unless REDIS_URL is set)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

app = Celery("chatbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["chatbot.handoff"])  # not an app of its own: its mail tasks
