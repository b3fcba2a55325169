"""The "agents" group: its members (staff users) may open the agent console."""

from django.db import migrations

AGENTS_GROUP = "agents"


def create_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.get_or_create(name=AGENTS_GROUP)


def delete_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name=AGENTS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("chatbot", "0002_handoff"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
