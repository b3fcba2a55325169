"""The handoff's models left for the handoff app (issue 17; chatbot/handoff/migrations/
0001_initial.py): chatbot's migration state drops them, their tables stay (the handoff's models
name them), and a conversation's team is the handoff's Team, on the same column. No SQL runs."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chatbot', '0016_answer_facts'),
        ('handoff', '0001_initial'),
        # The canned replies' team points at the handoff's Team before chatbot's goes.
        ('inbox', '0006_cannedreply_team_handoff'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='conversation',
                    name='team',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='conversations', to='handoff.team'),
                ),
                migrations.DeleteModel(name='AssignmentEvent'),
                migrations.DeleteModel(name='AgentNote'),
                migrations.DeleteModel(name='LeftMessage'),
                migrations.DeleteModel(name='TranscriptEmail'),
                migrations.DeleteModel(name='AgentPresence'),
                migrations.DeleteModel(name='AgentProfile'),
                migrations.DeleteModel(name='OpeningHours'),
                migrations.DeleteModel(name='AwayMessage'),
                migrations.DeleteModel(name='Team'),
            ],
        ),
    ]
