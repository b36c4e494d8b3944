"""Custom fields (自定义字段): fields admins add to customers, contacts and opportunities.

The definitions are core.models.CustomField rows; the values live in a `custom` JSONField
on the target model, keyed by the field's key:

- typed JSON: text as a string, whole numbers and decimals as JSON numbers, dates as ISO
  text ("2026-03-01", which sorts like the date), yes/no as true/false, a single choice as
  its value, several choices as a list of values;
- a sensitive field holds {"enc": <Fernet token of the JSON value>, "bidx": <blind index>}:
  encrypted with the same key ring as the built-in personal fields (core.crypto), matched
  exactly through the keyed hash, never in clear in the database, its history or a dump.

Indexes: each target has a GIN index (jsonb_path_ops) on `custom`, which serves every
equality filter offered here (`custom @> '{"key": value}'`: text, choice, several choices,
yes/no, and the blind index of a sensitive field). Range filters on numbers and dates
(`custom -> 'key' >= …`) cannot use it, and an index per dynamic key would need a migration
per field: they run as a filter on the rows the user's scope and the other (indexed)
filters have already narrowed. See README "Custom fields".

Core knows no domain app: each app registers its model for a target in AppConfig.ready()
(`register_target`). The plain functions `custom_values_for()` and `clean_custom_values()`
are what the API calls.
"""

import json
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Q
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import crypto
from core.models import CustomField
from core.personal_data import mask_text

Kind = CustomField.Kind
FORM_PREFIX = "cf_"
# Whole numbers stay within what JSON readers (JavaScript) represent exactly.
MAX_INTEGER = 2**53 - 1
DECIMAL_MAX_DIGITS = 15
DECIMAL_PLACES = 4
TEXT_MAX_LENGTH = 500
LONG_TEXT_MAX_LENGTH = 5000


@dataclass(frozen=True)
class Target:
    model: type[models.Model]
    # Who may see sensitive values in clear (exports, the API) and reveal them (pages).
    sensitive_permission: str


_TARGETS: dict[str, Target] = {}


def register_target(target: str, model: type[models.Model], *, sensitive_permission: str) -> None:
    _TARGETS[target] = Target(model, sensitive_permission)


def target_info(target: str) -> Target:
    return _TARGETS[target]


def target_of(obj: models.Model) -> str:
    for name, info in _TARGETS.items():
        if isinstance(obj, info.model):
            return name
    raise LookupError(type(obj).__name__)


def definitions(target: str) -> list[CustomField]:
    """The target's fields in form order (one query)."""
    return list(CustomField.objects.filter(target=target).order_by("order", "id"))


# Definitions for code that asks many times in a row (an import checks every cell of every
# row against its columns): kept a few seconds per process, dropped whenever a field is saved
# or deleted in this process (core.signals).
_CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, list[CustomField]]] = {}


def definitions_cached(target: str) -> list[CustomField]:
    now = time.monotonic()
    hit = _cache.get(target)
    if hit is None or now - hit[0] > _CACHE_SECONDS:
        hit = _cache[target] = (now, definitions(target))
    return hit[1]


def clear_cache(**kwargs) -> None:
    _cache.clear()


def form_name(field: CustomField) -> str:
    return f"{FORM_PREFIX}{field.key}"


# --- values: parse, store, read, show ---------------------------------------------------------


def _blank(value) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _choice_value(field: CustomField, raw) -> str:
    aliases = field.choice_aliases()
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    try:
        return aliases[text.casefold()]
    except KeyError:
        raise ValidationError(
            _("“%(value)s” is not one of the choices: %(choices)s.")
            % {"value": text, "choices": ", ".join(label for _v, label in field.choice_list())},
            code="invalid_choice",
        ) from None


