"""pypidraft settings: every value comes from the environment (see README, "Settings").

The helpers below fail loudly on malformed values instead of silently falling back to a
default: a typo in `PYPIDRAFT_HTTPS=ture` must stop the server, not disable HTTPS.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(sorted(choices))}.")
    return value


DEBUG = env_bool("DEBUG", False)

# Local state of a checkout: the development secret key, the SQLite database, package files
# and collected static files. `make run` and `.venv/bin/python manage.py ...` read the same
# folder because they read the same settings; tests point it elsewhere.
VAR_DIR = Path(env_str("PYPIDRAFT_VAR_DIR", "") or BASE_DIR / "var")

# The local deployment is what `make run` serves: an environment that names no database, no
# object store and no host name (SQLite and files in VAR_DIR, loopback only). It keeps a
# random secret key in VAR_DIR and serves plain http, so manage.py commands run with no
# environment agree with the server by construction. Any real deployment (DATABASE_URL, S3
# or ALLOWED_HOSTS set) must set SECRET_KEY itself.
LOCAL_DEPLOYMENT = not any(os.environ.get(name) for name in ("DATABASE_URL", "ALLOWED_HOSTS")) and os.environ.get(
    "PYPIDRAFT_STORAGE", "filesystem"
) in ("", "filesystem")

SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not (DEBUG or LOCAL_DEPLOYMENT):
        # Draft tokens and API token digests are keyed on SECRET_KEY: a guessable key
        # would reveal every draft.
        raise ImproperlyConfigured(
            "SECRET_KEY must be set: this environment configures a deployment (DATABASE_URL, "
            "ALLOWED_HOSTS or PYPIDRAFT_STORAGE=s3); only the local one of `make run` keeps a key "
            "of its own in var/secret_key."
        )
    # A random key kept on local disk, so it survives restarts but is never a value anyone
    # else knows; created by whichever runs first, the server or a management command.
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: a concurrent first run reads a whole key.
        _tmp = _key_file.with_name(f"secret_key.{os.getpid()}.tmp")
        with os.fdopen(os.open(_tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as _out:
            _out.write(secrets.token_urlsafe(50))
        try:
            os.link(_tmp, _key_file)
        except FileExistsError:
            pass
        finally:
            _tmp.unlink()
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

PYPIDRAFT_HTTPS = env_bool("PYPIDRAFT_HTTPS", not DEBUG and not LOCAL_DEPLOYMENT)
PYPIDRAFT_DRAFT_TTL_DAYS = env_int("PYPIDRAFT_DRAFT_TTL_DAYS", 30, minimum=1)
PYPIDRAFT_MAX_DRAFTS_PER_PROJECT = env_int("PYPIDRAFT_MAX_DRAFTS_PER_PROJECT", 1, minimum=1)
PYPIDRAFT_MAX_UPLOAD_BYTES = env_int("PYPIDRAFT_MAX_UPLOAD_BYTES", 100 * 1024 * 1024, minimum=1024)
PYPIDRAFT_AUTH_FAILURES_PER_IP = env_int("PYPIDRAFT_AUTH_FAILURES_PER_IP", 100, minimum=1)
PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT = env_int("PYPIDRAFT_AUTH_FAILURES_PER_ACCOUNT", 10, minimum=1)
PYPIDRAFT_AUTH_FAILURE_WINDOW_SECONDS = env_int("PYPIDRAFT_AUTH_FAILURE_WINDOW_SECONDS", 600, minimum=1)
# Reverse proxies in front of the app that append to X-Forwarded-For: the client is the Nth
# address from its right (0: REMOTE_ADDR), for the audit log and the rate limit.
PYPIDRAFT_TRUSTED_PROXIES = env_int("PYPIDRAFT_TRUSTED_PROXIES", 0, minimum=0)
PYPIDRAFT_STORAGE = env_choice("PYPIDRAFT_STORAGE", "filesystem", {"filesystem", "s3"})

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "releases",
    "simpleindex",
]

MIDDLEWARE = [
    "pypidraft.unavailable.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pypidraft.middleware.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pypidraft.middleware.RejectNulPathMiddleware",
    # Inside the security headers above, before everything a stored index page does not need.
    "simpleindex.fastpath.StoredSimplePageMiddleware",
    "releases.uploads.fastpath.UploadFastPathMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "pypidraft.urls"

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

WSGI_APPLICATION = "pypidraft.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # No "SELECT 1" before every request: it doubled the database round trips of a
        # stored index page. A connection that broke is dropped after the error it causes
        # (and that request answers 503), so the next request reconnects.
        conn_health_checks=False,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock when their transaction begins and wait for it, instead of
    # failing with "database is locked" when several uploads arrive at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # A database that went away answers with a 503 quickly instead of a hanging worker.
            "connect_timeout": 5,
            # Parameters are bound by the server, and psycopg prepares a statement once it
            # ran `prepare_threshold` times on a connection: planning was most of
            # PostgreSQL's time in an upload. Protocol-level prepared statements, which
            # PgBouncer 1.21+ tracks in transaction mode (max_prepared_statements);
            # PYPIDRAFT_DB_PREPARE_THRESHOLD=0 turns preparing off for older poolers.
            "server_side_binding": True,
            "prepare_threshold": env_int("PYPIDRAFT_DB_PREPARE_THRESHOLD", 5) or None,
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MEDIA_ROOT = Path(env_str("PYPIDRAFT_MEDIA_ROOT", str(VAR_DIR / "packages")))

# The object store's timeouts (seconds) and attempts per request (S3: botocore's standard
# retry mode, exponential backoff on 5xx, SlowDown and throttling).
PYPIDRAFT_STORAGE_CONNECT_TIMEOUT = env_int("PYPIDRAFT_STORAGE_CONNECT_TIMEOUT", 5, minimum=1)
PYPIDRAFT_STORAGE_READ_TIMEOUT = env_int("PYPIDRAFT_STORAGE_READ_TIMEOUT", 60, minimum=1)
PYPIDRAFT_STORAGE_MAX_ATTEMPTS = env_int("PYPIDRAFT_STORAGE_MAX_ATTEMPTS", 5, minimum=1)

if PYPIDRAFT_STORAGE == "s3":
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
    if not AWS_STORAGE_BUCKET_NAME:
        raise ImproperlyConfigured("PYPIDRAFT_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    _packages_storage = {
        "BACKEND": "releases.storage.s3.PackageS3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL", "") or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY", "") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "") or None,
            # Object keys are content addressed and unique: never rename on collision,
            # and hand out short-lived signed URLs so a bucket never needs to be public.
            "file_overwrite": True,
            "querystring_auth": True,
            "querystring_expire": 300,
            "default_acl": None,
            # One client per thread (django-storages), kept alive between requests.
            "client_config": Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                connect_timeout=PYPIDRAFT_STORAGE_CONNECT_TIMEOUT,
                read_timeout=PYPIDRAFT_STORAGE_READ_TIMEOUT,
                retries={"mode": "standard", "total_max_attempts": PYPIDRAFT_STORAGE_MAX_ATTEMPTS},
                tcp_keepalive=True,
                # Integrity is ours to check (sha256, blake2b at upload): no CRC32 of every
                # body on top, which older S3-compatible stores also refuse.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
            # Distributions are opaque bytes: without this, a ".tar.gz" is stored with
            # Content-Encoding: gzip and clients unpack it on download, breaking its sha256.
            "object_parameters": {"ContentType": "application/octet-stream"},
            # One part in flight at a time: s3transfer's default threads keep several 8 MiB
            # parts in memory per upload (+120 MiB for a 1 GiB file; +10 MiB like this).
            "transfer_config": TransferConfig(use_threads=False),
        },
    }
else:
    _packages_storage = {
        # Objects are created once under their content-addressed key, never rewritten.
        "BACKEND": "releases.storage.filesystem.PackageFileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "packages": _packages_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("PYPIDRAFT_STATIC_ROOT", str(VAR_DIR / "static")))
# whitenoise serves from the finders too, so `collectstatic` is optional; it only warns
# when this folder is missing.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# The app serves its own static files in every mode; this lets it do so without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/manage/"
LOGOUT_REDIRECT_URL = "/"

# Long descriptions travel as form fields next to the file; the file itself is streamed
# to disk by the upload pipeline and bounded by PYPIDRAFT_MAX_UPLOAD_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PYPIDRAFT_HTTPS
CSRF_COOKIE_SECURE = PYPIDRAFT_HTTPS
SECURE_SSL_REDIRECT = PYPIDRAFT_HTTPS
SECURE_HSTS_SECONDS = 31536000 if PYPIDRAFT_HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PYPIDRAFT_HTTPS else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
INSTALLED_APPS.append("drf_spectacular")
SPECTACULAR_SETTINGS = {
    "TITLE": "pypidraft maintainer API",
    "DESCRIPTION": "List a project's releases and drafts, publish or discard a draft, rotate its link, "
    "and change project settings, with an API token.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_secrets": {"()": "pypidraft.logscrub.ScrubSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["scrub_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
