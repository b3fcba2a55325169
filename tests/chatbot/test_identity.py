"""Logged-in visitors: a user id signed by the embedding site opens the user's conversations on
any device and shows agents who they are; a claim without a matching signature is ignored."""

import hashlib
import hmac
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chatbot import services
from chatbot.inbox import visitor
from chatbot.inbox.models import VisitorContext
from chatbot.models import Conversation
from chatbot.security.identity import Identity, identity_signature, identity_verify
from tests.conftest import chat_socket
from tests.handoff.conftest import make_agent

SECRET = "site-secret-for-tests"


def test_the_signature_is_hmac_sha256_of_the_id_or_of_id_name_and_email():
    assert identity_signature(secret=SECRET, user_id="u-42") == (
        hmac.new(SECRET.encode(), b"u-42", hashlib.sha256).hexdigest()
    )
    full = hmac.new(SECRET.encode(), b"u-42\nAnn Lee\nann@example.com", hashlib.sha256)
    assert identity_signature(
        secret=SECRET, user_id="u-42", name="Ann Lee", email="ann@example.com"
    ) == (full.hexdigest())


def test_a_matching_signature_verifies_and_covers_only_what_it_signed():
    id_only = identity_signature(secret=SECRET, user_id="u-42")
    full = identity_signature(secret=SECRET, user_id="u-42", name="Ann", email="ann@example.com")
    assert identity_verify(secret=SECRET, user_id="u-42", user_hash=id_only) == Identity("u-42")
    # Name and email sent beside a hash of the id alone are claims nobody vouched for: dropped.
    assert identity_verify(
        secret=SECRET, user_id="u-42", user_hash=id_only, name="CEO", email="ceo@example.com"
    ) == Identity("u-42")
    assert identity_verify(
        secret=SECRET, user_id="u-42", user_hash=full.upper(), name="Ann", email="ann@example.com"
    ) == Identity("u-42", "Ann", "ann@example.com")
    # The signed name with another email: only the id could be vouched for, and it was not.
    assert (
        identity_verify(
            secret=SECRET, user_id="u-42", user_hash=full, name="Ann", email="eve@example.com"
        )
        is None
    )


@pytest.mark.parametrize(
    ("secret", "user_id", "user_hash"),
    [
        ("", "u-42", identity_signature(secret="", user_id="u-42")),  # no secret configured
        (SECRET, "u-43", identity_signature(secret=SECRET, user_id="u-42")),  # another user's
        (SECRET, "u-42", identity_signature(secret="other", user_id="u-42")),  # another secret
        (SECRET, "u-42", "not-hex"),
        (SECRET, "u-42", ""),
        (SECRET, "", identity_signature(secret=SECRET, user_id="")),
        (SECRET, "u\n42", identity_signature(secret=SECRET, user_id="u\n42")),  # control char
        (SECRET, "u" * 129, identity_signature(secret=SECRET, user_id="u" * 129)),
    ],
)
def test_claims_without_a_matching_signature_are_ignored(secret, user_id, user_hash):
    assert identity_verify(secret=secret, user_id=user_id, user_hash=user_hash) is None


