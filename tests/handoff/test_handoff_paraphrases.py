"""Paraphrases from handoffs: when an agent answers a visitor with an FAQ's approved answer, or
says the question was that FAQ, the visitor's question becomes a draft phrasing of the FAQ
(greetings stripped), never one that holds personal details and never twice; editors approve
drafts in the admin, and only approved ones are matched."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission, User
from django.test import Client as HttpClient
from django.urls import reverse

from knowledge import services
from knowledge.models import FAQ, Origin, Paraphrase
from knowledge.selectors import faq_lookup
from tests.conftest import chat_socket
from tests.handoff.conftest import agent_socket
from tests.handoff.test_handoff import claimed, queued_by_button, until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("settle", "settle_handoffs"),
]

ANSWER = "You can return unworn shoes within 30 days for a full refund."


def make_faq() -> FAQ:
    return services.faq_save(question="What is your return policy?", answer=ANSWER)


@database_sync_to_async
def handoff_drafts() -> list[tuple[str, bool]]:
    return list(Paraphrase.objects.filter(origin=Origin.HANDOFF).values_list("text", "approved"))


async def visitor_asks_and_agent_answers(agents, questions: list[str], reply: str) -> str:
    """Each question from the visitor, each answered by the agent with `reply`."""
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        for n, question in enumerate(questions):
            await client.send({"type": "message", "client_id": f"v-{n}", "text": question})
            await ann.recv_until(
                lambda f: f["type"] == "message" and f["message"]["role"] == "visitor"
            )
            await ann.send(
                {"type": "send", "conversation": public_id, "client_id": f"a-{n}", "text": reply}
            )
            await ann.recv_until("ack")
            await until(client, lambda f: f["type"] == "message")
    return public_id


async def test_an_faq_answer_sent_by_an_agent_makes_one_draft_of_the_visitors_question(
    upstream, agents
):
    faq = await database_sync_to_async(make_faq)()
    question = "Hi there, can I send back shoes that don't fit?"
    await visitor_asks_and_agent_answers(agents, [question, question], ANSWER)
    assert await handoff_drafts() == [("can I send back shoes that don't fit?", False)]
    draft = await database_sync_to_async(Paraphrase.objects.get)(origin=Origin.HANDOFF)
    assert draft.faq_id == faq.pk
    assert draft.embedding is not None, "drafts are embedded when proposed, as generated ones"
    lookup = await database_sync_to_async(faq_lookup)(text=draft.text, locale="en")
    assert lookup.decision != "exact", "a draft is not in the index until approved"


async def test_no_draft_when_the_question_holds_personal_details_or_the_reply_is_free_text(
    upstream, agents
):
    await database_sync_to_async(make_faq)()
    await visitor_asks_and_agent_answers(
        agents, ["can I return shoes? my email is jo@example.com"], ANSWER
    )
    await visitor_asks_and_agent_answers(
        agents, ["can I return shoes bought in a sale?"], "Let me check that for you."
    )
    assert await handoff_drafts() == []


async def test_an_agent_links_the_visitors_question_to_an_faq(upstream, agents):
    faq = await database_sync_to_async(make_faq)()
    async with chat_socket() as client, agent_socket(agents["ann"]) as ann:
        public_id = client.hello["conversation"]
        await queued_by_button(client)
        await claimed(ann, public_id)
        await client.send({"type": "message", "client_id": "v-1", "text": "refund for boots?"})
        await ann.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "visitor")
        await ann.send({"type": "canned", "query": "return"})
        canned = await ann.recv_until("canned_results")
        assert canned["items"][0]["faq"] == faq.pk
        for _ in range(2):
            await ann.send({"type": "link_faq", "conversation": public_id, "faq": faq.pk})
            linked = await ann.recv_until("faq_linked")
            assert linked["faq"] == faq.pk
        assert linked["paraphrase"] is None, "the second link finds the wording known"
    assert await handoff_drafts() == [("refund for boots?", False)]


def staff_client(*, permissions: list[str]) -> HttpClient:
    user = User.objects.create_user("editor", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = HttpClient()
    client.force_login(user)
    return client


def test_drafts_are_approved_in_the_admin_only_with_change_permission():
    faq = make_faq()
    (draft,) = services.paraphrases_add(
        faq=faq, texts=["send back shoes"], origin=Origin.HANDOFF, approved=False
    )
    url = reverse("admin:knowledge_paraphrase_changelist")
    form = {"action": "approve", "_selected_action": [draft.pk]}

    viewer = staff_client(permissions=["view_paraphrase"])
    assert "send back shoes" in viewer.get(url, {"origin__exact": "handoff"}).content.decode()
    viewer.post(url, form)
    draft.refresh_from_db()
    assert not draft.approved

    User.objects.filter(username="editor").delete()
    editor = staff_client(permissions=["view_paraphrase", "change_paraphrase"])
    review = editor.post(url, form)  # each phrasing beside its FAQ first
    assert review.status_code == 200 and "send back shoes" in review.content.decode()
    draft.refresh_from_db()
    assert not draft.approved
    assert editor.post(url, {**form, "confirm_approval": "yes"}).status_code == 302
    draft.refresh_from_db()
    assert draft.approved and draft.embedding is not None
    assert faq_lookup(text="send back shoes", locale="en").result.faq_id == faq.pk


async def test_an_agent_finds_help_centre_articles_agents_only_ones_marked(upstream, agents):
    """A walk's agent had no way from the console to any article, nor to the internal
    procedures at all: "agents only" meant superuser only."""

    def write() -> tuple[int, int]:
        internal = services.document_write(
            title="Refund override procedure",
            text="## Steps\n\nAgents approve refund overrides up to $50 with code RF-OVR-7731.",
            locale="en",
            visibility="agents",
            index_inline=True,
        ).document
        public = services.document_write(
            title="Refunds",
            text="## Timing\n\nRefunds reach your card within 5 working days.",
            locale="en",
            index_inline=True,
        ).document
        return internal.pk, public.pk

    internal, public = await database_sync_to_async(write)()
    async with agent_socket(agents["ann"]) as ann:
        await ann.send({"type": "canned", "query": "refund override code", "locale": "en"})
        found = await ann.recv_until("canned_results")
    by_title = {a["title"]: a for a in found["articles"]}
    override = by_title["Refund override procedure"]
    assert override["agents_only"] is True and "RF-OVR-7731" in override["excerpt"]
    assert override["url"] == f"/help/{internal}/#steps", "at its heading"
    async with agent_socket(agents["ann"]) as ann:
        await ann.send({"type": "canned", "query": "refunds card working days", "locale": "en"})
        found = await ann.recv_until("canned_results")
    assert found["articles"][0]["url"] == f"/help/{public}/#timing"
    assert found["articles"][0]["agents_only"] is False


def test_staff_read_an_agents_only_help_page_that_visitors_cannot(client):
    internal = services.document_write(
        title="退款特批流程", text="客服可直接批准 50 元以内的退款，代码 TK-TP-8842。",
        locale="zh-hans", visibility="agents",
    ).document  # fmt: skip
    assert client.get(f"/help/{internal.pk}/").status_code == 404
    client.force_login(User.objects.create_user("agent-z", password="pw", is_staff=True))
    page = client.get(f"/help/{internal.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    text = page.content.decode()
    assert "TK-TP-8842" in text and "仅客服可见：访客无法查看此页面。" in text
