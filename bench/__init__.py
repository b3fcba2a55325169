"""The benchmarks behind `make bench` (bench/run.py) and the studies beside them."""

import os


def django_for_bench() -> None:
    """Django set up for a benchmark run from the command line (settings module, a throwaway
    secret, no model hub), when its module does not import the app at load time."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    django.setup()