def _query(user_id: str, *, signed_with: str = SECRET, **extra: str) -> str:
    params = {
        "user_id": user_id,
        "user_hash": identity_signature(
            secret=signed_with,
            user_id=user_id,
            name=extra.get("user_name", ""),
            email=extra.get("user_email", ""),
        ),
    }
    return "?" + urlencode(params | extra)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_verified_visitor_finds_their_conversation_on_another_device(upstream, settings):
    settings.CHAT_IDENTITY_SECRET = SECRET
    query = _query("u-42", user_name="Ann Lee", user_email="ann@example.com")
    async with chat_socket(query + "&visitor=laptop-0000000000000000") as laptop:
        assert laptop.hello["identified"] is True and laptop.hello["conversations"] == []
        await laptop.say("Where is my parcel?", "c-1")
        public_id = laptop.hello["conversation"]

    # A phone: no stored conversation, no token; the same signed id picks it up.
    async with chat_socket(_query("u-42") + "&visitor=phone-00000000000000000") as phone:
        assert phone.hello["conversation"] == public_id
        assert phone.hello["token"] == laptop.hello["token"] and phone.hello["last_id"] > 0
        listed = phone.hello["conversations"]
        assert [c["conversation"] for c in listed] == [public_id]
        assert listed[0]["preview"] == "Where is my parcel?"
        await phone.send({"type": "resume", "after": 0})
        frames = await phone.recv_until("resumed")
    texts = [f["message"]["text"] for f in frames if f["type"] == "message"]
    assert texts[0] == "Where is my parcel?" and len(texts) == 2  # the question and its answer

    # An older conversation opens by id alone on a verified socket (the widget's list).
    async with chat_socket(_query("u-42") + f"&conversation={public_id}") as again:
        assert again.hello["conversation"] == public_id and again.hello["status"] == "bot"

    # Agents see who it is, and the phone's conversation is the same one.
    row = await database_sync_to_async(VisitorContext.objects.get)(
        conversation__public_id=public_id
    )
    assert (row.verified_user_id, row.verified_name, row.verified_email) == (
        "u-42",
        "Ann Lee",
        "ann@example.com",
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_bad_signature_opens_nothing_and_is_not_stored(upstream, settings):
    settings.CHAT_IDENTITY_SECRET = SECRET
    async with chat_socket(_query("u-42")) as owner:
        await owner.say("Hello", "c-1")
        public_id = owner.hello["conversation"]
    forged = _query("u-42", signed_with="guessed", user_name="Ann", user_email="ann@example.com")
    async with chat_socket(forged) as stranger:
        assert stranger.hello["identified"] is False and "conversations" not in stranger.hello
        assert stranger.hello["conversation"] != public_id
        await stranger.say("Hi", "c-1")
        theirs = stranger.hello["conversation"]
    async with chat_socket(forged + f"&conversation={public_id}") as stranger:
        error = stranger.hello
    assert error["type"] == "error" and error["code"] == "forbidden"
    row = await database_sync_to_async(VisitorContext.objects.get)(conversation__public_id=theirs)
    assert (row.verified_user_id, row.verified_name, row.verified_email) == ("", "", "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_a_verified_conversation_needs_its_user_even_with_the_token(upstream, settings):
    """A shared computer: after the user logs out (or another logs in) the browser still holds
    the conversation's token; it no longer opens it."""
    settings.CHAT_IDENTITY_SECRET = SECRET
    async with chat_socket("?" + urlencode({"visitor": "shared-0000000000000000"})) as anonymous:
        await anonymous.say("My order is late", "c-1")
        public_id, token = anonymous.hello["conversation"], anonymous.hello["token"]
    mine = f"&conversation={public_id}&token={token}"
    # Logged in mid-conversation: the anonymous conversation becomes the user's.
    async with chat_socket(_query("u-42") + mine) as logged_in:
        assert logged_in.hello["conversation"] == public_id
    row = await database_sync_to_async(VisitorContext.objects.get)(
        conversation__public_id=public_id
    )
    assert row.verified_user_id == "u-42"
    for query in ("?" + mine[1:], _query("u-77") + mine):  # logged out; another user
        async with chat_socket(query) as other:
            assert other.hello["type"] == "error" and other.hello["code"] == "forbidden"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("settle")
async def test_without_a_secret_configured_identity_claims_are_ignored(upstream, settings):
    settings.CHAT_IDENTITY_SECRET = ""
    unsigned = _query("u-42", signed_with="", user_name="Ann", user_email="ann@example.com")
    async with chat_socket(unsigned) as first:
        assert first.hello["identified"] is False
        await first.say("Hello", "c-1")
        public_id = first.hello["conversation"]
    async with chat_socket(unsigned) as second:
        assert second.hello["conversation"] != public_id
    context = await database_sync_to_async(visitor.visitor_context_of)(public_id=public_id)
    assert context["identity"] is None


@pytest.mark.django_db
def test_agents_see_the_verified_name_and_email_and_every_device():
    laptop, phone, stranger = (Conversation.objects.create() for _ in range(3))
    verified = Identity("u-42", "Ann Lee", "ann@example.com")
    for conversation, visitor_id, identity in (
        (laptop, "laptop-0000000000000000", verified),
        (phone, "phone-00000000000000000", Identity("u-42")),
        (stranger, "other-00000000000000000", None),
    ):
        visitor.visitor_context_save(
            conversation_id=conversation.pk,
            context=visitor.Context(visitor_id=visitor_id, identity=identity),
        )
    client = Client()
    client.force_login(make_agent("ann"))
    body = client.get(f"/console/inbox/conversations/{phone.public_id}/visitor/").json()
    assert body["identity"] == {
        "user_id": "u-42",
        "name": "",
        "email": "",
        "verified": True,
    }
    assert [p["conversation"] for p in body["past"]] == [laptop.public_id]
    body = client.get(f"/console/inbox/conversations/{laptop.public_id}/visitor/").json()
    assert body["identity"]["name"] == "Ann Lee"
    assert body["identity"]["email"] == "ann@example.com"
    body = client.get(f"/console/inbox/conversations/{stranger.public_id}/visitor/").json()
    assert body["identity"] is None


@pytest.mark.django_db
def test_an_upload_to_a_verified_conversation_needs_its_user(settings, tmp_path):
    """The file upload over HTTP holds the same line as the socket: the token alone no longer
    opens a conversation of a verified user."""
    settings.CHAT_IDENTITY_SECRET, settings.MEDIA_ROOT = SECRET, tmp_path
    public_id, token = services.pending_conversation_new()
    signed = {"user_id": "u-42", "user_hash": identity_signature(secret=SECRET, user_id="u-42")}

    def upload(client_id: str, **fields: str):
        data = {"conversation": public_id, "token": token, "client_id": client_id, **fields}
        data["file"] = SimpleUploadedFile("note.txt", b"receipt 1234\n")
        return Client().post("/chat/attachments/?locale=en", data)

    assert upload("c-1", **signed).status_code == 201  # stores it, bound to u-42
    row = VisitorContext.objects.get(conversation__public_id=public_id)
    assert row.verified_user_id == "u-42"
    refused = upload("c-2")  # the token alone (after a logout)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    other = {"user_id": "u-77", "user_hash": identity_signature(secret=SECRET, user_id="u-77")}
    assert upload("c-3", **other).status_code == 403
    assert upload("c-4", **signed).status_code == 201


@pytest.mark.django_db
def test_opening_reads_the_conversation_and_its_owner_in_one_query(django_assert_num_queries):
    conversation = Conversation.objects.create()
    visitor.visitor_context_save(
        conversation_id=conversation.pk, context=visitor.Context(identity=Identity("u-42"))
    )
    public_id, token = conversation.public_id, conversation.visitor_token
    with django_assert_num_queries(1):
        opened, exists = visitor.conversation_open_as(
            public_id=public_id, token=token, identity=None
        )
    assert (opened, exists) == (None, True)
    with django_assert_num_queries(1):
        opened, _ = visitor.conversation_open_as(
            public_id=public_id, token="", identity=Identity("u-42")
        )
    assert opened == conversation
