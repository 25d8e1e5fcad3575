"""Solde settings, read from SOLDE_* environment variables (see README)."""

import hashlib
import hmac
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SOLDE_DATA_DIR", Path.cwd() / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


# --- Deployment mode --------------------------------------------------------------------------
# Production is the default. Only the demo (SOLDE_DEMO=1, set by `solde demo`) and simulation
# mode (SOLDE_SIMULATION=1: a settable clock for the simulator and black-box tests) opt out:
# they serve plain HTTP on 127.0.0.1 with fakes allowed. In production the system checks of
# solde/checks.py refuse to start on a default key, a fake provider or the in-process head-end.
SIMULATION = env_bool("SOLDE_SIMULATION", False)
DEMO = env_bool("SOLDE_DEMO", False)
PRODUCTION = not (SIMULATION or DEMO)

DEBUG = env_bool("SOLDE_DEBUG", False)
# The demo's key is public: production must set SOLDE_SECRET_KEY (checked at start).
DEVELOPMENT_SECRET_KEY = "insecure-development-key-change-me-in-production"
SECRET_KEY = os.environ.get("SOLDE_SECRET_KEY", "") or DEVELOPMENT_SECRET_KEY
# Rotation: the new key signs; the old ones still verify sessions and reset links.
SECRET_KEY_FALLBACKS = env_list("SOLDE_SECRET_KEY_FALLBACKS")
# API keys and activation codes are stored as keyed hashes under their own key, so rotating
# SECRET_KEY never invalidates them. Verification tries HASH_KEY, then each fallback. Unset, it
# is the secret key (the demo; installations from before it existed) — production must set it.
HASH_KEY = os.environ.get("SOLDE_HASH_KEY", "") or SECRET_KEY
HASH_KEY_FALLBACKS = env_list("SOLDE_HASH_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("SOLDE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("SOLDE_CSRF_TRUSTED_ORIGINS")

# --- HTTPS (production only: the demo and simulation serve plain HTTP on 127.0.0.1) ----------
# Reverse proxies whose X-Forwarded-Proto / X-Forwarded-For are believed (addresses or CIDR
# networks); solde.middleware.TrustedProxies drops those headers from anyone else.
TRUSTED_PROXIES = env_list("SOLDE_TRUSTED_PROXIES")
if TRUSTED_PROXIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SOLDE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SOLDE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SOLDE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SOLDE_HSTS_PRELOAD", True)
# Probes and the metrics scraper talk to the process directly, often over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",  # the API docs from our static files, not a CDN (Content Security Policy)
    "auditlog",
    "django_q",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "pgtrigger",  # the ledger's append-only triggers on PostgreSQL (docs/decisions/0003)
    "solde",
    "solde.registry",
    "solde.ledger",
    "solde.readings",
    "solde.prepayment",
    "solde.topups",
    "solde.settlement",
    "solde.orders",
    "solde.headend",
    "solde.notifications",
    "solde.portal",
    "solde.phoneline",
    "solde.backoffice",
    "solde.api",
]

MIDDLEWARE = [
    "solde.middleware.TrustedProxies",
    "solde.middleware.RequestId",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # hashed static files, no separate server
    "csp.middleware.CSPMiddleware",
    # solde.page_middleware.*: Django's and the libraries' own, for pages only; an API request
    # (bearer key, no cookie, JSON) passes them by.
    "solde.page_middleware.Sessions",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "solde.api.middleware.RefuseNulCharacters",
    "solde.page_middleware.Csrf",
    "solde.page_middleware.Authentication",
    "solde.page_middleware.Otp",
    "solde.page_middleware.Messages",
    # Staff on /admin/ and /console/: a second factor, an idle and an absolute session limit.
    "solde.backoffice.twofactor.StaffSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "solde.page_middleware.Htmx",
    "axes.middleware.AxesMiddleware",
    # The actor of every audit entry (console and admin changes).
    "auditlog.middleware.AuditlogMiddleware",
]
# Django's W003 looks for CsrfViewMiddleware by its name; ours is a subclass that passes the
# bearer-key API by, and solde.checks (E008) makes sure it stays in MIDDLEWARE instead.
SILENCED_SYSTEM_CHECKS = ["security.W003"]

