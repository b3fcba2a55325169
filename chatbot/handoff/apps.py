from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HandoffConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot.handoff"
    label = "handoff"
    verbose_name = _("Handoff to agents")

    def ready(self) -> None:
        from chatbot.handoff import access  # noqa: F401  (its signal receivers)
