"""Attachments over HTTP, both ways: limits, type by content, the scanner hook, signed and
expiring URLs, CORS for the widget's sites, owner-only agent uploads, and the message that
reaches the visitor's socket (docs/security.md, "Attachments")."""

import io
import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chatbot import services
from chatbot.attachments import files
from chatbot.models import Conversation, Message
from tests.conftest import chat_socket
from tests.handoff.conftest import make_agent

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def eicar_scanner(data: bytes, *, name: str, content_type: str) -> str | None:
    """The test scanner the hook is proven with: refuses the EICAR test string."""
    return "EICAR test file" if EICAR in data else None


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHAT_ALLOWED_ORIGINS = ["https://shop.example"]


def pending() -> tuple[str, str]:
    return services.pending_conversation_new()


def upload(data: bytes, name: str, *, conversation: str, token: str, client_id: str = "c1", **kw):
    return Client(**kw).post(
        "/chat/attachments/?locale=en",
        {
            "conversation": conversation,
            "token": token,
            "client_id": client_id,
            "file": SimpleUploadedFile(name, data, content_type="application/octet-stream"),
        },
        **{k: v for k, v in kw.items() if k.startswith("HTTP_")},
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (image_bytes("PNG"), "image/png"),
        (image_bytes("JPEG"), "image/jpeg"),
        (image_bytes("GIF"), "image/gif"),
        (image_bytes("WEBP"), "image/webp"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
        ("订单 1234：收到时已损坏\n".encode(), "text/plain"),
        (b"MZ\x90\x00\x03\x00\x00\x00", None),  # a Windows executable
        (b"PK\x03\x04\x14\x00", None),  # a zip (or an office document)
        (b"\x00\x00\x00\x18ftypmp42", None),  # a video
        (b"", None),
    ],
)
def test_type_is_read_from_the_bytes(data, expected):
    assert files.sniff(data) == expected


def test_the_name_gets_the_extension_of_what_the_file_is():
    assert files.clean_name("../../etc/invoice.html", "text/plain") == "invoice.txt"
    assert files.clean_name("C:\\photos\\cat.pdf", "image/png") == "cat.png"
    assert files.clean_name("\u202egnp.exe", "image/png") == "gnp.png"  # no bidi override
    assert files.clean_name("", "application/pdf") == "file.pdf"


