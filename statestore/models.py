from django.db import models
from django.utils.translation import gettext_lazy as _


class SharedCounter(models.Model):
    """A counter every process of the embedded default sees (statestore.counters): without
    Redis, this process's memory is not shared with a management command or a worker."""

    name = models.CharField(_("name"), max_length=100, primary_key=True)
    value = models.BigIntegerField(_("value"))

    class Meta:
        verbose_name = _("shared counter")
        verbose_name_plural = _("shared counters")

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
