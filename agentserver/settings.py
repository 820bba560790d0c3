"""Settings for agentserver, read from the environment only.

No ``DATABASE_URL`` means the embedded default: a SQLite file in the project's data folder.
``DATABASE_URL=postgres://...`` switches to PostgreSQL; ``REDIS_URL`` likewise switches the
broker and event log to Redis. A malformed value stops the process at start with one line.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """An environment variable holds a value the server cannot use."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).lower() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, data_dir: Path) -> dict:
    """Translate ``DATABASE_URL`` (or its absence) into a Django ``DATABASES`` entry."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(data_dir / "agentserver.sqlite3"),
            "OPTIONS": {
                # WAL lets readers go on while one writer commits; IMMEDIATE takes the write lock
                # at BEGIN so two writers queue on the busy timeout instead of deadlocking.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # A file, not shared-cache memory: the adapters' database threads and the test's own
            # thread then lock like separate processes do, through the busy timeout.
            "TEST": {"NAME": str(data_dir / "test.sqlite3")},
        }
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(f"DATABASE_URL={url!r} names no database")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"DATABASE_URL={url!r} has an invalid port") from None
        options: dict = dict(parse_qsl(parts.query))
        # Under ASGI every request runs on a fresh thread, and Django's connections are per
        # thread: without a pool each request would open (and leak) a server connection.
        options["pool"] = {
            "min_size": 2,
            "max_size": env_int("AGENTSERVER_DB_POOL_SIZE", 20, minimum=2),
            "timeout": 30,
        }
        if env_bool("AGENTSERVER_DB_PREPARED_STATEMENTS", True):
            # Parameters sent apart from the SQL, and a statement run five times on a
            # connection is prepared there: PostgreSQL stops parsing and planning the same
            # queries for every run (a third of its CPU per run).
            options["server_side_binding"] = True
            options["prepare_threshold"] = 5
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 0,
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        # sqlite:///relative.db or sqlite:////absolute/path.db, as dj-database-url reads them.
        path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"DATABASE_URL={url!r} names no file (use sqlite:////abs/path.db)")
        entry = database_from_url("", data_dir=data_dir)
        entry["NAME"] = path
        return entry
    raise ConfigError(
        f"DATABASE_URL={url!r} is not supported (use postgres://... or sqlite:////path)"
    )


def redis_url_checked(url: str) -> str:
    if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(f"REDIS_URL={url!r} is not a redis:// or rediss:// URL")
    return url


def project_config_path() -> Path | None:
    raw = env_str("AGENTSERVER_CONFIG")
    return Path(raw).resolve() if raw else None


def data_dir_path(config_path: Path | None) -> Path:
    raw = env_str("AGENTSERVER_DATA_DIR")
    if raw:
        return Path(raw).resolve()
    base = config_path.parent if config_path else Path.cwd()
    return base / ".agentserver"


def secret_key(data_dir: Path) -> str:
    """The configured key, or one generated once and kept in the data folder (embedded mode)."""
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


try:
    AGENTSERVER_CONFIG = project_config_path()
    DATA_DIR = data_dir_path(AGENTSERVER_CONFIG)
    DATABASE_URL = env_str("DATABASE_URL")
    if not DATABASE_URL:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": database_from_url(DATABASE_URL, data_dir=DATA_DIR)}
    REDIS_URL = redis_url_checked(env_str("REDIS_URL"))
    DEBUG = env_bool("DEBUG", False)
    SECRET_KEY = secret_key(DATA_DIR)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"])
    CORS_ALLOW_ORIGINS = env_list("CORS_ALLOW_ORIGINS", ["*"])
    AGENTSERVER_DB_THREADS = env_int("AGENTSERVER_DB_THREADS", 4, minimum=1)
    AGENTSERVER_MAX_BODY_BYTES = env_int("AGENTSERVER_MAX_BODY_BYTES", 50 * 1024 * 1024, minimum=1)
    LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
    AGENTSERVER_RUN_LEASE_SECONDS = env_int("AGENTSERVER_RUN_LEASE_SECONDS", 30, minimum=3)
    AGENTSERVER_RUN_MAX_ATTEMPTS = env_int("AGENTSERVER_RUN_MAX_ATTEMPTS", 3, minimum=1)
    AGENTSERVER_RUN_TIMEOUT_SECONDS = env_int("AGENTSERVER_RUN_TIMEOUT_SECONDS", 86400, minimum=1)
    AGENTSERVER_EVENTLOG_TTL_SECONDS = env_int("AGENTSERVER_EVENTLOG_TTL_SECONDS", 3600, minimum=1)
    AGENTSERVER_WS_COMPRESSION = env_bool("AGENTSERVER_WS_COMPRESSION", False)
    AGENTSERVER_WORKER_THREADS = env_int("AGENTSERVER_WORKER_THREADS", 4, minimum=1)
    # How API requests authenticate: "apikey" (tenants' API keys, or the project's auth.py
    # when langgraph.json names one) or "none" (everyone is the default tenant's owner;
    # `agentserver dev` defaults to it, anywhere else it must be chosen on purpose).
    AGENTSERVER_AUTH = env_choice("AGENTSERVER_AUTH", "apikey", ("apikey", "none"))
    # The HMAC-SHA256 key that signs webhook deliveries; derived from SECRET_KEY when unset.
    AGENTSERVER_WEBHOOK_SECRET = env_str("AGENTSERVER_WEBHOOK_SECRET")
    # Attempts of a webhook delivery (retried on 5xx, timeouts and connection errors), and the
    # wait before the first retry in seconds, doubled before each next one.
    AGENTSERVER_WEBHOOK_MAX_ATTEMPTS = env_int("AGENTSERVER_WEBHOOK_MAX_ATTEMPTS", 5, minimum=1)
    AGENTSERVER_WEBHOOK_BACKOFF_SECONDS = env_int(
        "AGENTSERVER_WEBHOOK_BACKOFF_SECONDS", 2, minimum=0
    )
    # How often beat ticks the cron scheduler (a tick fires every cron that is due).
    AGENTSERVER_CRON_TICK_SECONDS = env_int("AGENTSERVER_CRON_TICK_SECONDS", 10, minimum=1)
except ConfigError as exc:
    sys.stderr.write(f"agentserver: configuration error: {exc}\n")
    raise SystemExit(2) from None

USE_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "guardian",
    "apps.core",
    "apps.tenancy",
    "apps.graphs",
    "apps.threads",
    "apps.checkpoints",
    "apps.memory",
    "apps.runs",
    "apps.streams",
    "apps.crons",
    "apps.webhooks",
]

# The API's chain is async-capable end to end. The admin's middlewares are old-style (two thread
# hops each per request under ASGI) and run for paths under ADMIN_PREFIX only; the admin checks
# that look for them in MIDDLEWARE are silenced because AdminMiddleware runs them.
MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "apps.core.middleware.BodySizeLimitMiddleware",
    "apps.tenancy.middleware.PrincipalMiddleware",
    "apps.core.middleware.AdminMiddleware",
]

ADMIN_PREFIX = "/admin/"
ADMIN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]

ROOT_URLCONF = "agentserver.urls"
APPEND_SLASH = False
DATA_UPLOAD_MAX_MEMORY_SIZE = AGENTSERVER_MAX_BODY_BYTES

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

ASGI_APPLICATION = "agentserver.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["apps.core.rendering.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.rendering.JSONParser"],
    "EXCEPTION_HANDLER": "apps.core.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "agentserver",
    "DESCRIPTION": "LangGraph Agent Server compatible API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
# The in-memory transport polls its queues; poll often so an embedded run starts at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {} if REDIS_URL else {"polling_interval": 0.005}
# One queue per deployment; tests give each run of the suite its own.
CELERY_TASK_DEFAULT_QUEUE = env_str("AGENTSERVER_QUEUE", "agentserver")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    "memory.sweep_expired_items": {
        "task": "memory.sweep_expired_items",
        "schedule": 60.0 * env_int("AGENTSERVER_STORE_SWEEP_MINUTES", 5, minimum=1),
    },
    "runs.sweep": {
        "task": "runs.sweep",
        "schedule": float(env_int("AGENTSERVER_RUN_SWEEP_SECONDS", 10, minimum=1)),
    },
    "threads.sweep_expired": {
        "task": "threads.sweep_expired",
        "schedule": 60.0 * env_int("AGENTSERVER_THREAD_SWEEP_MINUTES", 5, minimum=1),
    },
    "crons.tick": {"task": "crons.tick", "schedule": float(AGENTSERVER_CRON_TICK_SECONDS)},
    "webhooks.sweep": {"task": "webhooks.sweep", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

CORS_ALLOW_ALL_ORIGINS = CORS_ALLOW_ORIGINS == ["*"]
CORS_ALLOWED_ORIGINS = [] if CORS_ALLOW_ALL_ORIGINS else CORS_ALLOW_ORIGINS
CORS_EXPOSE_HEADERS = ["X-Pagination-Total", "X-Pagination-Next", "Content-Location", "Location"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "last-event-id",
    "prefer",
    "user-agent",
    "x-api-key",
    "x-auth-scheme",
    "x-request-id",
    "x-tenant-id",
]
