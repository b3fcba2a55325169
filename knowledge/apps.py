from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"
    verbose_name = _("Knowledge base")

    def ready(self) -> None:
        import knowledge.tasks  # noqa: F401 - registered with Celery before a service enqueues
        from knowledge.pgvector_index import configure_connection
        from knowledge.services import documents_reindex_retokenized

        connection_created.connect(configure_connection, dispatch_uid="knowledge-pgvector")
        post_migrate.connect(
            documents_reindex_retokenized, sender=self, dispatch_uid="knowledge-retokenize"
        )
