"""The business's time zone from the environment: a Chinese shop's analytics counted its days
in UTC, and its opening hours were read as UTC unless a second setting said otherwise."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READ = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.TIME_ZONE, settings.SUPPORT_TIME_ZONE)"
)


def _zones(**env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.endswith("TIME_ZONE")}
    environment |= {"DJANGO_SETTINGS_MODULE": "chatbot.settings", "SECRET_KEY": "x", **env}
    run = subprocess.run(
        [sys.executable, "-c", READ], cwd=REPO, env=environment, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_the_opening_hours_follow_the_business_time_zone_unless_set_apart():
    assert _zones() == ["UTC", "UTC"]
    assert _zones(TIME_ZONE="Asia/Shanghai") == ["Asia/Shanghai", "Asia/Shanghai"]
    assert _zones(TIME_ZONE="Asia/Shanghai", SUPPORT_TIME_ZONE="Europe/Paris") == [
        "Asia/Shanghai",
        "Europe/Paris",
    ]
