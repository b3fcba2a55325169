from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chatbot", "0004_message_citations"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="visitor_seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
