from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnswerCacheConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot.cache"
    label = "answer_cache"
    verbose_name = _("Answer cache")
