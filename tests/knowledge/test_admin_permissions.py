"""Every admin URL refuses a staff user without model permissions (agents are staff): custom
views and actions check the permission of what they change, not only is_staff."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.urls import URLPattern, URLResolver

pytestmark = pytest.mark.django_db


def _routes(patterns, prefix: str = "") -> list[str]:
    routes = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            routes.append(route)
    return routes


def _model_routes() -> list[str]:
    """Each registered model's admin URLs, with 1 for any object id."""
    routes = []
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for route in _routes(model_admin.get_urls()):
            path = re.sub(r"<[^>]+>", "1", route).lstrip("^").rstrip("$")
            if "(" in path or "\\" in path:
                continue  # a regex route (Django's redirect of bare object ids)
            routes.append(base + path)
    return sorted(set(routes))


def _written() -> dict[str, int]:
    from chatbot.cache.models import CachedAnswer
    from knowledge.models import FAQ, Document, DocumentImport, Paraphrase

    return {m.__name__: m.objects.count() for m in (FAQ, Paraphrase, Document, DocumentImport,
                                                     CachedAnswer)}  # fmt: skip


def test_a_staff_user_without_permissions_is_refused_everywhere(client):
    """No admin page renders for a staff user without permissions (a redirect serves nothing),
    and a POST to any of them writes nothing."""
    agent = User.objects.create_user("agent", password="pw", is_staff=True)
    client.force_login(agent)
    routes = _model_routes()
    assert "/admin/knowledge/faq/import/" in routes and len(routes) > 40
    rendered = [route for route in routes if client.get(route).status_code == 200]
    assert rendered == [], "pages a permissionless staff user could open"
    before = _written()
    posted = [route for route in routes if client.post(route, {"x": "1"}).status_code == 200]
    assert posted == []
    assert _written() == before, "a POST wrote something"


def test_the_faq_import_needs_add_and_change_faq(client):
    editor = User.objects.create_user("editor", password="pw", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="change_faq"))
    client.force_login(editor)
    assert client.get("/admin/knowledge/faq/import/").status_code == 403
    editor.user_permissions.add(Permission.objects.get(codename="add_faq"))
    editor = User.objects.get(pk=editor.pk)  # permissions are cached per instance
    client.force_login(editor)
    assert client.get("/admin/knowledge/faq/import/").status_code == 200
