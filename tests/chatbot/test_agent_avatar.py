"""An agent's photo: uploaded in the admin, stored re-encoded and small, served publicly at an
address that changes with it, and named in the `author` of the agent's messages."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from chatbot.handoff.models import AgentProfile
from chatbot.models import Conversation, Message
from chatbot.services import message_payload
from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db


def photo(size: tuple[int, int] = (600, 400), fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (20, 120, 200))
    image.save(out, fmt, exif=Image.Exif()) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def upload(admin: Client, profile: AgentProfile, data: bytes, name: str):
    return admin.post(
        f"/admin/handoff/agentprofile/{profile.pk}/change/",
        {
            "user": profile.user_id,
            "capacity": "",
            "avatar": SimpleUploadedFile(name, data),
            "notify_sound": "on",
            "notify_title": "on",
        },
    )


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def test_a_photo_is_stored_small_and_re_encoded_and_named_in_agent_messages(
    admin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    ann = make_agent("ann")
    profile = AgentProfile.objects.create(user=ann)
    conversation = Conversation.objects.create()
    said = Message.objects.create(conversation=conversation, role="agent", text="Hi", author=ann)
    assert "avatar" not in message_payload(said)["author"]  # initials until there is a photo

    assert upload(admin, profile, photo(), "me.jpg").status_code == 302
    profile.refresh_from_db()
    with Image.open(profile.avatar.open("rb")) as stored:
        assert max(stored.size) <= 96 and stored.format == "JPEG"
        assert not stored.getexif()
    url = message_payload(Message.objects.get(pk=said.pk))["author"]["avatar"]
    assert url.startswith(f"/agents/{ann.pk}/avatar?v=")

    served = Client().get(url)  # anyone: visitors see it on any site
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert served["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == profile.avatar.open("rb").read()

    # A new photo gets a new address, so a cached old one is never shown for it.
    assert upload(admin, profile, photo(fmt="PNG"), "me.png").status_code == 302
    assert message_payload(Message.objects.get(pk=said.pk))["author"]["avatar"] != url


def test_what_is_not_an_image_is_refused_and_nobody_without_a_photo_has_one(
    admin, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    profile = AgentProfile.objects.create(user=make_agent("bob"))
    page = upload(admin, profile, b"<svg onload='alert(1)'></svg>", "me.png")
    assert page.status_code == 200 and b"Upload a valid image." in page.content
    # An image of another format (Pillow reads it; browsers may not): refused too.
    page = upload(admin, profile, photo(fmt="BMP"), "me.bmp")
    assert page.status_code == 200 and b"Not a PNG, JPEG, GIF or WebP image." in page.content
    profile.refresh_from_db()
    assert not profile.avatar
    assert Client().get(f"/agents/{profile.user_id}/avatar").status_code == 404
    assert Client().get("/agents/999999/avatar").status_code == 404