def parse_value(field: CustomField, raw) -> Any:
    """A typed value from what a spreadsheet cell or an API client gave (text, number, date,
    bool, list); None when blank. Raises ValidationError with a translated message."""
    if _blank(raw):
        return None
    kind = field.kind
    if kind in (Kind.TEXT, Kind.LONG_TEXT):
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # 123.0 from Excel
        text = str(raw).strip()
        limit = TEXT_MAX_LENGTH if kind == Kind.TEXT else LONG_TEXT_MAX_LENGTH
        if len(text) > limit:
            raise ValidationError(_("At most %(limit)d characters.") % {"limit": limit}, code="max_length")
        return text
    if kind == Kind.NUMBER:
        if isinstance(raw, bool):
            raise ValidationError(_("Enter a whole number."), code="invalid_number")
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValidationError(_("Enter a whole number."), code="invalid_number") from None
        if not number.is_finite() or number != number.to_integral_value() or abs(number) > MAX_INTEGER:
            raise ValidationError(_("Enter a whole number."), code="invalid_number")
        return int(number)
    if kind == Kind.DECIMAL:
        if isinstance(raw, bool):
            raise ValidationError(_("Enter a number."), code="invalid_decimal")
        try:
            number = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValidationError(_("Enter a number."), code="invalid_decimal") from None
        if not number.is_finite():
            raise ValidationError(_("Enter a number."), code="invalid_decimal")
        number = number.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)).normalize()
        if len(number.as_tuple().digits) > DECIMAL_MAX_DIGITS:
            raise ValidationError(
                _("At most %(digits)d digits.") % {"digits": DECIMAL_MAX_DIGITS}, code="max_digits"
            )
        return number
    if kind == Kind.DATE:
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        text = str(raw).strip().replace("/", "-").replace(".", "-")
        for separator in ("年", "月"):
            text = text.replace(separator, "-")
        text = text.rstrip("日")
        try:
            year, month, day = (int(part) for part in text.split("-"))
            return date(year, month, day)
        except (ValueError, TypeError):
            raise ValidationError(_("Enter a valid date, e.g. 2026-03-01."), code="invalid_date") from None
    if kind == Kind.YES_NO:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().casefold()
        if text in ("1", "yes", "y", "true", "是", "对", "有", "√", "✓"):
            return True
        if text in ("0", "no", "n", "false", "否", "不", "无", "×"):
            return False
        raise ValidationError(_("Enter yes or no (是/否)."), code="invalid_yes_no")
    if kind == Kind.CHOICE:
        return _choice_value(field, raw)
    if kind == Kind.MULTI_CHOICE:
        items = (
            raw
            if isinstance(raw, list | tuple)
            else str(raw).replace("，", ",").replace("、", ",").split(",")
        )
        values = [_choice_value(field, item) for item in items if not _blank(item)]
        order = [value for value, _label in field.choice_list()]
        return sorted(set(values), key=order.index) or None
    raise ValidationError(_("Unknown kind of field."), code="invalid")


def _jsonable(field: CustomField, value) -> Any:
    if isinstance(value, Decimal):
        # A JSON number, so ranges compare numerically; 15 digits survive a float exactly.
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _canonical(field: CustomField, value) -> str:
    """The text a sensitive value's blind index is computed from: the same for every way
    of typing the same value."""
    if isinstance(value, str):
        return unicodedata.normalize("NFKC", value).strip().casefold()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return json.dumps(_jsonable(field, value))


def blind_index(field: CustomField, value) -> str:
    return crypto.blind_index(_canonical(field, value), purpose=f"cf:{field.target}:{field.key}")


def to_storage(field: CustomField, value) -> Any:
    """What goes into the JSON column for a typed value (not None)."""
    plain = _jsonable(field, value)
    if field.sensitive:
        return {
            "enc": crypto.encrypt(json.dumps(plain, ensure_ascii=False)),
            "bidx": blind_index(field, value),
        }
    return plain


def from_storage(field: CustomField, stored) -> Any:
    """The typed value of a stored one (decrypted); None when missing or unreadable."""
    if stored is None:
        return None
    if isinstance(stored, dict):
        if "enc" not in stored:
            return None
        stored = json.loads(crypto.decrypt(stored["enc"]))
    try:
        if field.kind == Kind.NUMBER:
            return int(stored)
        if field.kind == Kind.DECIMAL:
            return Decimal(str(stored)).normalize()
        if field.kind == Kind.DATE:
            return date.fromisoformat(stored)
        if field.kind == Kind.YES_NO:
            return bool(stored)
        if field.kind == Kind.MULTI_CHOICE:
            return list(stored) if isinstance(stored, list) else [str(stored)]
        return str(stored)
    except (TypeError, ValueError, InvalidOperation):
        return None


