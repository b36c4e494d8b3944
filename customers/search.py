"""Customer search: one box that finds by name, company or contact (substring, Chinese
included), by pinyin and pinyin initials, and by exact phone or email.

Two derived columns on Customer make it fast at a million rows (see ../shared/PERF_NOTES.md):
- search_text: lower-case names, companies, contact names, their full pinyin and pinyin
  initials, with a pg_trgm GIN index for substrings of 3+ characters;
- search_grams: every 1- and 2-character substring of the same words, with a GIN index for
  the short terms a trigram index cannot serve (most Chinese names are two characters: 张伟).
Phone numbers and emails are encrypted, so they are found through the blind index.
"""

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from pypinyin import lazy_pinyin

from core.crypto import blind_index
from core.personal_data import normalize_email, phone_search_key

SEPARATOR = " | "
HAN = re.compile(r"[\u3400-\u9fff]")


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip().lower()


@lru_cache(maxsize=65536)
def _pinyin_forms(text: str) -> tuple[str, ...]:
    """ "张三丰" -> ("zhangsanfeng", "zsf"); nothing for text without Chinese characters.

    Cached: names and companies repeat (an import of 100k rows converts each once), and
    pypinyin's phrase lookup is the costly part of saving a customer."""
    if not HAN.search(text):
        return ()
    syllables = [syllable for syllable in lazy_pinyin(text, errors="ignore") if syllable]
    # The initials are the syllables' first letters (what Style.FIRST_LETTER gives).
    return "".join(syllables), "".join(syllable[0] for syllable in syllables)


def _words(names: Iterable[str]) -> list[str]:
    words: list[str] = []
    for name in names:
        name = _normalise(name)
        if not name:
            continue
        words.append(name)
        words.extend(_pinyin_forms(name))
    return words


def search_fields_for(names: Iterable[str]) -> tuple[str, list[str]]:
    """The (search_text, search_grams) values for a customer's searchable names."""
    words = _words(names)
    grams: set[str] = set()
    for word in words:
        compact = re.sub(r"\s+", "", word)
        grams.update(compact)
        grams.update(compact[i : i + 2] for i in range(len(compact) - 1))
    return SEPARATOR.join(words), sorted(grams)


def refresh_search_fields(customer, contact_names: Iterable[str] | None = None) -> None:
    """Recompute the derived search columns in memory (the caller saves)."""
    if contact_names is None:
        contact_names = customer.contacts.values_list("name", flat=True) if customer.pk else []
    customer.search_text, customer.search_grams = search_fields_for(
        [customer.name, customer.company, *contact_names]
    )


def phone_bidx(normalised_phone: str) -> str:
    return blind_index(normalised_phone, purpose="phone") if normalised_phone else ""


def email_bidx(normalised_email: str) -> str:
    return blind_index(normalised_email, purpose="email") if normalised_email else ""


def private_search_key(query: str) -> str | None:
    """For a query that is a phone number or an email address, the token that stands for it
    in URLs ("p:<hmac>" / "e:<hmac>"), so plaintext never reaches addresses, logs or history.
    None for other queries (names), or "" for an email that cannot be valid."""
    query = _normalise(query)
    phone = phone_search_key(query)
    if phone:
        return f"p:{phone_bidx(phone)}"
    if "@" in query:
        try:
            return f"e:{email_bidx(normalize_email(query))}"
        except ValidationError:
            return ""
    return None


def search_by_private_key(qs: QuerySet, token: str) -> QuerySet:
    """Exact match on the blind index, from a token made by private_search_key()."""
    from customers.models import Contact, Customer

    # The ids of the matches, found through the blind-index indexes (one UNION subquery): an
    # OR with EXISTS over the contacts made PostgreSQL expect half the table to match and walk
    # the whole list order instead (1 s at a million customers).
    kind, _sep, key = token.partition(":")
    if kind == "p" and key:
        own = Customer.objects.filter(Q(mobile_bidx=key) | Q(other_phone_bidx=key)).order_by().values("pk")
        contacts = Contact.objects.filter(phone_bidx=key).order_by().values("customer_id")
        return qs.filter(pk__in=own.union(contacts))
    if kind == "e" and key:
        own = Customer.objects.filter(email_bidx=key).order_by().values("pk")
        contacts = Contact.objects.filter(email_bidx=key).order_by().values("customer_id")
        return qs.filter(pk__in=own.union(contacts))
    return qs.none()


def search_customers(qs: QuerySet, query: str) -> QuerySet:
    """Filter a customer queryset by the search box's text."""
    query = _normalise(query)
    if not query:
        return qs
    token = private_search_key(query)
    if token is not None:
        return search_by_private_key(qs, token)
    term = re.sub(r"\s+", "", query) if HAN.search(query) else query
    if len(term) <= 2:
        return qs.filter(search_grams__has_gram=term)
    return qs.filter(search_text__contains=term)