@pytest.mark.django_db
def test_visitor_upload_stores_the_conversation_and_a_message_the_bot_does_not_answer():
    public_id, token = pending()
    response = upload(
        image_bytes(), "receipt.pdf", conversation=public_id, token=token, client_id="f1"
    )
    assert response.status_code == 201, response.content
    message = response.json()["message"]
    assert message["role"] == "visitor" and message["client_id"] == "f1"
    attachment = message["attachment"]
    assert attachment["name"] == "receipt.png", "named after what it is, a PNG"
    assert attachment["content_type"] == "image/png" and attachment["image"] is True
    assert attachment["size"] == len(image_bytes())
    assert attachment["url"].startswith("/attachments/")
    assert attachment["thumbnail_url"].startswith("/attachments/")
    conversation = Conversation.objects.get(public_id=public_id)
    assert conversation.last_visitor_message_at is not None
    assert list(conversation.messages.values_list("role", flat=True)) == ["visitor"]

    again = upload(
        image_bytes(), "receipt.png", conversation=public_id, token=token, client_id="f1"
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["message"]["id"] == message["id"]
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db
def test_a_wrong_token_is_refused():
    public_id, _token = pending()
    response = upload(b"hello", "a.txt", conversation=public_id, token="x" * 64)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    not_ascii = upload(b"hello", "a.txt", conversation=public_id, token="é")  # was a 500
    assert not_ascii.status_code == 403 and not_ascii.json()["error"] == "forbidden"
    other_id, other_token = pending()
    upload(b"hello", "a.txt", conversation=other_id, token=other_token)
    stolen = upload(b"hello", "a.txt", conversation=other_id, token=pending()[1])
    assert stolen.status_code == 403
    assert not Conversation.objects.filter(public_id=public_id).exists()


@pytest.mark.django_db
def test_size_limit_and_types_outside_the_allow_list(settings):
    settings.CHAT_ATTACHMENT_MAX_BYTES = 4000
    public_id, token = pending()
    big = upload(b"a" * 4001, "big.txt", conversation=public_id, token=token)
    assert big.status_code == 413 and big.json()["error"] == "too_large"
    huge = upload(b"a" * 100_000, "huge.txt", conversation=public_id, token=token)
    assert huge.status_code == 413, "refused from Content-Length, before it is read"
    exe = upload(b"MZ\x90\x00" + b"\x00" * 100, "cat.png", conversation=public_id, token=token)
    assert exe.status_code == 400 and exe.json()["error"] == "type_not_allowed"
    assert "PNG, JPEG" in exe.json()["text"]
    fake = upload(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "x.png", conversation=public_id, token=token)
    assert fake.status_code == 400 and fake.json()["error"] == "unreadable"
    assert not Message.objects.exists()
    ok = upload(b"a" * 4000, "fits.txt", conversation=public_id, token=token)
    assert ok.status_code == 201


@pytest.mark.django_db
def test_refusals_are_in_the_visitors_language():
    public_id, token = pending()
    response = Client().post(
        "/chat/attachments/?locale=zh-hans",
        {
            "conversation": public_id,
            "token": token,
            "client_id": "z1",
            "file": SimpleUploadedFile("a.exe", b"MZ\x90\x00"),
        },
    )
    assert response.json()["error"] == "type_not_allowed"
    assert "PDF" in response.json()["text"] and "只能" in response.json()["text"]


@pytest.mark.django_db
def test_the_scanner_hook_refuses_what_it_flags(settings):
    public_id, token = pending()
    unscanned = upload(EICAR, "eicar.txt", conversation=public_id, token=token, client_id="a")
    assert unscanned.status_code == 201, "no scanner configured: stored, unscanned"
    settings.CHAT_ATTACHMENT_SCANNER = "tests.chatbot.test_attachments.eicar_scanner"
    flagged = upload(EICAR, "eicar.txt", conversation=public_id, token=token, client_id="b")
    assert flagged.status_code == 400 and flagged.json()["error"] == "infected"
    clean = upload(b"just text", "note.txt", conversation=public_id, token=token, client_id="c")
    assert clean.status_code == 201
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_signed_urls_serve_the_file_safely_and_expire(settings):
    public_id, token = pending()
    pdf = b"%PDF-1.4\n<script>alert(1)</script>\n"
    doc = upload(pdf, "terms.pdf", conversation=public_id, token=token, client_id="d")
    url = doc.json()["message"]["attachment"]["url"]
    served = Client().get(url)
    assert served.status_code == 200 and b"".join(served.streaming_content) == pdf
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"].startswith("attachment;")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"] == "default-src 'none'; sandbox"

    image = upload(image_bytes(), "p.png", conversation=public_id, token=token, client_id="i")
    shown = Client().get(image.json()["message"]["attachment"]["url"])
    assert shown["Content-Type"] == "image/png" and shown["Content-Disposition"].startswith(
        "inline"
    )
    thumb = Client().get(image.json()["message"]["attachment"]["thumbnail_url"])
    small = Image.open(io.BytesIO(b"".join(thumb.streaming_content)))
    assert max(small.size) <= 320 and small.size[0] == 320
    assert thumb["X-Content-Type-Options"] == "nosniff"

    assert Client().get(url[:-3] + "abc/").status_code == 404, "a tampered token"
    settings.CHAT_ATTACHMENT_URL_MAX_AGE_S = -1  # every signature is older than that
    assert Client().get(url).status_code == 404, "an expired token"


