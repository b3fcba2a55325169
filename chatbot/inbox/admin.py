"""Labels are created here by admins; agents apply them in the console. Canned replies are
managed in the console, and listed here too."""

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.utils.translation import gettext

from chatbot.inbox.models import CannedReply, Label
from chatbot.inbox.services import VARIABLES, unknown_variables


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "color", "description")
    search_fields = ("name",)


class CannedReplyForm(forms.ModelForm):
    class Meta:
        model = CannedReply
        fields = ("shortcut", "locale", "team", "title", "text")

    def clean_text(self) -> str:
        """As the console's own editor refuses it: a variable it cannot fill in was dropped
        from the sent reply without a word ("Your order {{order.id}} is on its way")."""
        text = self.cleaned_data["text"]
        unknown = unknown_variables(text)
        if unknown:
            message = gettext(
                "These variables cannot be filled in: %(unknown)s (known: %(known)s)."
            )
            raise forms.ValidationError(
                message % {"unknown": _braced(unknown), "known": _braced(VARIABLES)}
            )
        return text


def _braced(names: Iterable[str]) -> str:
    return ", ".join("{{" + name + "}}" for name in names)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    form = CannedReplyForm
    list_display = ("shortcut", "locale", "title", "updated_by", "updated_at")
    list_filter = ("locale",)
    search_fields = ("shortcut", "title", "text")
    readonly_fields = ("created_by", "updated_by", "updated_at")
