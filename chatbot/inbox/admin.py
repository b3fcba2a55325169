"""Labels are created here by admins; agents apply them in the console. Canned replies are
managed in the console, and listed here too."""

from django.contrib import admin

from chatbot.inbox.models import CannedReply, Label


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "color", "description")
    search_fields = ("name",)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "locale", "title", "updated_by", "updated_at")
    list_filter = ("locale",)
    search_fields = ("shortcut", "title", "text")
    readonly_fields = ("created_by", "updated_by", "updated_at")
