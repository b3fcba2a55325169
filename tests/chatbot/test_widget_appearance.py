"""The widget's appearance in the admin: the embed snippet it writes, the preview page that
follows the form, and who may see them."""

import html
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from chatbot.models import WidgetAppearance
from chatbot.widget_config.appearance import appearance_from, embed_snippet

pytestmark = pytest.mark.django_db


def test_the_snippet_carries_only_what_differs_from_the_defaults_escaped() -> None:
    appearance = WidgetAppearance(
        title='Help "now"',
        title_zh_hans="帮助",
        color="#2f5d3a",
        position="left",
        welcome_zh_hans="您好<b>",
    )
    snippet = embed_snippet(appearance, server="https://chat.example.com")
    assert snippet.startswith(
        '<script src="https://chat.example.com/static/chatbot/widget.js" '
        'data-server="https://chat.example.com" data-title="Help &quot;now&quot;" '
    )
    assert 'data-position="left"' in snippet and 'data-welcome-zh-hans="您好&lt;b&gt;"' in snippet
    assert 'data-title-zh-hans="帮助"' in snippet  # a Chinese widget's own title
    assert "data-launcher-text" not in snippet and "data-logo" not in snippet
    assert snippet.endswith(" defer></script>")


def test_a_preview_keeps_the_default_for_a_value_that_does_not_validate() -> None:
    appearance = appearance_from(
        {"color": "#12", "position": "left", "logo_url": "javascript:alert(1)", "title": "x" * 99}
    )
    assert appearance.color == "#4f46e5" and appearance.position == "left"
    assert appearance.logo_url == "" and appearance.title == "x" * 60


def admin_client(*perms: str) -> Client:
    user = User.objects.create_user("owner", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_page_previews_and_gives_the_snippet(settings) -> None:
    client = admin_client(
        "add_widgetappearance", "change_widgetappearance", "view_widgetappearance"
    )
    page = client.get("/admin/chatbot/widgetappearance/", follow=True)
    assert page.redirect_chain[-1][0] == "/admin/chatbot/widgetappearance/add/"
    saved = client.post(
        "/admin/chatbot/widgetappearance/add/",
        {"title": "Northwind", "color": "#2f5d3a", "position": "left", "launcher_text": "Ask us"},
    )
    assert saved.status_code == 302
    change = client.get("/admin/chatbot/widgetappearance/", follow=True)
    body = change.content.decode()
    assert change.redirect_chain[-1][0].endswith("/change/")
    snippet = html.unescape(
        re.search(r'<textarea id="embed-snippet-text"[^>]*>(.*?)</textarea>', body, re.S)[1]
    )
    assert 'data-title="Northwind"' in snippet and 'data-launcher-text="Ask us"' in snippet
    assert "/admin/widget-preview/?" in body and "position=left" in body
    # The snippet alone does not work on another site (an onboarding walk): the page says what
    # the server must be told, and what it is told now.
    told = re.search(r'<p class="help" id="allowed-origins">(.*?)</p>', body, re.S)[1]
    assert "CHAT_ALLOWED_ORIGINS" in told and "Now: none." in told

    settings.CHAT_ALLOWED_ORIGINS = ["https://www.lumen.example", "https://shop.lumen.example"]
    again = client.get(change.redirect_chain[-1][0]).content.decode()
    assert "Now: https://www.lumen.example, https://shop.lumen.example." in again

    preview = client.get("/admin/widget-preview/", {"color": "#ff0000", "launcher_text": "Hi"})
    text = preview.content.decode()
    assert preview.status_code == 200 and preview["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]
    assert 'data-color="#ff0000"' in text and 'data-launcher-text="Hi"' in text


def test_staff_without_the_permission_cannot_open_the_preview() -> None:
    assert admin_client().get("/admin/widget-preview/").status_code == 403


def test_the_demo_store_embeds_the_widget_as_the_admin_saved_it(client) -> None:
    """A pilot's operator saved "Acme Pilot Help" in #e11d48 and judged it on the demo store,
    whose tag kept "Northwind Help" in green: nothing seemed to happen."""
    tag = re.compile(r'<script src="[^"]*widget\.js"([^>]*)>')
    before = tag.search(client.get("/").content.decode()).group(1)
    assert 'data-title="Northwind Help"' in before and 'data-color="#2f5d3a"' in before
    WidgetAppearance.objects.create(title="Acme Pilot Help", color="#e11d48", welcome_en="Hi!")
    after = tag.search(client.get("/?locale=zh-hans").content.decode()).group(1)
    assert 'data-title="Acme Pilot Help"' in after and 'data-color="#e11d48"' in after
    assert 'data-welcome-en="Hi!"' in after and 'data-locale="zh-hans"' in after
    assert "Northwind" not in after
