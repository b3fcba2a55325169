from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ChatbotConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot"
    verbose_name = _("Chat")

    def ready(self) -> None:
        from chatbot.checks import model_configuration

        checks.register(model_configuration)
