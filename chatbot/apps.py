from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chatbot"
    verbose_name = "Chat"

    def ready(self) -> None:
        # Imported here: chatbot.tasks reads models, which load only once the registry is ready.
        from chatbot import tasks
        from chatbot.llm.signals import model_recovered

        model_recovered.connect(tasks.on_model_recovered, dispatch_uid="queued-answers")
