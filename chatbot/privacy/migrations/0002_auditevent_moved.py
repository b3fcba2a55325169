"""The audit log left for the audit app (chatbot/audit/migrations/0001_initial.py): privacy's
migration state drops AuditEvent, its table stays (the audit app's model names it). No SQL
runs."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('privacy', '0001_initial'),
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name='AuditEvent'),
            ],
        ),
    ]
