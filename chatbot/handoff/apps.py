from django.apps import AppConfig


class HandoffConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot.handoff"
    label = "handoff"
    verbose_name = "Handoff to agents"