ROOT_URLCONF = "solde.urls"
WSGI_APPLICATION = "solde.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("SOLDE_DATABASE_URL", f"sqlite:///{DATA_DIR / 'solde.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg 3's pool, one per process: a request borrows a connection and gives it back, so
    # connections = processes × SOLDE_DB_POOL_MAX whatever the load (docs/decisions/0007).
    # SOLDE_DB_POOL_MAX=0 turns the pool off (then SOLDE_DB_CONN_MAX_AGE applies, e.g. pgbouncer).
    _pool_max = int(os.environ.get("SOLDE_DB_POOL_MAX", "4"))
    if _pool_max > 0:
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": min(int(os.environ.get("SOLDE_DB_POOL_MIN", "1")), _pool_max),
                "max_size": _pool_max,
                # A request waits this long for a free connection before failing.
                "timeout": float(os.environ.get("SOLDE_DB_POOL_TIMEOUT", "10")),
            }
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("SOLDE_DB_CONN_MAX_AGE", "0"))
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions: readers never block the writer, writers queue cleanly.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SOLDE_TEST_SQLITE")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("SOLDE_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.5  # hours
AXES_RESET_ON_SUCCESS = True
# Locked per (account, address): a burst of wrong passwords from one address (or one load
# balancer) never locks other people out; the address is the client's (solde.middleware).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "solde.middleware.client_ip"
AXES_LOCKOUT_TEMPLATE = "portal/locked.html"  # the portal's own "too many attempts" page
LOGIN_URL = "/login/"

