"""Assignment over real console sockets: assign and transfer to an agent or a team (who may,
what each side hears, the audit line), round-robin auto-assignment within capacity, the claim
timeout passing an unanswered conversation on, notification preferences and the owner told
when their visitor writes."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User

from chatbot.handoff import services
from chatbot.handoff.models import AgentProfile, AssignmentEvent, Team
from chatbot.models import Conversation
from tests.chatbot.test_attachments import image_bytes, upload
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket, make_agent
from tests.handoff.test_handoff import claimed, queued_by_button, until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]


@database_sync_to_async
def stored(public_id: str) -> Conversation:
    return Conversation.objects.select_related("assigned_to", "team", "expired_owner").get(
        public_id=public_id
    )


@database_sync_to_async
def events(public_id: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return [
        (
            e.kind,
            e.actor.username if e.actor else None,
            e.from_agent.username if e.from_agent else None,
            e.to_agent.username if e.to_agent else None,
        )
        for e in AssignmentEvent.objects.filter(conversation__public_id=public_id).select_related(
            "actor", "from_agent", "to_agent"
        )
    ]


@database_sync_to_async
def team_of(name: str, *members: User) -> Team:
    team = Team.objects.create(name=name)
    team.members.add(*members)
    return team


async def test_the_owner_transfers_to_another_agent_who_gets_it_live(upstream, agents):
    carol = await database_sync_to_async(make_agent)("carol")
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
        agent_socket(carol) as carol_console,
    ):
        public_id = client.hello["conversation"]
        roster = carol_console.hello["roster"]  # the last to connect sees everyone online
        assert [a["name"] for a in roster["agents"]] == ["ann", "bob", "carol"]
        assert all(a["online"] for a in roster["agents"])
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi"}
        )
        await ann.recv_until("ack")

        # Carol neither owns it nor may take it by a transfer of her own.
        await carol_console.send({"type": "assign", "conversation": public_id, "agent": carol.pk})
        refused = await carol_console.recv_until("error")
        assert refused["code"] == "not_owner" and refused["owner"] == "ann"

        await ann.send({"type": "assign", "conversation": public_id, "agent": agents["bob"].pk})
        done = await ann.recv_until("assign_done")
        line = await ann.recv_until("assignment")  # Ann is viewing it: the audit line, live
        assigned = await bob.recv_until("assigned")  # Bob is not viewing it: told anyway
        told = await until(client, "conversation")
        listed = await bob.recv_until(
            lambda f: f["type"] == "conversations" and f["items"][0]["owner"]["name"] == "bob"
        )
        # Ann no longer owns it: neither another transfer nor a reply.
        await ann.send({"type": "assign", "conversation": public_id, "agent": carol.pk})
        assert (await ann.recv_until("error"))["code"] == "not_owner"

        await bob.send({"type": "open", "conversation": public_id})
        transcript = await bob.recv_until("transcript")
        await bob.send(
            {"type": "send", "conversation": public_id, "client_id": "b-1", "text": "Bob here"}
        )
        await bob.recv_until("ack")
    assert done["event"] == line["event"] == assigned["event"]
    assert line["event"]["kind"] == "agent"
    assert (line["event"]["actor"], line["event"]["from"], line["event"]["to"]) == (
        "ann",
        "ann",
        "bob",
    )
    assert told == {"type": "conversation", "status": "agent", "agent": "bob", "moved": True}
    assert listed["items"][0]["status"] == "agent"
    assert [e["kind"] for e in transcript["events"]] == ["claim", "agent"]
    assert transcript["owner"]["name"] == "bob"
    conversation = await stored(public_id)
    assert conversation.assigned_to.username == "bob" and conversation.status == "agent"
    assert await events(public_id) == [("agent", "ann", "ann", "bob")]


async def test_a_queued_conversation_goes_to_a_team_and_keeps_its_place(upstream, agents):
    billing = await team_of("Billing", agents["bob"])
    async with (
        chat_socket() as first,
        chat_socket() as second,
        agent_socket(agents["ann"]) as ann,
    ):
        await queued_by_button(first)
        public_id = second.hello["conversation"]
        await queued_by_button(second)
        assert ann.hello["roster"]["teams"] == [
            {"id": billing.pk, "name": "Billing", "members": [agents["bob"].pk]}
        ]
        await ann.send({"type": "assign", "conversation": public_id, "team": billing.pk})
        done = await ann.recv_until("assign_done")
        listed = await ann.recv_until(
            lambda f: f["type"] == "conversations" and f["items"][1].get("team")
        )
        # The owner's transfer to a team puts a claimed conversation back in the queue.
        await claimed(ann, public_id)
        await ann.send({"type": "assign", "conversation": public_id, "team": billing.pk})
        await ann.recv_until("assign_done")
        again = await until(second, lambda f: f["type"] == "handoff")
        # Neither an unknown target nor a user who is not an agent.
        outsider = await database_sync_to_async(make_agent)("eve", in_group=False)
        await ann.send({"type": "assign", "conversation": public_id, "agent": outsider.pk})
        not_agent = await ann.recv_until("error")
        await ann.send({"type": "assign", "conversation": public_id, "team": 999})
        no_team = await ann.recv_until("error")
        await ann.send({"type": "assign", "conversation": public_id})
        invalid = await ann.recv_until("error")
    assert done["event"]["kind"] == "team" and done["event"]["team"] == "Billing"
    assert done["event"]["from"] is None  # it was queued: an assignment, not a transfer
    assert listed["items"][1]["team"] == {"id": billing.pk, "name": "Billing"}
    assert again["position"] == 2  # its place, behind the first visitor
    assert (not_agent["code"], no_team["code"], invalid["code"]) == (
        "not_an_agent",
        "not_found",
        "invalid_frame",
    )
    conversation = await stored(public_id)
    assert conversation.status == "queued" and conversation.team == billing
    assert conversation.assigned_to is None
    assert await events(public_id) == [
        ("team", "ann", None, None),
        ("team", "ann", "ann", None),
    ]


async def test_auto_assignment_is_round_robin_within_capacity(upstream, agents, settings):
    settings.HANDOFF_AUTO_ASSIGN = True
    settings.HANDOFF_AGENT_CAPACITY = 2
    settings.HANDOFF_SWEEP_INTERVAL_S = 3600  # the test runs the sweep itself
    await database_sync_to_async(AgentProfile.objects.create)(user=agents["bob"], capacity=3)
    async with (
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
        chat_socket() as c1,
        chat_socket() as c2,
        chat_socket() as c3,
        chat_socket() as c4,
        chat_socket() as c5,
        chat_socket() as c6,
    ):
        clients = [c1, c2, c3, c4, c5, c6]
        ids = [c.hello["conversation"] for c in clients]
        told = []
        for client in clients:
            await client.send({"type": "handoff"})
            told.append(await until(client, lambda f: f["type"] in ("handoff", "conversation")))
        owners = [(await stored(i)).assigned_to for i in ids]
        first = await ann.recv_until("assigned")
        to_bob = [(await bob.recv_until("assigned"))["conversation"] for _ in range(3)]
        # Ann (capacity 2) closes one: the next sweep round gives her the one left waiting.
        await ann.send({"type": "close", "conversation": ids[0], "reason": "resolved"})
        await ann.recv_until(
            lambda f: (
                f["type"] == "conversations"
                and ids[0] not in [i["conversation"] for i in f["items"]]
            )
        )
        swept = await database_sync_to_async(services.queue_sweep)(present_ids=[])
        await ann.recv_until(lambda f: f["type"] == "assigned" and f["conversation"] == ids[5])
    names = [o.username if o else None for o in owners]
    assert names == ["ann", "bob", "ann", "bob", "bob", None]  # bob's own capacity is 3
    assert first["conversation"] == ids[0] and first["event"]["kind"] == "auto"
    assert told[0] == {"type": "conversation", "status": "agent", "agent": "ann"}
    assert told[5]["type"] == "handoff" and told[5]["position"] == 1
    assert to_bob == [ids[1], ids[3], ids[4]]
    assert swept.auto_assigned == [ids[5]]
    assert await events(ids[5]) == [("auto", None, None, "ann")]


async def test_auto_assignment_skips_offline_agents_and_keeps_to_the_team(
    upstream, agents, settings
):
    settings.HANDOFF_AUTO_ASSIGN = True
    settings.HANDOFF_SWEEP_INTERVAL_S = 3600
    carol = await database_sync_to_async(make_agent)("carol")  # never opens the console
    returns = await team_of("Returns", agents["bob"], carol)
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]),
    ):
        public_id = client.hello["conversation"]
        await client.send({"type": "handoff"})
        first = await until(client, "conversation")  # Ann: online, with room, first in line
        await ann.send({"type": "assign", "conversation": public_id, "team": returns.pk})
        await ann.recv_until("assign_done")
        second = await until(client, "conversation")  # at once, to the team's online member
    assert (first["agent"], second["agent"]) == ("ann", "bob")
    conversation = await stored(public_id)
    assert conversation.assigned_to.username == "bob" and conversation.team == returns
    assert await events(public_id) == [
        ("auto", None, None, "ann"),
        ("team", "ann", "ann", None),
        ("auto", None, None, "bob"),
    ]


async def test_an_unanswered_auto_assignment_goes_to_the_next_agent(upstream, agents, settings):
    settings.HANDOFF_AUTO_ASSIGN = True
    settings.HANDOFF_CLAIM_TIMEOUT_S = 0.3
    settings.HANDOFF_SWEEP_INTERVAL_S = 0.1
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await client.send({"type": "handoff"})
        first = await until(client, "conversation")
        await ann.recv_until("assigned")
        second = await until(client, "conversation", timeout=5)
        await bob.recv_until("assigned")
        # Bob answers: his stays with him past the timeout.
        await bob.send(
            {"type": "send", "conversation": public_id, "client_id": "b-1", "text": "Hi"}
        )
        await bob.recv_until("ack")
        await database_sync_to_async(services.queue_sweep)(present_ids=[])
    assert first["agent"] == "ann" and second["agent"] == "bob"
    history = await events(public_id)
    assert history[:3] == [
        ("auto", None, None, "ann"),
        ("expired", None, "ann", None),
        ("auto", None, None, "bob"),
    ]
    conversation = await stored(public_id)
    assert conversation.assigned_to.username == "bob" and conversation.status == "agent"


async def test_a_lone_agent_who_does_not_answer_leaves_it_in_the_queue(upstream, agents, settings):
    settings.HANDOFF_AUTO_ASSIGN = True
    settings.HANDOFF_CLAIM_TIMEOUT_S = 0.3
    settings.HANDOFF_SWEEP_INTERVAL_S = 0.1
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await client.send({"type": "handoff"})
        await ann.recv_until("assigned")
        back = await until(client, "handoff", timeout=5)
        await ann.recv_until(
            lambda f: f["type"] == "conversations" and f["items"][0]["status"] == "queued"
        )
        await database_sync_to_async(services.queue_sweep)(present_ids=[])
    assert back["position"] == 1
    conversation = await stored(public_id)
    assert conversation.status == "queued" and conversation.expired_owner.username == "ann"


async def test_preferences_are_kept_per_agent(agents):
    async with agent_socket(agents["ann"]) as ann:
        assert ann.hello["preferences"] == {"sound": True, "desktop": False, "title": True}
        await ann.send({"type": "preferences", "desktop": True, "sound": False})
        assert (await ann.recv_until("preferences")) == {
            "type": "preferences",
            "sound": False,
            "desktop": True,
            "title": True,
        }
    async with agent_socket(agents["ann"]) as again, agent_socket(agents["bob"]) as bob:
        assert again.hello["preferences"] == {"sound": False, "desktop": True, "title": True}
        assert bob.hello["preferences"] == {"sound": True, "desktop": False, "title": True}


async def test_the_owner_hears_their_visitor_write_whatever_they_view(upstream, agents):
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await ann.send({"type": "leave"})
        await client.send({"type": "message", "client_id": "v-1", "text": "Are you there?"})
        wrote = await ann.recv_until("visitor_wrote")
    assert wrote == {
        "type": "visitor_wrote",
        "conversation": public_id,
        "preview": "Are you there?",
    }


async def test_the_owner_hears_of_a_file_by_its_name(upstream, agents, settings, tmp_path):
    """A file's alert had an empty preview (a walk through the production shape)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id, token = client.hello["conversation"], client.hello["token"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await ann.send({"type": "leave"})
        sent = await database_sync_to_async(upload)(
            image_bytes(), "receipt.png", conversation=public_id, token=token, client_id="f-1"
        )
        assert sent.status_code == 201, sent.content
        wrote = await ann.recv_until("visitor_wrote")
    assert wrote["preview"] == "📎 receipt.png"


