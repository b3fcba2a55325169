from django.apps import AppConfig
from django.db import connections
from django.db.backends.signals import connection_created
from django.db.migrations.loader import MigrationLoader
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def knowledge_fully_migrated(using: str) -> bool:
    """Whether the knowledge app's newest migrations are applied on `using`: a `migrate` back
    (or part of the way forward) leaves tables and columns the current models read missing (an
    upgrade walk's `migrate knowledge 0003` ended in "no such table: knowledge_chunk")."""
    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    return set(loader.graph.leaf_nodes("knowledge")) <= set(loader.applied_migrations)


def retokenize_after_migrate(*, using: str = "default", **_signal: object) -> None:
    from knowledge.services import documents_reindex_retokenized

    if knowledge_fully_migrated(using):
        documents_reindex_retokenized()


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        import knowledge.tasks  # noqa: F401 - registered with Celery before a service enqueues
        from knowledge import converters
        from knowledge.pgvector_index import configure_connection

        converters.register()  # before any URL pattern is built

        connection_created.connect(configure_connection, dispatch_uid="knowledge-pgvector")
        post_migrate.connect(
            retokenize_after_migrate, sender=self, dispatch_uid="knowledge-retokenize"
        )
