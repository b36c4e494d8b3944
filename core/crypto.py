"""Field-level encryption and keyed hashes (blind index) for personal data.

Encryption: Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key list:
settings.FIELD_ENCRYPTION_KEYS[0] encrypts, every key decrypts (MultiFernet), so keys can
be rotated: put a new key first, run `manage.py rotate_encryption_keys`, drop the old key.

Blind index: HMAC-SHA256 of a normalised value with settings.BLIND_INDEX_KEY, so exact
search and duplicate checks work without storing or comparing plaintext.
"""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Every Fernet token starts with the version byte 0x80, base64-encoded as "gAAAAA".
TOKEN_PREFIX = "gAAAAA"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes each)."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        # Never include the token or any plaintext in the message.
        raise ImproperlyConfigured(
            "A stored value could not be decrypted with any key in FIELD_ENCRYPTION_KEYS. "
            "Was a key removed before `rotate_encryption_keys` ran?"
        ) from exc


def rotate(token: str) -> str:
    """Re-encrypt a token with the first (newest) key."""
    return fernet().rotate(token.encode()).decode()


def encrypted_with_primary_key(token: str) -> bool:
    """True when the first key alone decrypts the token (nothing to rotate)."""
    primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    try:
        primary.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed hash of an already-normalised value; `purpose` separates phone from email."""
    message = f"{purpose}:{value}".encode()
    return hmac.new(settings.BLIND_INDEX_KEY.encode(), message, hashlib.sha256).hexdigest()
