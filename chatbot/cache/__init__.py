"""Semantic cache of model answers: a question the model already answered, asked again in other
words, is answered from here instead of calling the model (see docs/cache.md)."""
