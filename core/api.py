"""The REST API's shared pieces (Django REST framework): token authentication, keyset
pagination, the filter backend, throttling, the base viewset and form-backed serializers.

Each domain app declares its own serializers and viewsets in `<app>/api.py`; `crm/api.py`
wires them under /api/v1/. core knows no domain app: everything here is generic.

Writes are validated by the *web page's form* (FormSerializer) and carried out by the same
services the pages call, so the API cannot accept what the pages refuse, and history,
statistics, audit entries and automation follow whichever door a change came in by.
"""

import datetime
import inspect
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, serializers, viewsets
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import exception_handler as drf_exception_handler

from core import custom_fields
from core.api_auth import ApiTokenScheme  # noqa: F401  (registers the OpenAPI security scheme)
from core.audit import audit_log
from core.models import AuditLog, CustomField, User
from core.pagination import SortOption, keyset_page

# --- errors and language -----------------------------------------------------------------------


def exception_handler(exc, context):
    """DRF's handler; Django's PermissionDenied/Http404 become 403/404 as on the pages, and a
    ValidationError raised by a service (django.core.exceptions) becomes a 400 like a form's."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    if isinstance(exc, DjangoValidationError):
        exc = serializers.ValidationError(django_errors(exc))
    return drf_exception_handler(exc, context)


def django_errors(exc) -> dict[str, list[str]]:
    """A django ValidationError as the API's error body: {field: [messages]}."""
    key = api_settings.NON_FIELD_ERRORS_KEY
    if hasattr(exc, "error_dict"):
        # message_dict: field → its messages (error_dict holds lists of ValidationErrors).
        return {(key if f == "__all__" else f): [str(m) for m in ms] for f, ms in exc.message_dict.items()}
    return {key: [str(m) for m in exc.messages]}


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    key = api_settings.NON_FIELD_ERRORS_KEY
    return {(key if f == "__all__" else f): [str(m) for m in errors] for f, errors in form.errors.items()}


# --- pagination --------------------------------------------------------------------------------


class KeysetPagination(BasePagination):
    """The lists' keyset pagination (core/pagination.py): `?cursor=` from `next`/`previous`,
    `?page_size=` up to API_MAX_PAGE_SIZE. The count is capped at LIST_COUNT_LIMIT like the
    pages' ("10,000+"): `count_capped` says so."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return settings.API_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if size < 1:
            raise serializers.ValidationError(
                {self.page_size_query_param: [_("Enter a whole number of at least 1.")]}
            )
        return min(size, settings.API_MAX_PAGE_SIZE)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        sort: SortOption = view.get_sort()
        self.page = keyset_page(
            queryset, sort, request.query_params.get(self.cursor_query_param), self.page_size(request)
        )
        return self.page.object_list

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.count,
                "count_capped": self.page.count_capped,
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.prev_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_capped", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "example": 123},
                "count_capped": {
                    "type": "boolean",
                    "description": "True when there are more than `count` (counting stops there).",
                },
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position in the list, from `next` or `previous`.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Items per page (default {settings.API_PAGE_SIZE}, at most {settings.API_MAX_PAGE_SIZE}).",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]


def first_url_without_cursor(request) -> str:
    return remove_query_param(request.build_absolute_uri(), KeysetPagination.cursor_query_param)


# --- filters -----------------------------------------------------------------------------------


class ScopedFilterBackend(DjangoFilterBackend):
    """The list page's FilterSet over the scoped queryset; FilterSets that take `user` (to
    narrow their choices the way the page does) get it. Invalid filters answer 400."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and "user" in inspect.signature(filterset_class.__init__).parameters:
            kwargs["user"] = request.user
        return kwargs


# --- viewsets ----------------------------------------------------------------------------------