@pytest.mark.django_db
def test_the_upload_response_is_readable_from_allowed_sites_only():
    public_id, token = pending()
    allowed = upload(
        b"hi", "a.txt", conversation=public_id, token=token, HTTP_ORIGIN="https://shop.example"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Credentials" not in allowed
    other = upload(
        b"hi",
        "a.txt",
        conversation=public_id,
        token=token,
        client_id="c2",
        HTTP_ORIGIN="https://evil.example",
    )
    assert "Access-Control-Allow-Origin" not in other
    preflight = Client().options("/chat/attachments/", HTTP_ORIGIN="https://shop.example")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example"


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def agent_upload(client: Client, public_id: str, data: bytes, name: str, client_id: str = "a1"):
    return client.post(
        f"/console/conversations/{public_id}/attachments/",
        {"client_id": client_id, "file": SimpleUploadedFile(name, data)},
    )


@pytest.mark.django_db
def test_only_the_owner_sends_files_and_csrf_is_checked():
    ann, bob = make_agent("ann"), make_agent("bob")
    conversation = Conversation.objects.create(status=Conversation.Status.AGENT, assigned_to=ann)
    pid = conversation.public_id
    assert agent_upload(signed_in(ann, csrf=True), pid, b"x", "a.txt").status_code == 403
    not_owner = agent_upload(signed_in(bob), pid, b"x", "a.txt")
    assert not_owner.status_code == 403 and not_owner.json()["error"] == "not_owner"
    outsider = make_agent("eve", in_group=False)
    assert agent_upload(signed_in(outsider), pid, b"x", "a.txt").status_code == 403
    anonymous = agent_upload(Client(), pid, b"x", "a.txt")
    assert anonymous.status_code == 302
    assert not Message.objects.exists()
    sent = agent_upload(signed_in(ann), pid, image_bytes("JPEG"), "label.jpg")
    assert sent.status_code == 201
    message = sent.json()["message"]
    assert message["role"] == "agent" and message["author"] == {"name": "ann"}
    assert message["attachment"]["content_type"] == "image/jpeg"
    assert Conversation.objects.get(pk=conversation.pk).first_agent_reply_at is not None


@pytest.mark.django_db(transaction=True)
async def test_files_reach_the_other_side_as_messages(settings):
    """The agent's file reaches the visitor's socket, the visitor's file is replayed on resume
    with a freshly signed URL."""
    ann = await sync_to_async(make_agent)("ann")
    async with chat_socket() as visitor:
        public_id, token = visitor.hello["conversation"], visitor.hello["token"]
        sent = await sync_to_async(upload)(
            image_bytes(), "photo.png", conversation=public_id, token=token, client_id="v1"
        )
        assert sent.status_code == 201
        echo = await visitor.recv()
        assert echo["type"] == "message" and echo["message"]["client_id"] == "v1"
        assert echo["message"]["attachment"]["name"] == "photo.png"
        await Conversation.objects.filter(public_id=public_id).aupdate(
            status=Conversation.Status.AGENT, assigned_to=ann
        )
        reply = await sync_to_async(agent_upload)(
            await sync_to_async(signed_in)(ann), public_id, b"%PDF-1.4\n", "invoice.pdf"
        )
        assert reply.status_code == 201
        frame = await visitor.recv()
        assert frame["type"] == "message" and frame["message"]["role"] == "agent"
        assert frame["message"]["attachment"]["name"] == "invoice.pdf"
        assert frame["message"]["attachment"]["thumbnail_url"] is None

        await visitor.send({"type": "resume", "after": 0})
        frames = await visitor.recv_until("resumed")
        names = [f["message"]["attachment"]["name"] for f in frames if f["type"] == "message"]
        assert names == ["photo.png", "invoice.pdf"]
        assert json.dumps(frames).count("/attachments/") == 3  # photo, its thumbnail, invoice


@pytest.mark.django_db
def test_a_file_is_never_taken_for_an_unanswered_question():
    """Recovery answers visitor messages left without a reply: never one carrying a file."""
    from chatbot import recovery

    public_id, token = pending()
    upload(b"what about this?", "q.txt", conversation=public_id, token=token, client_id="f")
    conversation = Conversation.objects.get(public_id=public_id)
    question = Message.objects.create(conversation=conversation, role="visitor", text="Hello?")
    orphans = recovery.orphaned_messages(max_age_s=600, conversation_id=conversation.pk)
    assert [o[0] for o in orphans] == [question.pk]
    assert services.unanswered_visitor_message_ids(conversation=conversation) == [question.pk]


@pytest.mark.django_db
def test_a_file_past_the_in_memory_upload_size_is_stored_whole(settings):
    """Past FILE_UPLOAD_MAX_MEMORY_SIZE Django spools the upload to a temporary file."""
    public_id, token = pending()
    data = ("第 %06d 行：订单记录\n" * 200_000 % tuple(range(200_000))).encode()
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE < len(data) < settings.CHAT_ATTACHMENT_MAX_BYTES
    response = upload(data, "log.txt", conversation=public_id, token=token)
    assert response.status_code == 201
    served = Client().get(response.json()["message"]["attachment"]["url"])
    assert b"".join(served.streaming_content) == data
    assert served["Content-Type"] == "text/plain; charset=utf-8"
