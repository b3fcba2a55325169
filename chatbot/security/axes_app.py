"""django-axes (sign-in lockouts) under a name of our own: its admin section was headed "AXES",
untranslated, and sorted first in a Chinese admin's sidebar."""

from axes.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SignInProtectionConfig(AppConfig):
    verbose_name = _("Sign-in protection")
