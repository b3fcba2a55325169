"""The audit log became an app of its own (it was the privacy app's) without touching its
table: lines written before the move are there after it, and the model's content type moves
with it, so the permission groups and users hold (by id) is the audit app's one now."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

from chatbot.audit.models import AuditEvent
from chatbot.audit.services import Action, audit_record
from tests.migration_steps import latest, migrate, state_apps

# Migrations run outside a transaction (SQLite's schema editor refuses to run inside one).
pytestmark = pytest.mark.django_db(transaction=True)

# Before the move: the audit app unapplied, and with it privacy 0002.
BEFORE = [("audit", None)]


def _audit_content_types() -> set[str]:
    return set(ContentType.objects.filter(model="auditevent").values_list("app_label", flat=True))


def test_the_move_keeps_the_lines_and_the_permissions_groups_hold():
    try:
        migrate(BEFORE)
        before = state_apps("privacy", "0001_initial")
        assert _audit_content_types() == {"privacy"}
        old_type = ContentType.objects.get(app_label="privacy", model="auditevent")
        view_audit = Permission.objects.get(
            content_type__app_label="privacy", codename="view_auditevent"
        )
        auditors = Group.objects.create(name="auditors")
        auditors.permissions.add(view_audit)
        ann = User.objects.create_user("ann", is_staff=True)
        ann.groups.add(auditors)
        old_line = before.get_model("privacy", "AuditEvent").objects.create(
            action="claim", actor_id=ann.pk, actor_name="ann", conversation="abc"
        )
        history = LogEntry.objects.create(
            user=ann, content_type=old_type, object_id=str(old_line.pk), action_flag=2
        )

        migrate(latest())

        assert _audit_content_types() == {"audit"}
        assert ContentType.objects.get(app_label="audit", model="auditevent").pk == old_type.pk
        assert list(auditors.permissions.all()) == [view_audit]  # the same row, by id
        assert Permission.objects.get(pk=view_audit.pk).content_type.app_label == "audit"
        ann = User.objects.get(pk=ann.pk)  # a fresh permission cache
        assert ann.has_perm("audit.view_auditevent")
        assert not ann.has_perm("privacy.view_auditevent")
        line = AuditEvent.objects.get()
        assert (line.pk, line.action, line.actor, line.conversation) == (
            old_line.pk,
            Action.CLAIM,
            ann,
            "abc",
        )
        assert LogEntry.objects.get(pk=history.pk).get_edited_object() == line
        # New lines go to the same table, after the old ones.
        assert audit_record(action=Action.CLOSE, actor=ann, conversation="abc").pk > line.pk
        assert AuditEvent._meta.db_table == "privacy_auditevent"
    finally:
        migrate(latest())


def test_migrating_back_gives_privacy_its_content_type_again():
    try:
        audit_type = ContentType.objects.get(app_label="audit", model="auditevent")
        migrate(BEFORE)
        assert ContentType.objects.get(pk=audit_type.pk).app_label == "privacy"
    finally:
        migrate(latest())
    assert ContentType.objects.get(pk=audit_type.pk).app_label == "audit"
