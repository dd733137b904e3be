"""Run with `manage.py shell`: the project's users, one per password format."""
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User

PASSWORD = "a Django password"

User.objects.create_user("Alice", password=PASSWORD)  # the default: pbkdf2_sha256
for name, hasher in [
    ("bob", "pbkdf2_sha1"),
    ("carol", "argon2"),
    ("dave", "bcrypt_sha256"),
    ("grace", "md5"),
]:
    user = User.objects.create_user(name)
    user.password = make_password(PASSWORD, hasher=hasher)
    user.save()
User.objects.create_user("erin")  # no password: unusable
User.objects.create_user("frank", password=PASSWORD, is_active=False)
