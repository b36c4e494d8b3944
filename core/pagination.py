"""Keyset pagination: pages stay fast at any depth of a million-row list.

OFFSET pagination reads and throws away every row before the page (OFFSET 500000 took
1.1 s in ../shared/PERF_NOTES.md); a keyset page starts from the last row seen, through the
same index that serves the sort. The sort key may be NULL: descending sorts put NULLs last
and ascending sorts put them first, so one index serves both directions.

Counting is capped: lists say "10,000+" instead of counting a million rows on every page.
"""

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet


@dataclass(frozen=True)
class SortOption:
    key: str  # the annotation or field the rows are ordered by (ties broken by id)
    descending: bool
    # NULL-able keys sort NULLs last when descending, first when ascending (the index must
    # say DESC NULLS LAST). NOT NULL keys use plain ASC/DESC so default indexes serve them.
    nullable: bool = False


@dataclass
class KeysetPage:
    object_list: list
    next_cursor: str | None
    prev_cursor: str | None
    count: int
    count_capped: bool
    per_page: int
    extra: dict = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.prev_cursor is not None


def _encode(value: Any, pk: int, direction: str) -> str:
    if isinstance(value, datetime):
        tagged = ["dt", value.isoformat()]
    elif isinstance(value, date):
        tagged = ["d", value.isoformat()]
    elif isinstance(value, Decimal):
        tagged = ["dec", str(value)]
    else:
        tagged = ["v", value]
    raw = json.dumps([tagged, pk, direction], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, int, str] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (tag, value), pk, direction = json.loads(raw)
        if tag == "dt":
            value = datetime.fromisoformat(value)
        elif tag == "d":
            value = date.fromisoformat(value)
        elif tag == "dec":
            value = Decimal(value)
        if direction not in ("next", "prev") or not isinstance(pk, int):
            return None
        return value, pk, direction
    except (ValueError, TypeError, json.JSONDecodeError):
        # A tampered or stale cursor starts the list again rather than failing.
        return None


def _order(sort: SortOption, descending: bool) -> list:
    expr = F(sort.key)
    if descending:
        return [expr.desc(nulls_last=True) if sort.nullable else expr.desc(), F("pk").desc()]
    return [expr.asc(nulls_first=True) if sort.nullable else expr.asc(), F("pk").asc()]


def sort_order(sort: SortOption) -> list:
    """The ORDER BY of a list's first page: exports write the rows in the order the list shows."""
    return _order(sort, sort.descending)


def _after(sort: SortOption, descending: bool, value: Any, pk: int) -> Q:
    """Rows strictly after (value, pk) in the given order (NULLs last when descending)."""
    key = sort.key
    if descending:
        if value is None:
            return Q(**{f"{key}__isnull": True, "pk__lt": pk})
        return Q(**{f"{key}__lt": value}) | Q(**{key: value, "pk__lt": pk}) | Q(**{f"{key}__isnull": True})
    if value is None:
        return Q(**{f"{key}__isnull": True, "pk__gt": pk}) | Q(**{f"{key}__isnull": False})
    return Q(**{f"{key}__gt": value}) | Q(**{key: value, "pk__gt": pk})


def capped_count(qs: QuerySet, limit: int | None = None) -> tuple[int, bool]:
    limit = limit or settings.LIST_COUNT_LIMIT
    count = qs.order_by().values("pk")[: limit + 1].count()
    return min(count, limit), count > limit


def keyset_page(qs: QuerySet, sort: SortOption, cursor: str | None, per_page: int) -> KeysetPage:
    """One page of `qs` ordered by `sort`, starting after/before the row in `cursor`."""
    decoded = _decode(cursor) if cursor else None
    count, capped = capped_count(qs)
    backwards = decoded is not None and decoded[2] == "prev"
    descending = sort.descending != backwards
    page_qs = qs.order_by(*_order(sort, descending))
    if decoded is not None:
        page_qs = page_qs.filter(_after(sort, descending, decoded[0], decoded[1]))
    rows = list(page_qs[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_prev = (decoded is not None) if not backwards else more
    next_cursor = prev_cursor = None
    if rows and has_next:
        last = rows[-1]
        next_cursor = _encode(_value(last, sort.key), last.pk, "next")
    if rows and has_prev:
        first = rows[0]
        prev_cursor = _encode(_value(first, sort.key), first.pk, "prev")
    return KeysetPage(
        object_list=rows,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        count=count,
        count_capped=capped,
        per_page=per_page,
    )


def _value(obj, key: str):
    return getattr(obj, key)