# --- Staff accounts (docs/security.md) --------------------------------------------------------
# Operators can cut supply and move money: in production every staff account enrols a TOTP
# device and enters a code at each login. Only the demo and simulation may switch it off (the
# demo's admin logs in without a phone); solde/checks.py refuses SOLDE_STAFF_2FA=0 elsewhere.
STAFF_2FA = env_bool("SOLDE_STAFF_2FA", PRODUCTION)
STAFF_SESSION_IDLE_MINUTES = int(os.environ.get("SOLDE_STAFF_SESSION_IDLE_MINUTES", "30"))
STAFF_SESSION_MAX_HOURS = int(os.environ.get("SOLDE_STAFF_SESSION_MAX_HOURS", "10"))
# Wrong codes: django-otp doubles the wait after each failure (1 s, 2 s, 4 s…); on top, at most
# SOLDE_STAFF_OTP_FAILURE_LIMIT wrong codes per account in 15 minutes (solde.throttle).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_TOTP_ISSUER = os.environ.get("SOLDE_STAFF_OTP_ISSUER", "Solde")
STAFF_OTP_FAILURE_LIMIT = int(os.environ.get("SOLDE_STAFF_OTP_FAILURE_LIMIT", "5"))
# Sign-up and password reset answer no sooner than this, known address or not.
PORTAL_PROBE_SECONDS = float(os.environ.get("SOLDE_PORTAL_PROBE_SECONDS", "0.3"))
# Months of readings partitions created ahead of this one (PostgreSQL; docs/readings.md).
READINGS_PARTITIONS_AHEAD = int(os.environ.get("SOLDE_READINGS_PARTITIONS_AHEAD", "3"))
# The phone line's limits (solde.phoneline.services, counted in the database): references without
# a balance per calling number per hour, lookups of one reference per hour, references without
# a balance across the platform per minute.
PHONELINE_CALLER_LIMIT = int(os.environ.get("SOLDE_PHONELINE_CALLER_LIMIT", "5"))
PHONELINE_REFERENCE_LIMIT = int(os.environ.get("SOLDE_PHONELINE_REFERENCE_LIMIT", "10"))
PHONELINE_GLOBAL_LIMIT = int(os.environ.get("SOLDE_PHONELINE_GLOBAL_LIMIT", "10"))

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("nl", "Nederlands"), ("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Brussels"
USE_I18N = True
USE_TZ = True

# Request bodies: larger API bodies get a 413 in the API's error shape (a readings batch of
# 10,000 rows is about 1.5 MB).
MAX_BODY_BYTES = int(os.environ.get("SOLDE_MAX_BODY_BYTES", str(4 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# Money from outside: a bank line above this amount (cents) is held in the suspense queue for
# an operator's review instead of being credited (issue 11: a line of 999,999,999.99 €).
MAX_TOPUP_PER_LINE_CENTS = int(os.environ.get("SOLDE_MAX_TOPUP_PER_LINE_CENTS", "100000"))

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("SOLDE_STATIC_ROOT", DATA_DIR / "static"))
# Hashed, compressed names written by `solde collectstatic` (run by `solde serve`), served by
# whitenoise with far-future caching. Tests override this with the plain storage (conftest).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"
# GDPR: how long after an account closes the person behind it is kept (days; default 10
# years, the accounting retention). `solde erase-customer` and the console refuse before.
PERSONAL_DATA_RETENTION_DAYS = int(os.environ.get("SOLDE_PERSONAL_DATA_RETENTION_DAYS", "3650"))

EMAIL_HOST = os.environ.get("SOLDE_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("SOLDE_SMTP_PORT", "8025"))
DEFAULT_FROM_EMAIL = os.environ.get("SOLDE_FROM_EMAIL", "Solde <noreply@solde.example>")
# The balance phone line's number, printed on letters (the demo's is made up).
PHONELINE_NUMBER = os.environ.get("SOLDE_PHONELINE_NUMBER", "078 15 00 00")
SITE_URL = os.environ.get("SOLDE_SITE_URL", "http://127.0.0.1:8000")

# Head-end: "inprocess" (embedded demo) or an MQTT URL such as mqtt://127.0.0.1:1883.
HEADEND_URL = os.environ.get("SOLDE_HEADEND_URL", "inprocess")
# mqtts:// (TLS): the CA that signed the broker's certificate (empty: the system's CAs), and a
# client certificate and key when the broker asks for one (docs/operations.md, deploy/mosquitto).
MQTT_CA_FILE = os.environ.get("SOLDE_MQTT_CA_FILE", "")
MQTT_CERT_FILE = os.environ.get("SOLDE_MQTT_CERT_FILE", "")
MQTT_KEY_FILE = os.environ.get("SOLDE_MQTT_KEY_FILE", "")
# Broker login when not in the URL (mqtts://user:password@host:8883 works too).
MQTT_USERNAME = os.environ.get("SOLDE_MQTT_USERNAME", "")
MQTT_PASSWORD = os.environ.get("SOLDE_MQTT_PASSWORD", "")
# Payment provider: "fake" (local fake provider server) or "mollie".
PAYMENT_PROVIDER = os.environ.get("SOLDE_PAYMENT_PROVIDER", "fake")
PAYMENT_PROVIDER_URL = os.environ.get("SOLDE_PAYMENT_PROVIDER_URL", "http://127.0.0.1:8010")
MOLLIE_API_KEY = os.environ.get("SOLDE_MOLLIE_API_KEY", "")
# The account customers pay a bank transfer into (shown in messages); empty: the demo's.
TRANSFER_IBAN = os.environ.get("SOLDE_TRANSFER_IBAN", "")
# SMS and the voice line: "twilio" (Twilio's API through its SDK) or "fake" (the local fake
# Twilio of the demo and tests, `solde fake-sms`, at SOLDE_TWILIO_API_URL).
SMS_PROVIDER = os.environ.get("SOLDE_SMS_PROVIDER", "fake")
if SMS_PROVIDER not in ("twilio", "fake"):
    raise ImproperlyConfigured(f"SOLDE_SMS_PROVIDER={SMS_PROVIDER!r}: use 'twilio' or 'fake'.")
TWILIO_ACCOUNT_SID = os.environ.get("SOLDE_TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("SOLDE_TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("SOLDE_TWILIO_FROM", "")
# Empty: Twilio's own API. Set it to point the SDK at the fake (or a regional proxy).
TWILIO_API_URL = os.environ.get(
    "SOLDE_TWILIO_API_URL", "http://127.0.0.1:8020" if SMS_PROVIDER == "fake" else ""
)
if SMS_PROVIDER == "fake":
    # The fake needs credentials too; derived from the secret key, so none is public.
    TWILIO_ACCOUNT_SID = TWILIO_ACCOUNT_SID or "AC" + "0" * 32
    TWILIO_AUTH_TOKEN = (
        TWILIO_AUTH_TOKEN
        or hmac.new(SECRET_KEY.encode(), b"fake-twilio-auth-token", hashlib.sha256).hexdigest()[:32]
    )
    TWILIO_FROM = TWILIO_FROM or "Solde"
# E-mail: Django's SMTP backend by default, or an ESP through django-anymail, e.g.
# "anymail.backends.mailgun.EmailBackend" with SOLDE_ANYMAIL_* settings (docs/operations.md).
EMAIL_BACKEND = NOTIFICATIONS_EMAIL_BACKEND = os.environ.get(
    "SOLDE_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
ANYMAIL = {
    key.removeprefix("SOLDE_ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("SOLDE_ANYMAIL_")
}

Q_CLUSTER = {
    "name": "solde",
    "orm": "default",
    "workers": int(os.environ.get("SOLDE_WORKERS", "2")),
    "timeout": 600,
    "retry": 900,
    "catch_up": False,
    "sync": env_bool("SOLDE_Q_SYNC", False),
}

# --- Content Security Policy (django-csp 4) ---------------------------------------------------
# No inline script or style anywhere: the portal and the admin pass it (tests/e2e/test_csp.py).
# The top-up page adds the payment provider's checkout to form-action (portal.views.topup).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# --- Health, metrics, logs (solde/health.py, solde/metrics.py, solde/logs.py) -----------------
# /readyz turns red when one of these limits is passed.
HEALTH_WORKER_MAX_AGE = int(os.environ.get("SOLDE_HEALTH_WORKER_MAX_AGE", "300"))  # seconds
HEALTH_CLOSE_DEADLINE = os.environ.get("SOLDE_HEALTH_CLOSE_DEADLINE", "07:00")  # local time
HEALTH_ORDER_MAX_AGE = int(os.environ.get("SOLDE_HEALTH_ORDER_MAX_AGE", "900"))
HEALTH_MESSAGE_MAX_AGE = int(os.environ.get("SOLDE_HEALTH_MESSAGE_MAX_AGE", "3600"))
HEALTH_WORK_MAX_AGE = int(os.environ.get("SOLDE_HEALTH_WORK_MAX_AGE", "900"))  # durable work
# /metrics answers a bearer token or the listed addresses/networks, no one else.
METRICS_TOKEN = os.environ.get("SOLDE_METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = env_list("SOLDE_METRICS_ALLOWED_IPS")

# JSON lines (one object per record, with the request id) in production; readable text in the
# demo. Secrets are redacted from every record whatever the format.
LOG_FORMAT = os.environ.get("SOLDE_LOG_FORMAT", "json" if PRODUCTION else "text")

# The API remembers a verified key this many seconds per process (no query per request); a
# revoked key stops working within this delay in every web process (solde.api.keys).
API_KEY_CACHE_SECONDS = float(os.environ.get("SOLDE_API_KEY_CACHE_SECONDS", "5"))

# `solde serve`: the production web server (docs/decisions/0007-serving.md).
WEB_BIND = os.environ.get("SOLDE_BIND", "127.0.0.1:8000")
# granian by default: it measured better than gunicorn here (docs/decisions/0014).
WEB_SERVER = os.environ.get("SOLDE_WEB_SERVER", "granian")
WEB_WORKERS = int(os.environ.get("SOLDE_WEB_WORKERS", "0"))  # 0: sized from the cores
WEB_THREADS = int(os.environ.get("SOLDE_WEB_THREADS", "0"))  # 0: 2 per worker

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "solde.logs.RedactSecrets"},
        "request_id": {"()": "solde.logs.AddRequestId"},
    },
    "formatters": {
        "json": {"()": "solde.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id", "redact"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("SOLDE_LOG_LEVEL", "WARNING")},
    # Solde's own records (closes, imports) at INFO; one access line per request in production
    # (the demo's runserver prints its own).
    "loggers": {
        "solde": {"level": os.environ.get("SOLDE_LOG_LEVEL", "INFO")},
        "solde.access": {"level": "INFO" if PRODUCTION else "WARNING"},
    },
}
