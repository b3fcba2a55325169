#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # A setting missing or wrong is the operator's to fix: which one, not a traceback (an
        # operator walk got 40 lines of one from `serve --help` without SECRET_KEY).
        sys.exit(
            f"{error}.\nSettings come from the environment, or from .env beside manage.py "
            "(ENV_FILE names another): docs/deploy.md."
        )
