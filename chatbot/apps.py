from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ChatbotConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot"
    verbose_name = _("Chat")

    def ready(self) -> None:
        from django.contrib import admin

        from chatbot.checks import model_configuration

        checks.register(model_configuration)
        # The product's name, not Django's, in the admin's header and tab titles.
        admin.site.site_header = admin.site.site_title = _("Helpdesk chatbot admin")
        admin.site.index_title = _("Content, conversations and settings")
