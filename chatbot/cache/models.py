"""Cached model answers. Rows live in the database so every worker sees them; each process
searches its own in-memory copy of the embeddings (chatbot.cache.index)."""

import numpy as np
from django.db import models
from django.utils.translation import gettext_lazy as _


class CachedAnswer(models.Model):
    question = models.TextField(verbose_name=_("question"))
    normalised = models.CharField(
        max_length=500, db_index=True, editable=False, verbose_name=_("normalised")
    )
    answer = models.TextField(verbose_name=_("answer"))
    # float32 bytes of the unit-length question embedding, and the model that made it
    # (knowledge.embeddings, `identity`).
    embedding = models.BinaryField(editable=False, verbose_name=_("embedding"))
    embedding_model = models.CharField(
        max_length=128, default="", editable=False, verbose_name=_("embedding model")
    )
    # float32 bytes of the unit-length answer embedding, by the same model: the hit rule counts
    # entries whose answers agree (chatbot.cache.selectors). Empty on entries stored before it
    # existed; they never count as agreeing.
    answer_embedding = models.BinaryField(
        default=b"", editable=False, verbose_name=_("answer embedding")
    )
    # Scope: an entry serves only questions with the same locale, knowledge version, prompt and
    # model configuration, conversation context and embedding model; `scope_key` hashes the five.
    locale = models.CharField(max_length=16, default="en", verbose_name=_("locale"))
    knowledge_version = models.PositiveIntegerField(verbose_name=_("knowledge version"))
    config_fingerprint = models.CharField(max_length=32, verbose_name=_("config fingerprint"))
    context_key = models.CharField(
        max_length=32, blank=True, default="", verbose_name=_("context key")
    )
    scope_key = models.CharField(
        max_length=32, db_index=True, editable=False, verbose_name=_("scope key")
    )
    model = models.CharField(max_length=200, blank=True, default="", verbose_name=_("model"))
    tier = models.CharField(max_length=64, blank=True, default="", verbose_name=_("tier"))
    # The help-centre sources the answer cites (chatbot.pipeline.base.Citation as dicts): served
    # with it, and the entry is not served once one of those documents changed.
    citations = models.JSONField(default=list, blank=True, verbose_name=_("citations"))
    # The visitor message whose model answer this is: a thumbs-down on that answer evicts it.
    origin_message_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("origin message id")
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    last_hit_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last hit at"))
    hit_count = models.PositiveIntegerField(default=0, verbose_name=_("hit count"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("cached answer")
        verbose_name_plural = _("cached answers")
        ordering = ["-hit_count", "-created_at"]
        indexes = [models.Index(fields=["hit_count", "last_hit_at"], name="cache_eviction_order")]

    def __str__(self) -> str:
        return self.question[:80]

    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype=np.float32)

    def answer_vector(self) -> np.ndarray:
        """The answer's embedding; zeros (agreeing with nothing) when none was stored."""
        stored = np.frombuffer(bytes(self.answer_embedding), dtype=np.float32)
        return stored if len(stored) else np.zeros_like(self.vector())
