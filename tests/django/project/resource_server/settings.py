"""A stock Django REST framework project authenticating with simplejwt's own
JWTAuthentication. Nothing here knows tessera except the SIMPLE_JWT settings, which
point at tessera's issuer and JWKS (from the environment, so the test can start it)."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "only-for-tests"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
]
MIDDLEWARE = []
ROOT_URLCONF = "resource_server.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB_PATH", os.path.join(BASE_DIR, "db.sqlite3")),
    }
}

# Every hasher tessera imports, plus MD5 (which it does not).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# The only change a project makes to trust tessera's tokens.
TESSERA = os.environ.get("TESSERA_ISSUER", "http://127.0.0.1:8080")
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "JWK_URL": TESSERA + "/.well-known/jwks.json",
    "ISSUER": TESSERA,
    "AUDIENCE": os.environ.get("TESSERA_AUDIENCE", TESSERA),
}
