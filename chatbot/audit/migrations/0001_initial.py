"""The audit log, moved from the privacy app: created here in the migration state only, since
its table stays as it is (Meta.db_table "privacy_auditevent"), and privacy's state drops it in
privacy 0002. No SQL runs against the table.

The model's content type (and so its permissions, which groups and users hold by id, and the
admin's history) moves with it: its row's app_label becomes "audit"."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ("auditevent",)


def content_types_relabel(apps, schema_editor, *, source: str, target: str) -> None:
    """The moved model's content type from app `source` to `target`, keeping its id. One the
    target app has already (only a database migrated in some other way has one) stays put."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    rows = ContentType.objects.using(schema_editor.connection.alias)
    taken = rows.filter(app_label=target, model__in=MOVED).values_list("model", flat=True)
    rows.filter(app_label=source, model__in=MOVED).exclude(model__in=list(taken)).update(
        app_label=target
    )


def content_types_to_audit(apps, schema_editor) -> None:
    content_types_relabel(apps, schema_editor, source="privacy", target="audit")


def content_types_to_privacy(apps, schema_editor) -> None:
    content_types_relabel(apps, schema_editor, source="audit", target="privacy")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('privacy', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('action', models.CharField(choices=[('claim', 'Claimed a conversation'), ('transfer', 'Transferred a conversation'), ('return_to_bot', 'Handed a conversation back to the bot'), ('close', 'Closed a conversation'), ('export', 'Exported conversations'), ('visitor_export', "Exported a visitor's data"), ('visitor_erase', "Erased a visitor's data"), ('retention', 'Applied the retention period')], max_length=32)),
                        ('actor_name', models.CharField(blank=True, default='', max_length=150)),
                        ('conversation', models.CharField(blank=True, db_index=True, default='', max_length=32)),
                        ('detail', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'privacy_auditevent',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_to_audit, content_types_to_privacy),
    ]