async def test_an_owner_who_went_offline_leaves_the_conversation_to_the_queue(
    upstream, agents, settings
):
    """A QA walk: an agent who had replied closed the tab (or signed out, or lost the network),
    and the visitor stayed "chatting with" them for good; nobody else could take it over."""
    settings.HANDOFF_OWNER_GONE_S = 0.3
    async with chat_socket() as client, agent_socket(agents["bob"]) as bob:
        public_id = client.hello["conversation"]
        async with agent_socket(agents["ann"]) as ann:
            await queued_by_button(client)
            await claimed(ann, public_id)
            await ann.send(
                {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Hi"}
            )
            await ann.recv_until("ack")
            await asyncio.sleep(0.4)
            # What the console's heartbeat does every 15 s.
            await database_sync_to_async(services.presence_update)(agent=agents["ann"], seen=True)
            assert await database_sync_to_async(services.queue_sweep)(present_ids=[]) == (
                services.Swept([], [], [])
            ), "an owner with the console open keeps it, however long ago they replied"
        await asyncio.sleep(0.4)  # Ann's console is closed
        swept = await database_sync_to_async(services.queue_sweep)(present_ids=[])
        back = await until(client, "handoff", timeout=5)
        await bob.recv_until(
            lambda f: (
                f["type"] == "conversations"
                and any(
                    i["conversation"] == public_id and i["status"] == "queued" for i in f["items"]
                )
            )
        )
        await claimed(bob, public_id)
        taken = await until(client, "conversation")
    assert swept.claims_expired == [public_id]
    assert back["position"] == 1 and taken["agent"] == "bob"
    assert await events(public_id) == [("offline", None, "ann", None)]
    conversation = await stored(public_id)
    assert conversation.status == "agent" and conversation.assigned_to.username == "bob"


async def test_a_lead_takes_over_a_conversation_another_agent_owns(upstream, agents):
    """No supervisor could step in when an agent was stuck or gone: only the owner could move
    a claimed conversation. A lead (`chatbot.change_conversation`) may, to themselves too; the
    hello tells their console so, and the visitor is told who has it now."""
    lead = await database_sync_to_async(make_agent)("lena")
    await database_sync_to_async(lead.user_permissions.add)(
        await database_sync_to_async(Permission.objects.get)(codename="change_conversation")
    )
    lead = await database_sync_to_async(User.objects.get)(pk=lead.pk)  # permissions not cached
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(lead) as lena,
    ):
        public_id = client.hello["conversation"]
        assert lena.hello["agent"]["may_take_over"] is True
        assert ann.hello["agent"]["may_take_over"] is False
        await queued_by_button(client)
        await claimed(ann, public_id)
        await until(client, "conversation")
        await lena.send({"type": "assign", "conversation": public_id, "agent": lead.pk})
        done = await lena.recv_until("assign_done")
        told = await until(client, "conversation")
        await ann.send(
            {"type": "send", "conversation": public_id, "client_id": "a-1", "text": "Still me"}
        )
        refused = await ann.recv_until("error")
        await lena.send(
            {"type": "send", "conversation": public_id, "client_id": "l-1", "text": "Lena here"}
        )
        await lena.recv_until("ack")
    assert (done["event"]["actor"], done["event"]["from"], done["event"]["to"]) == (
        "lena",
        "ann",
        "lena",
    )
    assert told == {"type": "conversation", "status": "agent", "agent": "lena", "moved": True}
    assert refused["code"] == "not_owner" and refused["owner"] == "lena"
    assert (await stored(public_id)).assigned_to.username == "lena"


async def test_claims_and_closes_are_lines_of_the_transcript(upstream, agents):
    """Who took a conversation and who ended it, and why, could not be read in the console's
    transcript (only transfers were): the audit log's lines join them, live and on opening."""
    async with (
        chat_socket() as client,
        agent_socket(agents["ann"]) as ann,
        agent_socket(agents["bob"]) as bob,
    ):
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await bob.send({"type": "open", "conversation": public_id})
        await bob.recv_until("transcript")
        await claimed(ann, public_id)
        claim_line = await bob.recv_until("assignment")
        await ann.send({"type": "close", "conversation": public_id, "reason": "resolved"})
        close_line = await bob.recv_until("assignment")
        await bob.send({"type": "open", "conversation": public_id})
        transcript = await bob.recv_until("transcript")
    assert (claim_line["event"]["kind"], claim_line["event"]["actor"]) == ("claim", "ann")
    assert close_line["event"]["kind"] == "close" and close_line["event"]["reason"] == "resolved"
    assert transcript["events"] == [claim_line["event"], close_line["event"]]
