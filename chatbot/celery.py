"""Celery app; reads CELERY_* from Django settings (eager unless REDIS_URL is set)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
# The worker names its processes (setproctitle) within its command line's own bytes, leaving
# /proc/<pid>/environ as it was: a longer title wrote over it (and over what psutil reads).
os.environ.setdefault("SPT_NOENV", "1")

app = Celery("chatbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["chatbot.handoff"])  # not an app of its own: its mail tasks
