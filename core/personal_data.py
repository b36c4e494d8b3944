"""Normalising, validating and masking personal data (phone numbers, email addresses).

`normalize_phone` is used for storage, for the blind index and for search queries, so a
number typed as "+86 138-0013-8000", "８６13800138000" or "13800138000.0" (from Excel)
finds the same customer.
"""

import re
import unicodedata

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
DEFAULT_REGION = "CN"


def _clean(raw: str) -> str:
    # Full-width digits and symbols (１３８, ＋) become ASCII; spaces of every kind go.
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    # Numbers exported from Excel: "13800138000.0", "1.38001380E+10". The exponent has at
    # most two digits: "1E309" is no phone number, and float() makes it infinity, which int()
    # refuses with OverflowError (a server error in the customer form and the search box,
    # found by tests/test_form_properties.py).
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    elif re.fullmatch(r"\d(\.\d+)?[eE]\+?\d{1,2}", text):
        text = str(int(float(text)))
    return re.sub(r"[\s\-()（）.·/]", "", text)


def normalize_phone(raw: str) -> str:
    """Return the canonical form of a phone number, or raise ValidationError.

    Chinese mobile numbers become their 11 digits ("13800138000"), whatever prefix or
    separators were typed. Other numbers (landlines, foreign numbers) become E.164
    ("+861088886666", "+14155552671") through the phonenumbers library.
    """
    text = _clean(raw)
    if not text:
        return ""
    digits = text.lstrip("+")
    for prefix in ("0086", "86"):
        candidate = digits[len(prefix) :] if digits.startswith(prefix) else None
        if candidate and CN_MOBILE.match(candidate):
            return candidate
    if CN_MOBILE.match(digits) and not text.startswith("+"):
        return digits
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        if digits.startswith("1") and len(digits) == 11 and not text.startswith("+"):
            raise ValidationError(
                _("This is not a valid Chinese mobile number (11 digits starting 13–19)."),
                code="invalid_mobile",
            )
        raise ValidationError(_("Enter a valid phone number."), code="invalid_phone")
    if number.country_code == 86 and CN_MOBILE.match(str(number.national_number)):
        return str(number.national_number)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """Trimmed, NFKC-normalised and lower-cased; raises ValidationError when invalid."""
    text = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    if not text:
        return ""
    validate_email(text)
    return text


def phone_search_key(raw: str) -> str | None:
    """The normalised phone number a search query stands for, or None if it is not one."""
    text = _clean(raw)
    if len(re.sub(r"\D", "", text)) < 7 or not re.fullmatch(r"\+?\d+", text):
        return None
    try:
        return normalize_phone(text)
    except ValidationError:
        return None


def mask_phone(value: str) -> str:
    """138****5678 for a Chinese mobile; the last four digits otherwise."""
    if not value:
        return ""
    if CN_MOBILE.match(value):
        return f"{value[:3]}****{value[-4:]}"
    return "*" * max(len(value) - 4, 3) + value[-4:]


def mask_email(value: str) -> str:
    """z***@example.com"""
    if not value:
        return ""
    local, _sep, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_text(value: str) -> str:
    """A street address or other text: the first two characters, then stars."""
    if not value:
        return ""
    return value[:2] + "****"
