"""Wrong passwords are limited per account and address (django-axes): a security walk guessed
100 passwords for an agent in 48 s at the console's sign-in, then signed in with the right one."""

import pytest
from django.test import Client

from tests.handoff.conftest import make_agent

pytestmark = pytest.mark.django_db

GUESSER, AGENT_LAPTOP = "203.0.113.9", "198.51.100.4"


def sign_in(client: Client, path: str, password: str, address: str):
    return client.post(path, {"username": "ann", "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("path", ["/console/login/", "/admin/login/"])
def test_after_the_limit_even_the_right_password_waits(path, settings):
    settings.AXES_FAILURE_LIMIT = 5
    make_agent("ann")
    guesser = Client()
    for _ in range(4):
        assert sign_in(guesser, path, "wrong", GUESSER).status_code == 200  # the form again
    assert sign_in(guesser, path, "wrong", GUESSER).status_code == 429  # the fifth
    locked = sign_in(guesser, path, "pw-ann", GUESSER)
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in guesser.session

    # The agent at their own desk is not locked out by a stranger's guesses.
    agent = Client()
    assert sign_in(agent, path, "pw-ann", AGENT_LAPTOP).status_code == 302


def test_the_lockout_page_speaks_the_admins_language(settings):
    settings.AXES_FAILURE_LIMIT = 1
    make_agent("ann")
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    sign_in(client, "/console/login/", "wrong", GUESSER)
    page = sign_in(client, "/console/login/", "wrong", GUESSER).content.decode()
    assert "登录尝试次数过多" in page and "15 分钟内无法从这里登录" in page


def test_a_right_password_resets_the_count(settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_agent("ann")
    client = Client()
    for _ in range(2):
        sign_in(client, "/console/login/", "wrong", AGENT_LAPTOP)
    assert sign_in(client, "/console/login/", "pw-ann", AGENT_LAPTOP).status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, "/console/login/", "wrong", AGENT_LAPTOP).status_code == 200
    assert sign_in(client, "/console/login/", "pw-ann", AGENT_LAPTOP).status_code == 302