class ScopedViewSet(viewsets.GenericViewSet):
    """Base of every API viewset.

    - `scoped_queryset(user)`: the records the user may see, from the model's `visible_to`
      (outside it: 404, as on the pages);
    - `action_permissions`: the Django permission each action needs (403 without it), the
      same as the page's decorator;
    - `check_change(obj)`: the page's read-write access helper (403 when the user may see but
      not change the record);
    - `sorts` / `default_sort`: the list's keyset sorts (`?sort=`).
    """

    lookup_value_converter = "signedint"  # registered in crm/api.py
    pagination_class = KeysetPagination
    filter_backends = [ScopedFilterBackend]
    action_permissions: dict[str, str] = {}
    sorts: dict[str, SortOption] = {}
    default_sort = ""

    def initial(self, request, *args, **kwargs):
        # Accept-Language wins when sent; otherwise the user's saved language (after auth).
        has_header = "HTTP_ACCEPT_LANGUAGE" in request.META
        if has_header:
            translation.activate(translation.get_language_from_request(request._request))
        super().initial(request, *args, **kwargs)
        language = getattr(request.user, "language", "")
        if not has_header and language:
            translation.activate(language)
        request._request.LANGUAGE_CODE = translation.get_language()

    def check_permissions(self, request):
        super().check_permissions(request)
        perm = self.action_permissions.get(self.action)
        if perm and not request.user.has_perm(perm):
            self.permission_denied(request, message=_("You may not do this."))

    def scoped_queryset(self, user):
        raise NotImplementedError

    def get_queryset(self):
        return self.scoped_queryset(self.request.user)

    def get_sort(self) -> SortOption:
        key = self.request.query_params.get("sort") or self.default_sort
        if key not in self.sorts:
            raise serializers.ValidationError(
                {"sort": [_("Unknown sort. Use one of: %(keys)s.") % {"keys": ", ".join(self.sorts)}]}
            )
        return self.sorts[key]

    def check_change(self, obj) -> None:
        """Raise PermissionDenied unless the user may change `obj` (override per entity)."""

    def get_rw_object(self):
        obj = self.get_object()
        self.check_change(obj)
        return obj

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        serializer = self.get_serializer(page, many=True)
        self.after_read(page)
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        data = self.get_serializer(obj).data
        self.after_read([obj])
        return Response(data)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = serializer.save()
        return Response(self.get_serializer(self.reload(obj)).data, status=201)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        obj = self.get_rw_object()
        serializer = self.get_serializer(obj, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        obj = serializer.save()
        return Response(self.get_serializer(self.reload(obj)).data)

    def partial_update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def reload(self, obj):
        """The saved record as a list row would show it (joins included)."""
        return self.get_queryset().get(pk=obj.pk)

    def after_read(self, objects: list) -> None:
        """Hook: audit reads that returned personal data in clear."""

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}


def audit_clear_read(request, objects: list, *, object_type: str, fields: tuple[str, ...]) -> None:
    """One audit entry per API response that carried personal data in clear (like an export)."""
    if not objects:
        return
    audit_log(
        actor=request.user,
        action=AuditLog.Action.API_READ,
        obj=objects[0] if len(objects) == 1 else None,
        request=request._request,
        object_type=object_type,
        ids=[o.pk for o in objects],
        fields=list(fields),
        path=request.path,
    )


# --- serializers -------------------------------------------------------------------------------


def _times_in_utc(form) -> None:
    """JSON may carry any UTC offset (+20:20 parses); PostgreSQL takes ±15 h at most. The
    instant is what counts: store it as UTC, or refuse a time that has no UTC equivalent."""
    errors = {}
    for name, value in form.cleaned_data.items():
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            try:
                form.cleaned_data[name] = value.astimezone(datetime.UTC)
            except OverflowError:
                errors[name] = [_("Enter a valid date/time.")]
            instance = getattr(form, "instance", None)
            if instance is not None and getattr(instance, name, None) == value:
                setattr(instance, name, form.cleaned_data[name])
    if errors:
        raise serializers.ValidationError(errors)


class UTCDateTimeField(serializers.DateTimeField):
    """Times out of the API in UTC ("…Z"): the same instant whatever the server's zone, and
    valid RFC 3339 even for odd old dates (Asia/Shanghai's local mean time before 1901 has
    an offset in seconds)."""

    def default_timezone(self):
        return datetime.UTC


CUSTOM_HELP = (
    "The admin-defined custom fields {key: value}: text, numbers, ISO dates, true/false, a choice's "
    "value or a list of them. Sensitive ones come masked unless you may reveal personal data. "
    "On update, keys you leave out keep their values; null empties one."
)


