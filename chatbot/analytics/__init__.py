"""The staff analytics dashboard (/admin/analytics/, docs/analytics.md): figures computed by the
database (`figures`), drawn as server-rendered SVG (`views`), and the demo data to look at on a
fresh install (`manage.py seed_analytics_demo`).

No models of its own: its facts are columns of chatbot's Message (chatbot.answer_facts), stored
with each bot answer by the conversation core; this app only reads them."""
