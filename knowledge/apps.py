from django.apps import AppConfig
from django.db.backends.signals import connection_created


class KnowledgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "knowledge"
    verbose_name = "Knowledge base"

    def ready(self) -> None:
        from knowledge.pgvector_index import configure_connection

        connection_created.connect(configure_connection, dispatch_uid="knowledge-pgvector")