def display(field: CustomField, value) -> str:
    """A typed value as text in the active language ("" when empty)."""
    if value is None or value == []:
        return ""
    if field.kind == Kind.YES_NO:
        return _("Yes") if value else _("No")
    if field.kind in (Kind.CHOICE, Kind.MULTI_CHOICE):
        labels = dict(field.choice_list())
        values = value if isinstance(value, list) else [value]
        return ", ".join(labels.get(item, item) for item in values)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def mask(field: CustomField, value: str) -> str:
    """A sensitive value as shown masked: text keeps its first two characters, like a street
    address; numbers and dates show nothing of themselves."""
    if not value:
        return ""
    return mask_text(value) if field.kind in (Kind.TEXT, Kind.LONG_TEXT) else "****"


def values_of(obj: models.Model, fields: list[CustomField]) -> dict[str, Any]:
    """key → typed value (decrypted) of each field that has one."""
    stored = obj.custom or {}
    result = {}
    for field in fields:
        value = from_storage(field, stored.get(field.key))
        if value is not None and value != []:
            result[field.key] = value
    return result


def merged_storage(current: dict | None, fields: list[CustomField], values: dict[str, Any]) -> dict:
    """`current` with each field in `values` set (None or empty: removed). Keys of other
    fields are kept."""
    result = dict(current or {})
    for field in fields:
        if field.key not in values:
            continue
        value = values[field.key]
        if value is None or value == "" or value == []:
            result.pop(field.key, None)
        else:
            result[field.key] = to_storage(field, value)
    return result


# --- the API's two entry points ----------------------------------------------------------------


def clean_custom_values(
    target: str, data: dict[str, Any], *, current: dict | None = None, partial: bool = False
) -> dict:
    """Validate `data` (key → value as JSON gives it: text, number, "2026-03-01", true, a list
    of choice values) and return the JSON to store in `custom` (merged into `current`).

    Unknown keys and invalid values raise ValidationError({key: [message]}); a required field
    missing from `data` too, unless `partial` (a PATCH) and it already has a value.
    """
    fields = definitions(target)
    by_key = {field.key: field for field in fields}
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in by_key:
            errors[key] = [_("Unknown custom field.")]
    values = {}
    for field in fields:
        if field.key not in data:
            if field.required and not (partial and (current or {}).get(field.key) is not None):
                errors[field.key] = [_("This field is required.")]
            continue
        try:
            value = parse_value(field, data[field.key])
        except ValidationError as exc:
            errors[field.key] = exc.messages
            continue
        if value is None and field.required:
            errors[field.key] = [_("This field is required.")]
            continue
        values[field.key] = value
    if errors:
        raise ValidationError(errors)
    return merged_storage(current, fields, values)


def custom_values_for(obj: models.Model, user, *, fields: list[CustomField] | None = None) -> dict[str, Any]:
    """key → JSON value of `obj`'s custom fields for `user`: sensitive ones in clear for holders
    of the target's sensitive permission, masked text otherwise. The caller has checked that
    the user may see `obj` (its visible_to())."""
    target = target_of(obj)
    fields = definitions(target) if fields is None else fields
    unmasked = user.has_perm(target_info(target).sensitive_permission)
    values = values_of(obj, fields)
    result: dict[str, Any] = {}
    for field in fields:
        value = values.get(field.key)
        if value is None:
            result[field.key] = None
        elif field.sensitive and not unmasked:
            result[field.key] = mask(field, display(field, value))
        else:
            result[field.key] = _jsonable(field, value)
    return result


# --- forms -------------------------------------------------------------------------------------


class _DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(**kwargs)


