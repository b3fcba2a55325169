"""A canned reply's team is the handoff app's Team now (issue 17): the same table
(chatbot_team) and the same column, so the migration state changes and the database does not."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('handoff', '0001_initial'),
        ('inbox', '0005_visitor_identity'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='cannedreply',
                    name='team',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='canned_replies', to='handoff.team'),
                ),
            ],
        ),
    ]
