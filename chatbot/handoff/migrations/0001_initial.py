"""The handoff's models, moved from chatbot (issue 17): created here in the migration state
only, since their tables stay as they are (Meta.db_table "chatbot_..."), and chatbot's state
drops them in chatbot 0017. No SQL runs against their tables.

The models' content types (and so their permissions, which groups and users hold by id, and
the admin's history) move with them: their rows' app_label becomes "handoff"."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = (
    "agentnote",
    "agentpresence",
    "agentprofile",
    "assignmentevent",
    "awaymessage",
    "leftmessage",
    "openinghours",
    "team",
    "transcriptemail",
)


def content_types_relabel(apps, schema_editor, *, source: str, target: str) -> None:
    """The moved models' content types from app `source` to `target`, keeping their ids. One the
    target app has already (only a database migrated in some other way has one) stays put."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    rows = ContentType.objects.using(schema_editor.connection.alias)
    taken = rows.filter(app_label=target, model__in=MOVED).values_list("model", flat=True)
    rows.filter(app_label=source, model__in=MOVED).exclude(model__in=list(taken)).update(
        app_label=target
    )


def content_types_to_handoff(apps, schema_editor) -> None:
    content_types_relabel(apps, schema_editor, source="chatbot", target="handoff")


def content_types_to_chatbot(apps, schema_editor) -> None:
    content_types_relabel(apps, schema_editor, source="handoff", target="chatbot")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('chatbot', '0016_answer_facts'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='AwayMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('locale', models.CharField(choices=[('en', 'English'), ('zh-hans', '简体中文')], max_length=16, unique=True)),
                        ('text', models.TextField(max_length=1000)),
                    ],
                    options={
                        'db_table': 'chatbot_awaymessage',
                    },
                ),
                migrations.CreateModel(
                    name='AgentNote',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('text', models.TextField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('author', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notes', to='chatbot.conversation')),
                    ],
                    options={
                        'db_table': 'chatbot_agentnote',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='AgentPresence',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('online', 'Online'), ('away', 'Away')], default='online', max_length=8)),
                        ('last_seen_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='agent_presence', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'chatbot_agentpresence',
                    },
                ),
                migrations.CreateModel(
                    name='AgentProfile',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('capacity', models.PositiveSmallIntegerField(blank=True, help_text="Most open conversations auto-assigned at once; empty: the site's default.", null=True)),
                        ('last_assigned_at', models.DateTimeField(blank=True, null=True)),
                        ('avatar', models.ImageField(blank=True, upload_to='avatars/')),
                        ('notify_sound', models.BooleanField(default=True)),
                        ('notify_desktop', models.BooleanField(default=False)),
                        ('notify_title', models.BooleanField(default=True)),
                        ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='agent_profile', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'chatbot_agentprofile',
                    },
                ),
                migrations.CreateModel(
                    name='OpeningHours',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('weekday', models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')])),
                        ('opens', models.TimeField()),
                        ('closes', models.TimeField()),
                    ],
                    options={
                        'verbose_name_plural': 'opening hours',
                        'db_table': 'chatbot_openinghours',
                        'ordering': ['weekday', 'opens'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('closes__gt', models.F('opens'))), name='opening_hours_order')],
                    },
                ),
                migrations.CreateModel(
                    name='Team',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=80, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('members', models.ManyToManyField(blank=True, related_name='teams', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'chatbot_team',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='AssignmentEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('agent', 'To an agent'), ('team', 'To a team'), ('auto', 'Auto-assigned'), ('expired', 'Claim timed out')], max_length=8)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='assignment_events', to='chatbot.conversation')),
                        ('from_agent', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('to_agent', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('to_team', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='handoff.team')),
                    ],
                    options={
                        'db_table': 'chatbot_assignmentevent',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='TranscriptEmail',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('email', models.EmailField(max_length=254)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transcript_emails', to='chatbot.conversation')),
                    ],
                    options={
                        'db_table': 'chatbot_transcriptemail',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='LeftMessage',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('email', models.EmailField(max_length=254)),
                        ('text', models.TextField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('acknowledged_at', models.DateTimeField(blank=True, null=True)),
                        ('answered_at', models.DateTimeField(blank=True, null=True)),
                        ('reply_emailed_at', models.DateTimeField(blank=True, null=True)),
                        ('answered_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='left_messages', to='chatbot.conversation')),
                        ('reply', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='left_message', to='chatbot.message')),
                    ],
                    options={
                        'db_table': 'chatbot_leftmessage',
                        'ordering': ['id'],
                        'indexes': [models.Index(fields=['answered_at', 'id'], name='left_message_inbox_idx')],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_to_handoff, content_types_to_chatbot),
    ]
