"""Solde settings, read from SOLDE_* environment variables (see README)."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SOLDE_DATA_DIR", Path.cwd() / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("SOLDE_DEBUG", False)
SECRET_KEY = os.environ.get("SOLDE_SECRET_KEY", "insecure-development-key-change-me-in-production")
ALLOWED_HOSTS = os.environ.get("SOLDE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("SOLDE_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# The simulation clock (demo, simulator, black-box tests) can be set through the API.
SIMULATION = env_bool("SOLDE_SIMULATION", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "auditlog",
    "django_q",
    "axes",
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
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "solde.api.middleware.RefuseNulCharacters",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    # The actor of every audit entry (console and admin changes).
    "auditlog.middleware.AuditlogMiddleware",
]

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
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
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
AXES_LOCKOUT_TEMPLATE = "portal/locked.html"  # the portal's own "too many attempts" page
LOGIN_URL = "/login/"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("nl", "Nederlands"), ("de", "Deutsch"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Brussels"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_ROOT = DATA_DIR / "media"

EMAIL_HOST = os.environ.get("SOLDE_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("SOLDE_SMTP_PORT", "8025"))
DEFAULT_FROM_EMAIL = os.environ.get("SOLDE_FROM_EMAIL", "Solde <noreply@solde.example>")
SITE_URL = os.environ.get("SOLDE_SITE_URL", "http://127.0.0.1:8000")

# Head-end: "inprocess" (embedded demo) or an MQTT URL such as mqtt://127.0.0.1:1883.
HEADEND_URL = os.environ.get("SOLDE_HEADEND_URL", "inprocess")
# Payment provider: "fake" (local fake provider server) or "mollie".
PAYMENT_PROVIDER = os.environ.get("SOLDE_PAYMENT_PROVIDER", "fake")
PAYMENT_PROVIDER_URL = os.environ.get("SOLDE_PAYMENT_PROVIDER_URL", "http://127.0.0.1:8010")
MOLLIE_API_KEY = os.environ.get("SOLDE_MOLLIE_API_KEY", "")
SMS_GATEWAY_URL = os.environ.get("SOLDE_SMS_GATEWAY_URL", "http://127.0.0.1:8020")

Q_CLUSTER = {
    "name": "solde",
    "orm": "default",
    "workers": int(os.environ.get("SOLDE_WORKERS", "2")),
    "timeout": 600,
    "retry": 900,
    "catch_up": False,
    "sync": env_bool("SOLDE_Q_SYNC", False),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SOLDE_LOG_LEVEL", "WARNING")},
}