class FormSerializer(serializers.ModelSerializer):
    """A serializer whose input is validated by the web page's form.

    The declared fields describe the API (and its OpenAPI schema); `to_internal_value` binds
    `make_form()` with the request's JSON: on POST over the form's initial values (what the
    page shows pre-filled), on PATCH over the record's current values, on PUT alone. Field
    errors come back under the field's name, the rest under `non_field_errors`, translated.
    `save()` calls `create_with_form` / `update_with_form`, which call the services.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
    }

    # "customer" / "contact" / "opportunity": the record has admin-defined custom fields
    # (core.custom_fields), read and written as one `custom` object {key: value}.
    custom_target: str | None = None

    def make_form(self, data: dict | None, instance) -> forms.BaseForm:
        raise NotImplementedError

    def _custom_definitions(self) -> list:
        # One query per request, however many records a list returns (the context is the
        # list's, shared by every row).
        cache = self.context.setdefault("custom_definitions", {})
        if self.custom_target not in cache:
            cache[self.custom_target] = custom_fields.definitions(self.custom_target)
        return cache[self.custom_target]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.custom_target:
            data["custom"] = custom_fields.custom_values_for(
                instance, self.user, fields=self._custom_definitions()
            )
        return data

    def _custom_form_data(self, data: Mapping) -> dict:
        """The `custom` object as the form's cf_<key> fields."""
        custom = data.get("custom")
        if not self.custom_target or custom is None:
            return {}
        if not isinstance(custom, Mapping):
            raise serializers.ValidationError({"custom": [_("Send the custom fields as a JSON object.")]})
        known = {field.key for field in self._custom_definitions()}
        unknown = sorted(str(key) for key in custom if key not in known)
        if unknown:
            raise serializers.ValidationError(
                {"custom": [_("Unknown custom fields: %(keys)s.") % {"keys": ", ".join(unknown)}]}
            )
        kinds = {field.key: field.kind for field in self._custom_definitions()}
        return {
            f"{custom_fields.FORM_PREFIX}{key}": (
                # A yes/no field's form takes "true"/"false"; JSON sends true/false.
                ("true" if value else "false")
                if isinstance(value, bool) and kinds[key] == CustomField.Kind.YES_NO
                else value
            )
            for key, value in custom.items()
        }

    def get_validators(self):
        # The model's unique constraints are the form's (and the model's) to check: DRF's own
        # validators for them would ask for fields the form does not take (e.g. customer).
        return []

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [_("Send the fields as a JSON object.")]}
            )
        unbound = self.make_form(None, self.instance)
        base: dict[str, Any] = {}
        if self.instance is None or self.partial:
            for name in unbound.fields:
                value = unbound[name].value()
                if value is not None:
                    base[name] = value
        custom = self._custom_form_data(data)
        form_data = {**base, **{k: v for k, v in data.items() if k in unbound.fields}, **custom}
        form = self.make_form(form_data, self.instance)
        if not form.is_valid():
            errors = form_errors(form)
            # A custom field's errors under custom.<key>, as it was sent.
            nested = {
                name[len(custom_fields.FORM_PREFIX) :]: errors.pop(name)
                for name in list(errors)
                if name.startswith(custom_fields.FORM_PREFIX)
            }
            if nested:
                errors["custom"] = nested
            raise serializers.ValidationError(errors)
        _times_in_utc(form)
        self.form = form
        return dict(form.cleaned_data)

    def create(self, validated_data):
        return self.create_with_form(self.form)

    def update(self, instance, validated_data):
        return self.update_with_form(instance, self.form)

    def create_with_form(self, form):
        raise exceptions.MethodNotAllowed("POST")

    def update_with_form(self, instance, form):
        raise exceptions.MethodNotAllowed("PUT")

    @property
    def user(self) -> User:
        return self.context["user"]


def masked_field(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(
        allow_blank=True,
        required=False,
        help_text=help_text
        or str(gettext_lazy("Personal data: in clear for users who may reveal it (audited), else masked.")),
    )


# --- schema --------------------------------------------------------------------------------------

ERROR_RESPONSES = {
    "400": "Invalid input: {field: [messages]}, or non_field_errors, in the request's language.",
    "401": "No token, or an invalid, expired or revoked one.",
    "403": "The record is visible, but you may not do this (the web page's rule).",
    "404": "No such record in your scope (as on the web pages).",
    "429": "Too many requests: wait as long as the Retry-After header says.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: document the error answers every operation may
    give (DRF's views raise them; the generator lists successes only)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "description": "`detail` for 401/403/404/429; field names (or `non_field_errors`) with lists of messages for 400.",
        "additionalProperties": True,
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for code, text in ERROR_RESPONSES.items():
                responses.setdefault(
                    code,
                    {
                        "description": text,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
