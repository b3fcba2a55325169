"""Logs and their context (conversation and trace ids); metrics live in chatbot.metrics."""