def form_field(field: CustomField) -> forms.Field:
    """The form field for a custom field: the widget of its kind, its label, help and
    whether it is required; Django's own (translated) messages for bad input."""
    common = {"label": field.label, "help_text": field.help, "required": field.required}
    kind = field.kind
    if kind == Kind.TEXT:
        return forms.CharField(max_length=TEXT_MAX_LENGTH, **common)
    if kind == Kind.LONG_TEXT:
        return forms.CharField(
            max_length=LONG_TEXT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3}), **common
        )
    if kind == Kind.NUMBER:
        return forms.IntegerField(min_value=-MAX_INTEGER, max_value=MAX_INTEGER, **common)
    if kind == Kind.DECIMAL:
        return forms.DecimalField(max_digits=DECIMAL_MAX_DIGITS, decimal_places=DECIMAL_PLACES, **common)
    if kind == Kind.DATE:
        return forms.DateField(widget=_DateInput(), **common)
    if kind == Kind.YES_NO:
        return forms.TypedChoiceField(
            choices=[("", "---------"), ("true", _("Yes")), ("false", _("No"))],
            coerce=lambda value: value == "true",
            empty_value=None,
            **common,
        )
    if kind == Kind.CHOICE:
        return forms.ChoiceField(choices=[("", "---------"), *field.choice_list()], **common)
    return forms.MultipleChoiceField(
        choices=field.choice_list(), widget=forms.CheckboxSelectMultiple, **common
    )


def _initial(field: CustomField, value):
    if value is None:
        return None
    if field.kind == Kind.YES_NO:
        return "true" if value else "false"
    return value


def add_form_fields(form: forms.BaseForm, target: str, instance: models.Model | None = None) -> None:
    """Add the target's custom fields to `form` (named cf_<key>, after the built-in ones);
    `form.custom_fields` keeps the definitions for `form_storage()` and the template."""
    fields = definitions(target)
    current = values_of(instance, fields) if instance is not None and instance.pk else {}
    for field in fields:
        form_field_ = form_field(field)
        form_field_.initial = _initial(field, current.get(field.key))
        form.fields[form_name(field)] = form_field_
    form.custom_fields = fields


def form_storage(form: forms.BaseForm, current: dict | None) -> dict:
    """The `custom` JSON to save from a valid form with add_form_fields()."""
    values = {field.key: form.cleaned_data.get(form_name(field)) for field in form.custom_fields}
    return merged_storage(current, form.custom_fields, values)


def without_form_fields(cleaned: dict) -> dict:
    return {key: value for key, value in cleaned.items() if not key.startswith(FORM_PREFIX)}


# --- pages: detail and list -------------------------------------------------------------------


def detail_items(
    obj: models.Model, fields: list[CustomField], *, reveal_url: Callable[[str], str] | None, id_prefix: str
) -> list[dict]:
    """label, value (text) and, for sensitive fields, the item the page's masked-value partial
    takes (masked text, reveal URL, element id), for each field, in order."""
    values = values_of(obj, fields)
    items = []
    for field in fields:
        text = display(field, values.get(field.key))
        item = {"label": field.label, "key": field.key, "value": text, "sensitive": None}
        if field.sensitive:
            name = form_name(field)
            item["value"] = ""
            item["sensitive"] = {
                "masked": mask(field, text),
                "url": reveal_url(name) if reveal_url else "",
                "id": f"{id_prefix}{name}",
            }
        items.append(item)
    return items


def list_cells(obj: models.Model, fields: list[CustomField]) -> list[str]:
    """The list columns' texts of one row: sensitive ones masked, as lists show personal data."""
    values = values_of(obj, fields)
    cells = []
    for field in fields:
        text = display(field, values.get(field.key))
        cells.append(mask(field, text) if field.sensitive else text)
    return cells


def sensitive_field(target: str, name: str) -> CustomField | None:
    """The sensitive custom field a reveal URL names (cf_<key>), or None."""
    if not name.startswith(FORM_PREFIX):
        return None
    return CustomField.objects.filter(target=target, key=name[len(FORM_PREFIX) :], sensitive=True).first()


def revealed_text(obj: models.Model, field: CustomField) -> str:
    return display(field, from_storage(field, (obj.custom or {}).get(field.key)))


# --- filters -----------------------------------------------------------------------------------


def _exact(queryset, field: CustomField, stored) -> models.QuerySet:
    """Rows whose value of `field` is (or, for a list, contains) `stored`.

    PostgreSQL: `custom @> {"key": stored}`, served by the GIN (jsonb_path_ops) index. The
    SQLite default for `make run` has no @>; it compares the key's value instead."""
    if connection.vendor == "postgresql":
        return queryset.filter(custom__contains={field.key: stored})
    if isinstance(stored, list):
        return queryset.filter(**{f"custom__{field.key}__icontains": json.dumps(stored[0])})
    if isinstance(stored, dict):
        return queryset.filter(**{f"custom__{field.key}__bidx": stored["bidx"]})
    return queryset.filter(**{f"custom__{field.key}": stored})


