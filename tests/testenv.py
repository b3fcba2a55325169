"""Loaded with `-p tests.testenv` (pyproject addopts) so it runs before pytest-django reads the
settings: tests get a throwaway secret key and never reach a model hub."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
