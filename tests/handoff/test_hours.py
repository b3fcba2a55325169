"""Support hours: open or not at a local time, when the team is back, and what the widget's
`hello` says about it (real websockets, rows set as in the admin)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chatbot.handoff import hours
from chatbot.handoff.hours import Shift, is_open, next_opening
from chatbot.handoff.models import AwayMessage, OpeningHours
from tests.conftest import chat_socket

UTC = ZoneInfo("UTC")
WEEKDAYS_9_TO_5 = [Shift(day, time(9), time(17)) for day in range(5)]
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("local", "expected_open", "expected_next"),
    [
        (MONDAY.replace(hour=10), True, None),
        (MONDAY.replace(hour=8, minute=59), False, MONDAY.replace(hour=9)),
        (MONDAY.replace(hour=17), False, MONDAY.replace(day=6, hour=9)),  # closes at 17:00
        (MONDAY.replace(day=9, hour=18), False, MONDAY.replace(day=12, hour=9)),  # Fri -> Mon
        (MONDAY.replace(day=10, hour=12), False, MONDAY.replace(day=12, hour=9)),  # Saturday
    ],
)
def test_open_and_next_opening(local, expected_open, expected_next) -> None:
    assert is_open(WEEKDAYS_9_TO_5, local) is expected_open
    if not expected_open:
        assert next_opening(WEEKDAYS_9_TO_5, local) == expected_next


def test_split_shifts_and_no_hours_at_all() -> None:
    split = [Shift(0, time(9), time(12)), Shift(0, time(14), time(18))]
    assert not is_open(split, MONDAY.replace(hour=13))
    assert next_opening(split, MONDAY.replace(hour=13)) == MONDAY.replace(hour=14)
    assert is_open([], MONDAY)  # no hours set: the team counts as in whenever an agent is
    assert next_opening([], MONDAY) is None


@pytest.fixture
def fresh_hours():
    hours.forget()
    yield
    hours.forget()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_hours")
async def test_hello_says_when_the_team_is_back_and_the_away_message_per_locale(settings):
    settings.SUPPORT_TIME_ZONE = "Asia/Shanghai"
    local_now = timezone.now().astimezone(ZoneInfo("Asia/Shanghai"))
    shift_day = (local_now + timedelta(days=3)).date()
    await database_sync_to_async(OpeningHours.objects.create)(
        weekday=shift_day.weekday(), opens=time(9), closes=time(18)
    )
    await database_sync_to_async(AwayMessage.objects.create)(
        locale="zh-hans", text="周末休息，周一见。"
    )
    async with chat_socket("?locale=zh-hans") as client:
        team = client.hello["team"]
    opens_at = datetime.fromisoformat(team["opens_at"])
    assert team["open"] is False and team["away"] == "周末休息，周一见。"
    assert opens_at == datetime.combine(shift_day, time(9), tzinfo=ZoneInfo("Asia/Shanghai"))
    hours.forget()
    async with chat_socket() as client:  # no English away message: the default copy
        assert client.hello["team"]["away"].startswith("Our team is away right now.")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_hours")
async def test_hello_within_hours_gives_the_reply_time(settings):
    settings.HANDOFF_DEFAULT_WAIT_S = 240
    for day in range(7):
        await database_sync_to_async(OpeningHours.objects.create)(
            weekday=day, opens=time(0), closes=time(23, 59, 59)
        )
    async with chat_socket() as client:
        team = client.hello["team"]
    assert team == {
        "open": True,
        "opens_at": None,
        "agents_online": 0,
        "reply_wait_s": 240,
        "away": "",
    }
