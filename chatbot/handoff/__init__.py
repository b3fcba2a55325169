"""Handing conversations from the bot to people: the queue, claims, presence, the console."""
