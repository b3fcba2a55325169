"""The agent inbox's transcript search at scale (docs/console.md, "Inbox"): indexing cost per
message and query latency on PostgreSQL (the tsvector index) or SQLite (substrings), over
generated English and Chinese conversations. Not part of `make bench`; prints markdown.

    python -m bench.inbox_search --db postgres [--conversations 20000] [--runs 30]
    python -m bench.inbox_search --db sqlite [--conversations 20000]

Each database runs in its own process (Django is set up once per process)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from bench.pg_lookup import start_postgres
from bench.run import django_setup, percentiles_ms

EN = (
    "I want a refund for order {n}, the parcel arrived damaged",
    "Where is my parcel? Tracking says delivered but nothing came",
    "How do I change my delivery address",
    "Can I pay with a gift card on the checkout page",
    "My discount code {n} does not work",
    "Thanks, that solved it",
    "Our returns window is 30 days from delivery.",
    "You can track your order from the link in your confirmation email.",
)
ZH = (
    "你好，我想申请退款，订单号是{n}",
    "我的包裹显示已签收，但是我没有收到",
    "怎么修改收货地址",
    "优惠码{n}用不了",
    "谢谢，问题解决了",
    "退货期限为签收后30天。",
)
QUERIES = {
    "English, common word (refund)": {"query": "refund"},
    "English, two words (parcel damaged)": {"query": "parcel damaged"},
    "English, no match (zebra)": {"query": "zebra"},
    "Chinese, common (退款)": {"query": "退款"},
    "Chinese, phrase (申请退款)": {"query": "申请退款"},
    "words + status filter": {"query": "refund", "status": "closed"},
    "label only": {"label": "LABEL"},
    "words + label": {"query": "parcel", "label": "LABEL"},
}


def load(conversations: int, seed: int = 20) -> int:
    """Conversations of 6 messages, an hour old (settled for the index), 1 in 20 labelled."""
    from django.utils import timezone

    from chatbot.inbox.models import ConversationLabel, Label
    from chatbot.models import Conversation, Message

    rng = random.Random(seed)
    label = Label.objects.create(name="bench")
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    batch = 2000
    for start in range(0, conversations, batch):
        rows = Conversation.objects.bulk_create(
            Conversation(
                locale=rng.choice(["en", "en", "zh-hans"]),
                status=rng.choice(["bot", "closed", "closed", "agent"]),
            )
            for _ in range(min(batch, conversations - start))
        )
        messages = []
        for c in rows:
            texts = ZH if c.locale == "zh-hans" else EN
            for _ in range(6):
                text = rng.choice(texts).format(n=rng.randrange(10_000, 99_999))
                messages.append(Message(conversation=c, role="visitor", text=text))
        Message.objects.bulk_create(messages, batch_size=5000)
        ConversationLabel.objects.bulk_create(
            ConversationLabel(conversation=c, label=label) for c in rows[::20]
        )
    Message.objects.update(created_at=hour_ago)
    return label.id


def run(db: str, conversations: int, runs: int) -> None:
    if db == "postgres":
        _server, url = start_postgres()  # the server lives while referenced
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-inbox-')) / 'db.sqlite3'}"
    django_setup(url)
    from django.core.management import call_command
    from django.db import connection

    from chatbot.inbox.search import Filters, conversations_find, search_index_catch_up
    from chatbot.models import Message

    call_command("migrate", verbosity=0, interactive=False)
    label_id = load(conversations)
    total = Message.objects.count()
    print(
        f"## Inbox search on {connection.vendor}: {conversations} conversations, {total} messages\n"
    )
    if db == "postgres":
        started = time.perf_counter()
        written, _ = search_index_catch_up(limit=None)
        took = time.perf_counter() - started
        print(f"Indexing {written} messages: {took:.1f} s, {took / written * 1e6:.0f} µs each.")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have after such a load
        started = time.perf_counter()
        search_index_catch_up(limit=None)
        idle_ms = (time.perf_counter() - started) * 1e3
        print(f"A search's catch-up with nothing new: {idle_ms:.1f} ms.\n")
    print("| query | results | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, spec in QUERIES.items():
        filters = Filters.from_dict({k: (label_id if v == "LABEL" else v) for k, v in spec.items()})
        count = len(conversations_find(filters=filters))
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            conversations_find(filters=filters)
            seconds.append(time.perf_counter() - started)
        p = percentiles_ms(seconds)
        print(f"| {name} | {count} | {p['p50']:.1f} | {p['p99']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    run(args.db, args.conversations, args.runs)


if __name__ == "__main__":
    main()
