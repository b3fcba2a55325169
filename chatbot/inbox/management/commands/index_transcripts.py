"""Indexes every stored message for the inbox's full-text search (PostgreSQL): run once after
upgrading a database that holds conversations already, or any time; searches index what came
since as they go (chatbot.inbox.search)."""

from django.core.management.base import BaseCommand
from django.db import connection

from chatbot.inbox.search import search_index_catch_up


class Command(BaseCommand):
    help = "Index stored messages for the agent inbox's full-text search (PostgreSQL only)."

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write("Nothing to do: transcript search indexes only on PostgreSQL.")
            return
        written, read_through = search_index_catch_up(limit=None)
        self.stdout.write(f"Indexed {written} messages (through message {read_through}).")