# A sensitive filter's value may come as its blind index ("~" + 64 hex digits), so that the
# list's URL, saved views and logs never carry the value itself (see private_filter_tokens).
TOKEN_PREFIX = "~"


def private_filter_tokens(target: str, query, fields: list[CustomField] | None = None) -> None:
    """Replace, in a mutable QueryDict of list filters, the value of each sensitive filter by
    its blind-index token (a bad value by a token that matches nothing). `fields`: the target's
    definitions when the caller has them already."""
    for field in definitions(target) if fields is None else fields:
        name = form_name(field)
        if not (field.sensitive and field.filterable and query.get(name)):
            continue
        value = query[name]
        if value.startswith(TOKEN_PREFIX):
            continue
        try:
            typed = parse_value(field, value)
        except ValidationError:
            query[name] = TOKEN_PREFIX + "0" * 64
            continue
        if typed is not None:
            query[name] = TOKEN_PREFIX + blind_index(field, typed)


def _exact_filter(field: CustomField):
    def method(queryset, name, value):
        if _blank(value):
            return queryset
        if field.sensitive and value.startswith(TOKEN_PREFIX):
            return _exact(queryset, field, {"bidx": value[len(TOKEN_PREFIX) :]})
        try:
            typed = parse_value(field, value)
        except ValidationError:
            return queryset.none()
        if field.sensitive:
            return _exact(queryset, field, {"bidx": blind_index(field, typed)})
        return _exact(queryset, field, _jsonable(field, typed))

    return method


def _multi_filter(field: CustomField):
    def method(queryset, name, value):
        if not value:
            return queryset
        # Any of the ticked choices: one indexed containment per choice.
        q = Q()
        for choice in value:
            q |= Q(pk__in=_exact(queryset.model._default_manager.all(), field, [choice]).values("pk"))
        return (
            queryset.filter(q)
            if connection.vendor != "postgresql"
            else queryset.filter(_or_contains(field, value))
        )

    return method


def _or_contains(field: CustomField, values) -> Q:
    q = Q()
    for choice in values:
        q |= Q(custom__contains={field.key: [choice]})
    return q


def _range_filter(field: CustomField):
    def method(queryset, name, value):
        if not value or (value.start is None and value.stop is None):
            return queryset
        lookup = f"custom__{field.key}"
        start, stop = value.start, value.stop
        if field.kind == Kind.DATE:
            start = start.date().isoformat() if isinstance(start, datetime) else start
            stop = stop.date().isoformat() if isinstance(stop, datetime) else stop
        else:
            start = float(start) if start is not None else None
            stop = float(stop) if stop is not None else None
        # Not indexed (see the module docstring): applied within the scope and other filters.
        queryset = queryset.filter(**{f"{lookup}__isnull": False})
        if start is not None:
            queryset = queryset.filter(**{f"{lookup}__gte": start})
        if stop is not None:
            queryset = queryset.filter(**{f"{lookup}__lte": stop})
        return queryset

    return method


def make_filter(field: CustomField) -> django_filters.Filter:
    label = field.label
    if field.sensitive:
        return django_filters.CharFilter(
            label=label,
            method=_exact_filter(field),
            help_text=gettext_lazy("Exact value"),
            widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": gettext_lazy("Exact value")}),
        )
    kind = field.kind
    if kind in (Kind.TEXT, Kind.LONG_TEXT):
        return django_filters.CharFilter(
            label=label,
            method=_exact_filter(field),
            widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Exact value")}),
        )
    if kind in (Kind.NUMBER, Kind.DECIMAL):
        return django_filters.RangeFilter(label=label, method=_range_filter(field))
    if kind == Kind.DATE:
        return django_filters.DateFromToRangeFilter(
            label=label,
            method=_range_filter(field),
            widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
        )
    if kind == Kind.YES_NO:
        return django_filters.ChoiceFilter(
            label=label, choices=[("yes", _("Yes")), ("no", _("No"))], method=_yes_no_filter(field)
        )
    if kind == Kind.CHOICE:
        return django_filters.ChoiceFilter(
            label=label, choices=field.choice_list(), method=_exact_filter(field)
        )
    return django_filters.MultipleChoiceFilter(
        label=label,
        choices=field.choice_list(),
        method=_multi_filter(field),
        widget=forms.CheckboxSelectMultiple,
    )


