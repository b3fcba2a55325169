"""The widget after a server died mid-answer, with server frames played by hand: every
unanswered question gets the thinking row and, if nothing comes, Retry; a `restarted` answer
drops the dead text (docs/operations.md, "Crashes and restarts")."""

import json

import pytest
from playwright.sync_api import Page, expect

from tests.browser.scripted import ScriptedServer
from tests.browser.test_widget import READY, desktop  # noqa: F401 - the page fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

INTERRUPTED = "My answer was interrupted; starting it again…"


def stored(message_id: int, role: str, text: str, reply_to: int | None = None) -> dict:
    return {
        "id": message_id,
        "role": role,
        "text": text,
        "source": "llm" if role == "bot" else "",
        "client_id": f"c{message_id}" if role == "visitor" else None,
        "reply_to": reply_to,
        "created": "2025-01-01T00:00:00Z",
    }


# Q1 answered, Q3 answered by an agent, then Q5 and Q6 whose answers died with their server.
HISTORY = [
    stored(1, "visitor", "Do you ship to Norway?"),
    stored(2, "bot", "Yes, we do.", reply_to=1),
    stored(3, "visitor", "Can someone check my order?"),
    stored(4, "agent", "Hi, Sam here. It left today."),
    stored(5, "visitor", "Where is parcel 5?"),
    stored(6, "visitor", "Where is parcel 6?"),
]


def test_every_unanswered_question_gets_retry_and_a_restarted_answer_drops_dead_text(
    desktop: Page,  # noqa: F811
    daphne_server: str,
) -> None:
    page = desktop
    scripted = ScriptedServer(page, history=tuple(HISTORY))
    server = scripted.send
    page.clock.install()
    page.goto(daphne_server + "/")
    widget = page.locator("chatbot-widget")
    widget.locator("button.launcher").click()
    page.wait_for_function(READY)

    # Q5 and Q6 both wait for an answer (the newest only, before); Q3, which a person
    # answered, does not.
    typing = widget.locator(".row.typing")
    expect(typing).to_have_count(2)
    scripted.run_for(46_000)
    retry = widget.locator(".row.typing .err").get_by_role(
        "button", name="Retry sending this message"
    )
    expect(retry).to_have_count(2)

    # Q5's answer: the dead writer's text, then `restarted`, then the new answer.
    bubble = widget.locator(".row.bot:not(.welcome) .bubble")
    server({"type": "token", "reply_to": 5, "offset": 0, "text": "Answer 3. Your par"})
    expect(bubble.nth(1)).to_have_text("Answer 3. Your par")
    server({"type": "restarted", "reply_to": 5, "text": INTERRUPTED})
    expect(bubble).to_have_count(1)  # only Q1's answer: the dead text is gone
    expect(typing.first.locator(".status-text")).to_have_text(INTERRUPTED)
    expect(typing.first.locator(".err")).to_have_count(0)
    server({"type": "token", "reply_to": 5, "offset": 0, "text": "Answer 13. Your parcel"})
    expect(bubble.nth(1)).to_have_text("Answer 13. Your parcel")
    done = stored(7, "bot", "Answer 13. Your parcel is on its way.", reply_to=5)
    server({"type": "done", "reply_to": 5, "message": done, "source": "llm", "trace": {}})
    expect(bubble.nth(1)).to_have_text("Answer 13. Your parcel is on its way.")

    # Retry on Q6 resends it under its own client id (the server answers it once).
    retry.click()
    assert scripted.wait_sent("message", 1) == [
        {"type": "message", "client_id": "c6", "text": "Where is parcel 6?", "v": 1}
    ]


def test_a_reply_sent_while_no_tab_was_open_lights_the_badge(
    desktop: Page,  # noqa: F811
    daphne_server: str,
) -> None:
    """The visitor closed every tab; an agent replied; a new tab showed the reply in the history
    and a plain launcher, "Open chat" (a walk). A reply newer than anything a tab had shown
    lights the badge, as one that comes while the panel is closed does."""
    page = desktop
    ScriptedServer(page, history=tuple(HISTORY[:4]))
    seen = json.dumps({"conversation": "scripted", "token": "t0ken", "lastSeenId": 3})
    key = "'chatbot:v1:' + location.origin"
    page.add_init_script(
        f"if (!localStorage.getItem({key})) localStorage.setItem({key}, {json.dumps(seen)})"
    )
    page.goto(daphne_server + "/")
    page.wait_for_function(READY)
    launcher = page.locator("chatbot-widget").locator("button.launcher")
    expect(launcher).to_have_attribute("aria-label", "Open chat, New message")

    # Everything shown before: no badge.
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.wait_for_function(READY)
    expect(launcher).to_have_attribute("aria-label", "Open chat")
