"""Teams, capacities and the assignment audit trail in the admin."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatbot.handoff import assignment
from chatbot.models import Conversation, Team

pytestmark = pytest.mark.django_db


def test_the_admin_shows_teams_profiles_and_the_audit_trail(agents):
    team = Team.objects.create(name="Billing")
    team.members.add(agents["bob"])
    conversation = Conversation.objects.create(status="queued")
    assignment.conversation_assign(
        public_id=conversation.public_id, agent=agents["ann"], to_team_id=team.pk
    )
    assignment.preferences_update(user=agents["bob"], sound=False)
    admin = User.objects.create_superuser("root", password="pw-root")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/admin/chatbot/conversation/{conversation.pk}/change/")
    assert page.status_code == 200 and b"Billing" in page.content
    assert client.get(f"/admin/chatbot/team/{team.pk}/change/").status_code == 200
    profiles = client.get("/admin/chatbot/agentprofile/")
    assert profiles.status_code == 200 and b"bob" in profiles.content
