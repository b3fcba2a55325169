from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot.privacy"
    label = "privacy"
    verbose_name = "Privacy"
