"""The audit log in the admin: read-only, for whoever may view it (superusers, or a group given
`audit.view_auditevent`); nobody adds, edits or deletes a line here."""

from django.contrib import admin
from django.http import HttpRequest

from chatbot.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_name", "action", "conversation", "detail")
    list_filter = ("action",)
    search_fields = ("actor_name", "conversation")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
