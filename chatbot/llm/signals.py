"""What the model router tells other parts without importing them (docs/architecture.md,
"Import map")."""

from django.dispatch import Signal

# A model answers again: a breaker closed, or an answer succeeded. Sent with `asend` by the
# router's recovery hook (chatbot.pipeline.registry); the queued questions' drain listens.
model_recovered = Signal()
