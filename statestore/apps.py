from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StateStoreConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "statestore"
    verbose_name = _("Shared state")
