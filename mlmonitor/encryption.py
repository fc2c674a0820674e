"""Secrets encrypted at rest: a model field that stores its value as a Fernet token (AES-128-CBC with an
HMAC-SHA256, https://cryptography.io/en/latest/fernet/) and reads it back in clear.

The key is FIELD_ENCRYPTION_KEY when set (a Fernet key: 32 url-safe base64 bytes), else derived from SECRET_KEY;
values written under an older key stay readable while that key is in FIELD_ENCRYPTION_KEY_FALLBACKS (or, for the
derived key, SECRET_KEY_FALLBACKS). Changing the key without keeping the old one as a fallback makes the stored
secrets unreadable: reading one raises ImproperlyConfigured naming the setting, and the secret must be entered again.

Stored form: `fernet:<token>`. A value without the prefix (written before the field was encrypted) is read as is and
encrypted at its next save; the data migration that introduced the field re-saves every row.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


def _derived_key(secret_key: str) -> bytes:
    """A Fernet key from a Django SECRET_KEY (SHA-256 of it, with a purpose string; url-safe base64)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"mlmonitor field encryption:" + secret_key.encode()).digest())


def _keys() -> list[bytes]:
    """The current key first, then the fallbacks that may still decrypt."""
    explicit = getattr(settings, "FIELD_ENCRYPTION_KEY", "")
    if explicit:
        return [key.encode() for key in [explicit, *getattr(settings, "FIELD_ENCRYPTION_KEY_FALLBACKS", [])]]
    return [_derived_key(key) for key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]]


def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in _keys()])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY is not a Fernet key: {exc}") from exc


def secret_encrypt(value: str) -> str:
    """`fernet:<token>` for a clear value; an empty value, or one already encrypted, is returned as it is."""
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def secret_decrypt(value: str) -> str:
    """The clear value of a stored one (a value without the prefix is clear already)."""
    if not value or not value.startswith(PREFIX):
        return value
    try:
        return _fernet().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY / SECRET_KEY or their fallbacks: was the "
            "key changed without keeping the old one in the *_FALLBACKS setting?"
        ) from exc


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text field stored encrypted (secret_encrypt) and read in clear; `max_length` limits the clear value in
    forms. Not usable in lookups other than emptiness: the same value encrypts differently each time."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        """Decrypt what the database holds."""
        return value if value is None else secret_decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        """Encrypt before writing."""
        value = super().get_prep_value(value)
        return value if value is None else secret_encrypt(str(value))
