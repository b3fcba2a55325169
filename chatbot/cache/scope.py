"""The scope an entry serves: locale, knowledge version, prompt/model configuration, context,
and the embedding model that made its vector (another model's vectors mean nothing to ours)."""

import hashlib
from dataclasses import dataclass

from django.conf import settings

from chatbot.llm.tiers import configured_tiers
from knowledge.content_version import knowledge_version
from knowledge.embeddings import get_embedder


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def config_fingerprint() -> str:
    """Changes with the system prompt or any tier's model, so a new prompt or model never serves
    answers written under the old one."""
    models = [(tier.name, [p.model for p in tier.providers]) for tier in configured_tiers()]
    return _hash(settings.LLM_SYSTEM_PROMPT, models)


@dataclass(frozen=True)
class Scope:
    locale: str
    knowledge_version: int
    config: str
    context: str
    embedding_model: str

    @property
    def key(self) -> str:
        return _hash(
            self.locale, self.knowledge_version, self.config, self.context, self.embedding_model
        )


def current_scope(*, locale: str, context: str) -> Scope:
    """Reads the knowledge version from Django's cache: call it from sync code."""
    return Scope(
        locale, knowledge_version(), config_fingerprint(), context, get_embedder(locale).identity
    )
