"""Websocket routes. Only the agent console needs the visitor's session and user: the chat
socket is anonymous, so its frames skip the session middleware's wrapper on every send."""

from channels.auth import AuthMiddlewareStack
from django.urls import path

from chatbot.consumers.agent import AgentConsumer
from chatbot.consumers.chat import ChatConsumer
from chatbot.security.origins import SameOriginValidator

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/console/", SameOriginValidator(AuthMiddlewareStack(AgentConsumer.as_asgi()))),
]
