"""Assignment's services without sockets: capacity held when several threads auto-assign at
once, and teams, capacities and the audit trail in the admin."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from chatbot.handoff import assignment
from chatbot.handoff.models import AgentPresence, Team
from chatbot.models import Conversation


@pytest.mark.django_db(transaction=True)
def test_racing_auto_assignments_never_exceed_capacity(agents, settings):
    """Four conversations queued, two agents with room for one each, four threads assigning
    at once (each its own database connection): two are assigned, one to each agent."""
    settings.HANDOFF_AUTO_ASSIGN = True
    settings.HANDOFF_AGENT_CAPACITY = 1
    now = timezone.now()
    for user in agents.values():
        AgentPresence.objects.create(user=user, last_seen_at=now)
    ids = [Conversation.objects.create(status="queued", queued_at=now).pk for _ in range(4)]
    start = threading.Barrier(len(ids))
    results: dict[int, str | None] = {}

    def assign(conversation_id: int) -> None:
        try:
            start.wait()
            user = assignment.conversation_auto_assign(conversation_id=conversation_id)
            results[conversation_id] = user.username if user else None
        finally:
            connection.close()

    threads = [threading.Thread(target=assign, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == len(ids)
    assert sorted(name for name in results.values() if name) == ["ann", "bob"]
    held = Conversation.objects.filter(status="agent").values_list(
        "assigned_to__username", flat=True
    )
    assert sorted(held) == ["ann", "bob"]


@pytest.mark.django_db
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
    assert client.get(f"/admin/handoff/team/{team.pk}/change/").status_code == 200
    profiles = client.get("/admin/handoff/agentprofile/")
    assert profiles.status_code == 200 and b"bob" in profiles.content


@pytest.mark.django_db
def test_a_consoles_close_written_after_its_reconnect_leaves_the_agent_online_and_owning(agents):
    """A database stall (a walk): the console's socket closed, it reconnected, and the new
    socket's heartbeat was written before the old socket's close, which then marked the agent
    offline; the next sweep gave their live chat back to the queue."""
    from chatbot.handoff import selectors, services

    ann = agents["ann"]
    claimed_long_ago = timezone.now() - timedelta(hours=1)
    conversation = Conversation.objects.create(
        status="agent", assigned_to=ann, claimed_at=claimed_long_ago
    )
    closed_at = timezone.now()
    services.presence_update(agent=ann, seen=True)  # the reconnected socket's, written first
    services.presence_update(agent=ann, seen=False, at=closed_at)  # the old socket's, late
    assert selectors.agents_online() == 1
    assert services.owners_gone_release() == []
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assigned_to) == ("agent", ann)


@pytest.mark.django_db
def test_an_owner_keeps_their_conversations_for_the_grace_after_their_console_closes(
    agents, settings
):
    """HANDOFF_OWNER_GONE_S counts from the console's close (docs/console.md): the close set
    "not seen" and the next sweep released at once, a reload or a network blip included."""
    from chatbot.handoff import selectors, services

    settings.HANDOFF_OWNER_GONE_S = 120
    ann = agents["ann"]
    now = timezone.now()
    conversation = Conversation.objects.create(
        status="agent", assigned_to=ann, claimed_at=now - timedelta(hours=1)
    )
    services.presence_update(agent=ann, seen=True, at=now - timedelta(seconds=5))
    services.presence_update(agent=ann, seen=False, at=now)
    assert selectors.agents_online() == 0, "a closed console is not online"
    assert services.owners_gone_release(now=now + timedelta(seconds=60)) == []
    released = services.owners_gone_release(now=now + timedelta(seconds=121))
    assert released == [conversation.public_id]


@pytest.mark.django_db
def test_a_close_delivered_after_the_stall_leaves_a_reconnected_agent_online(agents):
    """A re-walk: the old socket's close reaches the consumer only once the stall ends, after
    the new socket's heartbeat; compared with its own close time it still marked the agent
    offline until the next heartbeat. It is compared with the closing socket's last
    heartbeat."""
    from chatbot.handoff import selectors, services

    ann = agents["ann"]
    now = timezone.now()
    old_socket_seen = now - timedelta(seconds=20)
    services.presence_update(agent=ann, seen=True, at=old_socket_seen)
    services.presence_update(agent=ann, seen=True, at=now - timedelta(seconds=5))  # the new one
    services.presence_update(agent=ann, seen=False, at=now, seen_before=old_socket_seen)
    assert selectors.agents_online() == 1
    services.presence_update(agent=ann, seen=False, at=now, seen_before=now - timedelta(seconds=5))
    assert selectors.agents_online() == 0, "the last socket's close is recorded"
