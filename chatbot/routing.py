from django.urls import path

from chatbot.consumers.agent import AgentConsumer
from chatbot.consumers.chat import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/console/", AgentConsumer.as_asgi()),
]
