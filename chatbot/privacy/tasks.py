"""The retention period, run by celery beat every CHAT_RETENTION_EVERY_S (settings)."""

import logging

from celery import shared_task

from chatbot.privacy.services import retention_apply

logger = logging.getLogger(__name__)


@shared_task(name="chatbot.retention_apply")
def retention_run() -> int:
    """Anonymises or deletes the conversations past the retention period; safe to run twice
    (a second run finds nothing due)."""
    result = retention_apply()
    if result.conversations:
        logger.info("retention: %s %d conversations", result.mode, result.conversations)
    return result.conversations
