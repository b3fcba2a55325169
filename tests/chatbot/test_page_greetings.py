"""The proactive greeting a page gets: the first active rule in order whose pattern matches the
page's path, for its locale or any; public JSON any site may read."""

import pytest
from django.test import Client

from chatbot.models import PageGreeting

pytestmark = pytest.mark.django_db


def greeting(client: Client, path: str, locale: str = "en") -> dict:
    response = client.get("/widget/greeting", {"path": path, "locale": locale})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "max-age=60" in response["Cache-Control"]
    return response.json()


def test_the_first_matching_rule_for_the_locale_wins(client: Client) -> None:
    PageGreeting.objects.create(path_pattern="*", greeting="Hello anywhere", order=9)
    PageGreeting.objects.create(
        path_pattern="/pricing*",
        greeting="Questions about plans?",
        suggestions="Is there a free trial?\n\n  Can I pay yearly?  \n",
        delay_s=3,
        order=1,
    )
    PageGreeting.objects.create(
        path_pattern="/pricing*", locale="zh-hans", greeting="想了解套餐吗？", order=0
    )
    PageGreeting.objects.create(path_pattern="/pricing", greeting="Off", order=0, active=False)

    assert greeting(client, "/pricing/teams") == {
        "greeting": "Questions about plans?",
        "suggestions": ["Is there a free trial?", "Can I pay yearly?"],
        "delay_s": 3,
    }
    assert greeting(client, "/pricing", "zh-hans")["greeting"] == "想了解套餐吗？"
    assert greeting(client, "/blog/post")["greeting"] == "Hello anywhere"


def test_no_rule_no_greeting_and_at_most_four_suggestions(client: Client) -> None:
    assert greeting(client, "/") == {"greeting": "", "suggestions": [], "delay_s": 0}
    PageGreeting.objects.create(path_pattern="/", suggestions="\n".join("abcdef"))
    assert greeting(client, "/")["suggestions"] == ["a", "b", "c", "d"]
    assert greeting(client, "/other") == {"greeting": "", "suggestions": [], "delay_s": 0}


def test_only_get(client: Client) -> None:
    assert client.post("/widget/greeting", {"path": "/"}).status_code == 405


def test_the_rules_are_read_once_until_one_changes(
    client: Client, django_assert_num_queries
) -> None:
    rule = PageGreeting.objects.create(path_pattern="/", greeting="Hi")
    assert greeting(client, "/")["greeting"] == "Hi"
    with django_assert_num_queries(0):
        assert greeting(client, "/")["greeting"] == "Hi"
        assert greeting(client, "/other")["greeting"] == ""
    rule.greeting = "Hello again"
    rule.save()
    assert greeting(client, "/")["greeting"] == "Hello again"
    rule.delete()
    assert greeting(client, "/")["greeting"] == ""


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8766", True),  # a host in ALLOWED_HOSTS, any port
        ("https://shop.example", True),  # listed in CHAT_ALLOWED_ORIGINS
        ("https://evil.example", False),
        (None, False),  # no Origin: a browser always sends one across sites
    ],
)
def test_the_origin_check_says_what_the_chat_socket_would(
    client: Client, settings, origin: str | None, allowed: bool
) -> None:
    settings.CHAT_ALLOWED_ORIGINS = ["https://shop.example"]
    headers = {"Origin": origin} if origin else {}
    response = client.get("/widget/origin", headers=headers)
    assert response.json() == {"origin": origin, "allowed": allowed}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"] == "no-store"
    if origin:  # a same-origin fetch carries no Origin header: the page's word in the query
        named = client.get("/widget/origin", {"origin": origin}).json()
        assert named == {"origin": origin, "allowed": allowed}


def test_saving_a_rule_an_earlier_one_hides_says_so(admin_client) -> None:
    """A lead's new rule for "/" at order 0 saved fine and never showed: the demo's older rule
    for the same pages won the tie (a walk)."""
    PageGreeting.objects.create(path_pattern="*", locale="", greeting="Hello from every page")
    form = {"path_pattern": "/", "locale": "zh-hans", "greeting": "您好", "suggestions": "",
            "delay_s": 8, "order": 0, "active": "on"}  # fmt: skip
    page = admin_client.post("/admin/chatbot/pagegreeting/add/", form, follow=True)
    assert "comes first on the pages this rule matches" in page.content.decode()
    assert greeting(Client(), "/", "zh-hans")["greeting"] == "Hello from every page"
    other = PageGreeting.objects.get(path_pattern="/")
    PageGreeting.objects.filter(path_pattern="*").update(order=5)  # the lead moves the old one
    page = admin_client.post(f"/admin/chatbot/pagegreeting/{other.pk}/change/", form, follow=True)
    assert "comes first" not in page.content.decode()
    assert greeting(Client(), "/", "zh-hans")["greeting"] == "您好"
