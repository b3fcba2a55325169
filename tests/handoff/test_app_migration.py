"""The handoff's models became an app of their own (issue 17) without touching their tables:
rows made before the move are there after it, and the models' content types move with them, so
the permissions groups and users hold (by id) are the handoff's ones now."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

from chatbot.handoff.models import OpeningHours, Team
from chatbot.models import Conversation
from tests.migration_steps import latest, migrate, state_apps

# Migrations run outside a transaction (SQLite's schema editor refuses to run inside one).
pytestmark = pytest.mark.django_db(transaction=True)

MOVED = {
    "agentnote",
    "agentpresence",
    "agentprofile",
    "assignmentevent",
    "awaymessage",
    "leftmessage",
    "openinghours",
    "team",
    "transcriptemail",
}


# Before the move: the handoff app unapplied, and with it chatbot 0017 and inbox 0006.
BEFORE = [("handoff", None)]


def _moved_content_types() -> set[tuple[str, str]]:
    return set(
        ContentType.objects.filter(
            app_label__in=["chatbot", "handoff"], model__in=MOVED
        ).values_list("app_label", "model")
    )


def test_the_move_keeps_the_rows_and_the_permissions_groups_hold():
    try:
        migrate(BEFORE)
        before = state_apps("chatbot", "0016_answer_facts")
        assert _moved_content_types() == {("chatbot", model) for model in MOVED}
        change_team = Permission.objects.get(
            content_type__app_label="chatbot", codename="change_team"
        )
        view_hours = Permission.objects.get(
            content_type__app_label="chatbot", codename="view_openinghours"
        )
        leads = Group.objects.create(name="team leads")
        leads.permissions.add(change_team)
        ann = User.objects.create_user("ann", is_staff=True)
        ann.groups.add(leads)
        ann.user_permissions.add(view_hours)
        old_team = before.get_model("chatbot", "Team").objects.create(name="billing")
        old_team.members.add(ann.pk)
        before.get_model("chatbot", "Conversation").objects.create(team_id=old_team.pk)
        before.get_model("chatbot", "OpeningHours").objects.create(
            weekday=0, opens=dt.time(9), closes=dt.time(17)
        )

        migrate(latest())

        assert _moved_content_types() == {("handoff", model) for model in MOVED}
        assert list(leads.permissions.all()) == [change_team]  # the same row, by id
        assert Permission.objects.get(pk=change_team.pk).content_type.app_label == "handoff"
        ann = User.objects.get(pk=ann.pk)  # a fresh permission cache
        assert ann.has_perm("handoff.change_team") and ann.has_perm("handoff.view_openinghours")
        assert not ann.has_perm("chatbot.change_team")
        team = Team.objects.get()
        assert (team.pk, team.name) == (old_team.pk, "billing")
        assert list(team.members.all()) == [ann]
        assert Conversation.objects.get().team == team
        assert str(OpeningHours.objects.get()) == "Monday 09:00-17:00"
    finally:
        migrate(latest())


def test_migrating_back_gives_chatbot_its_content_types_again():
    try:
        team_type = ContentType.objects.get(app_label="handoff", model="team")
        migrate(BEFORE)
        assert ContentType.objects.get(pk=team_type.pk).app_label == "chatbot"
    finally:
        migrate(latest())
    assert ContentType.objects.get(pk=team_type.pk).app_label == "handoff"