def _yes_no_filter(field: CustomField):
    def method(queryset, name, value):
        if value not in ("yes", "no"):
            return queryset
        return _exact(queryset, field, value == "yes")

    return method


def add_filters(
    filterset: django_filters.FilterSet, target: str, fields: list[CustomField] | None = None
) -> list[CustomField]:
    """Add the target's filterable custom fields to a FilterSet (in its __init__, after
    super().__init__()), so the list, its saved views, exports and bulk actions filter alike.
    `fields`: the target's definitions if the caller has them already. Returns the fields
    added; their filter names are cf_<key>."""
    fields = [field for field in (definitions(target) if fields is None else fields) if field.filterable]
    for field in fields:
        filterset.filters[form_name(field)] = make_filter(field)
        filterset.filters[form_name(field)].model = filterset._meta.model
    filterset.custom_filter_names = [form_name(field) for field in fields]
    return fields


# --- imports and exports -----------------------------------------------------------------------


def import_columns(target: str, fields: list[CustomField] | None = None) -> list:
    """core.importing columns for the target's custom fields: aliases are the key and both
    labels; each cell is checked by parse_value()."""
    from core.importing import Column

    columns = []
    for field in definitions(target) if fields is None else fields:
        columns.append(
            Column(
                form_name(field),
                lazy(lambda field=field: field.label, str)(),
                tuple(alias for alias in (field.key, field.label_en, field.label_zh_hans) if alias),
                lambda raw, field=field: parse_value(field, raw),
                required=field.required,
                note=field.help,
                choices=[(value, value) for value, _label in field.choice_list()] or None,
            )
        )
    return columns


def export_columns(target: str, fields: list[CustomField] | None = None) -> list:
    """core.exports columns for the target's custom fields: the value as text in the user's
    language; sensitive ones masked unless the exporter's permission allows clear values."""
    from core.exports import Column

    columns = []
    for field in definitions(target) if fields is None else fields:
        columns.append(
            Column(
                header=lazy(lambda field=field: field.label, str)(),
                value=lambda obj, field=field: display(
                    field, from_storage(field, (obj.custom or {}).get(field.key))
                ),
                masker=(lambda value, field=field: mask(field, value)) if field.sensitive else None,
            )
        )
    return columns


# --- privacy -----------------------------------------------------------------------------------


def readable(target: str, stored: dict | None) -> str:
    """Stored custom values as one text in clear, "Label: value; …" (access requests; also
    for a history row's JSON)."""
    if not stored:
        return ""
    fields = definitions(target)
    holder = type("Values", (), {"custom": stored})()
    values = values_of(holder, fields)
    return "; ".join(
        f"{field.label}: {display(field, values[field.key])}" for field in fields if field.key in values
    )


# --- definitions: the admin's guard rails ------------------------------------------------------


def values_exist(field: CustomField, key: str | None = None) -> bool:
    """Whether any record of the field's target holds a value for it."""
    model = target_info(field.target).model
    return model._base_manager.filter(custom__has_key=key or field.key).exists()


def choice_in_use(field: CustomField, value: str) -> bool:
    model = target_info(field.target).model
    stored = [value] if field.kind == Kind.MULTI_CHOICE else value
    return _exact(model._base_manager.all(), field, stored).exists()


def remove_values(field: CustomField) -> int:
    """Drop the field's values from every record (the field is being deleted). Returns how
    many records held one. Not written to the change history: the field no longer exists."""
    model = target_info(field.target).model
    rows = model._base_manager.filter(custom__has_key=field.key).only("pk", "custom")
    changed = []
    for row in rows.iterator(chunk_size=1000):
        row.custom.pop(field.key, None)
        changed.append(row)
    model._base_manager.bulk_update(changed, ["custom"], batch_size=1000)
    return len(changed)
