"""REST API for customers and contacts (wired under /api/v1/ by crm/api.py).

Same scope (Customer.objects.visible_to), permissions (the pages' decorators and access
helpers), validation (CustomerForm, ContactForm) and services as the web pages. Personal data
is in clear for users with customers.view_sensitive, each such response audited like an
export; masked for everyone else.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.db.models.functions import Upper
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from core.api import CUSTOM_HELP, FormSerializer, ScopedViewSet, audit_clear_read
from core.audit import audit_log
from core.models import AuditLog, User
from core.pagination import SortOption
from core.personal_data import mask_email, mask_phone, mask_text
from customers import services
from customers.filters import CustomerFilter
from customers.forms import ContactForm, CustomerForm
from customers.models import Contact, Customer, Tag

MASKERS = {
    "mobile": mask_phone,
    "other_phone": mask_phone,
    "phone": mask_phone,
    "email": mask_email,
    "wechat": mask_text,
    "street": mask_text,
}
SENSITIVE_HELP = "Personal data: in clear for users who may reveal it (each response audited), else masked."


def visible_customer_or_404(user, data) -> Customer:
    """The `customer` named in a new record's JSON: one the user may see (else 404, as on the
    pages, which look it up before showing the form)."""
    customer_id = data.get("customer") if isinstance(data, dict) else None
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise serializers.ValidationError({"customer": [_("Choose a customer.")]})
    return get_object_or_404(Customer.objects.visible_to(user), pk=customer_id)


def may_see_clear(user) -> bool:
    return user.has_perm("customers.view_sensitive")


class MaskingMixin:
    """Masks `sensitive_fields` in the output unless the user may reveal them."""

    sensitive_fields: tuple[str, ...] = ()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_see_clear(self.context["user"]):
            for field in self.sensitive_fields:
                if field in data:
                    data[field] = MASKERS[field](getattr(instance, field) or "")
        return data


# --- customers ---------------------------------------------------------------------------------


class CustomerSerializer(MaskingMixin, FormSerializer):
    custom_target = "customer"
    custom = serializers.JSONField(required=False, help_text=CUSTOM_HELP)
    sensitive_fields = Customer.SENSITIVE_FIELDS

    mobile = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    other_phone = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    email = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    wechat = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    street = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=Tag.objects.all(), required=False)
    owner = serializers.PrimaryKeyRelatedField(
        required=False,
        allow_null=True,
        queryset=User.objects.all(),
        help_text="Only for users who may change owners (managers, admins); others own what they create.",
    )
    owner_name = serializers.SerializerMethodField()
    confirm_duplicate = serializers.BooleanField(
        write_only=True, required=False, help_text="Save although a similar customer is on record."
    )
    duplicate_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Why a customer with the same phone or email is created again (needs the override permission; audited).",
    )

    class Meta:
        model = Customer
        fields = [
            "id",
            "kind",
            "name",
            "gender",
            "birthday",
            "company",
            "title",
            "industry",
            "mobile",
            "other_phone",
            "email",
            "wechat",
            "province",
            "city",
            "district",
            "street",
            "region",
            "source",
            "lifecycle_stage",
            "lifecycle_stage_manual",
            "value_tier",
            "value_tier_manual",
            "abc_class",
            "abc_class_manual",
            "preferences",
            "notes",
            "marketing_consent",
            "marketing_consent_channel",
            "marketing_consent_at",
            "care_opt_out",
            "owner",
            "owner_name",
            "team",
            "tags",
            "rfm_score",
            "churn_risk_score",
            "first_purchase_at",
            "last_purchase_at",
            "order_count",
            "total_spend",
            "info_verified_at",
            "last_contacted_at",
            "created_at",
            "updated_at",
            "custom",
            "confirm_duplicate",
            "duplicate_reason",
        ]
        read_only_fields = [
            "marketing_consent_at",
            "rfm_score",
            "churn_risk_score",
            "first_purchase_at",
            "last_purchase_at",
            "order_count",
            "total_spend",
            "info_verified_at",
            "last_contacted_at",
            "created_at",
            "updated_at",
        ]

    def get_owner_name(self, customer: Customer) -> str:
        return str(customer.owner) if customer.owner_id else ""

    def make_form(self, data, instance):
        return CustomerForm(data, instance=instance, user=self.user)

    def create_with_form(self, form):
        data = form.service_data()
        if "owner" not in data:
            data["owner"] = self.user
        customer = services.customer_create(user=self.user, data=data, tags=form.cleaned_data["tags"])
        if form.override_reason:
            audit_log(
                actor=self.user,
                action=AuditLog.Action.DUPLICATE_OVERRIDE,
                obj=customer,
                request=self.context["request"]._request,
                reason=form.override_reason,
                matches=[d.pk for d in form.hard_duplicates],
            )
        return customer

    def update_with_form(self, instance, form):
        return services.customer_update(
            customer=instance,
            user=self.user,
            data=form.service_data(),
            tags=form.cleaned_data["tags"],
            request=self.context["request"]._request,
        )


def _customer_queryset(user):
    return (
        Customer.objects.visible_to(user)
        .annotate(name_upper=Upper("name"))
        .select_related("owner")
        .defer("search_text", "search_grams")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.only("id")))
    )


@extend_schema_view(
    list=extend_schema(summary="List customers (the ledger's filters)"),
    retrieve=extend_schema(summary="Get a customer"),
    create=extend_schema(summary="Create a customer"),
    update=extend_schema(summary="Replace a customer's basic information"),
    partial_update=extend_schema(summary="Change some of a customer's fields"),
    destroy=extend_schema(summary="Move a customer to the recycle bin", responses={204: None}),
)
class CustomerViewSet(ScopedViewSet):
    """Customers (客户) the user may see: reps their own, managers their teams', customer
    service and admins everyone; in the recycle bin: not listed."""

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilter
    action_permissions = {
        "create": "customers.add_customer",
        "update": "customers.change_customer",
        "partial_update": "customers.change_customer",
        "destroy": "customers.delete_customer",
    }

    @property
    def sorts(self):
        from customers.views import SORTS

        return SORTS

    default_sort = "-created"

    def scoped_queryset(self, user):
        return _customer_queryset(user)

    def check_change(self, customer):
        # An anonymised placeholder is never edited (customers.views._get_rw_customer_for_user).
        if customer.is_anonymised and self.action != "destroy":
            raise PermissionDenied

    def after_read(self, objects):
        if may_see_clear(self.request.user):
            audit_clear_read(
                self.request, objects, object_type="customers.customer", fields=Customer.SENSITIVE_FIELDS
            )

    def destroy(self, request, *args, **kwargs):
        customer = self.get_rw_object()
        services.customer_delete(customer=customer, user=request.user, request=request._request)
        return Response(status=204)


# --- contacts ----------------------------------------------------------------------------------


class ContactSerializer(MaskingMixin, FormSerializer):
    custom_target = "contact"
    custom = serializers.JSONField(required=False, help_text=CUSTOM_HELP)
    sensitive_fields = Contact.SENSITIVE_FIELDS
    phone = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    email = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    wechat = serializers.CharField(required=False, allow_blank=True, help_text=SENSITIVE_HELP)
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="The customer; cannot change after creation."
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "customer",
            "name",
            "title",
            "phone",
            "email",
            "wechat",
            "is_primary",
            "custom",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def make_form(self, data, instance):
        return ContactForm(data, instance=instance or Contact(customer=self.customer))

    def to_internal_value(self, data):
        if self.instance is None:
            # The customer must be one the user may change (customers.views.contact_create).
            self.customer = visible_customer_or_404(self.user, data)
            if self.customer.is_anonymised:
                raise PermissionDenied
        return super().to_internal_value(data)

    def create_with_form(self, form):
        return services.contact_save(contact=form.save(commit=False), user=self.user)

    def update_with_form(self, instance, form):
        return services.contact_save(contact=form.save(commit=False), user=self.user)


@extend_schema_view(
    list=extend_schema(summary="List contacts (filter with ?customer=)"),
    retrieve=extend_schema(summary="Get a contact"),
    create=extend_schema(summary="Add a contact to a customer"),
    update=extend_schema(summary="Replace a contact"),
    partial_update=extend_schema(summary="Change some of a contact's fields"),
    destroy=extend_schema(summary="Delete a contact", responses={204: None}),
)
class ContactViewSet(ScopedViewSet):
    """Contacts (联系人) of the customers the user may see; changing them needs the right to
    change the customer's basic information."""

    serializer_class = ContactSerializer
    filterset_fields = ["customer"]
    action_permissions = {
        "create": "customers.change_customer",
        "update": "customers.change_customer",
        "partial_update": "customers.change_customer",
        "destroy": "customers.change_customer",
    }
    sorts = {"id": SortOption("id", descending=False)}
    default_sort = "id"

    def scoped_queryset(self, user):
        return Contact.objects.filter(
            customer__in=Customer.objects.visible_to(user).values("pk")
        ).select_related("customer")

    def check_change(self, contact):
        if contact.customer.is_anonymised:
            raise PermissionDenied

    def after_read(self, objects):
        if may_see_clear(self.request.user):
            audit_clear_read(
                self.request, objects, object_type="customers.contact", fields=Contact.SENSITIVE_FIELDS
            )

    def destroy(self, request, *args, **kwargs):
        contact = self.get_rw_object()
        services.contact_delete(contact=contact, user=request.user)
        return Response(status=204)


# --- webhooks ----------------------------------------------------------------------------------


def webhook_payload(serializer_class, obj) -> dict:
    """The API's representation of `obj` as someone without customers.view_sensitive sees it:
    webhooks carry personal data masked (a receiver fetches it with its token if it needs it)."""
    from django.contrib.auth.models import AnonymousUser

    return serializer_class(obj, context={"user": AnonymousUser(), "request": None}).data


def customer_webhook(event: str):
    def handler(sender, customer, user=None, **kwargs) -> None:
        from core.webhooks import webhook_emit

        webhook_emit(
            event=event, object_id=customer.pk, payload=webhook_payload(CustomerSerializer, customer)
        )

    return handler


on_customer_created = customer_webhook("customer.created")
on_customer_updated = customer_webhook("customer.updated")


def on_customers_updated(sender, customer_ids, user=None, **kwargs) -> None:
    """customer.updated for each customer of a bulk change; the payload is read only when an
    endpoint listens (core.webhooks caches the subscriptions)."""
    from core.webhooks import webhook_emit

    def payload_of(pk):
        return lambda: webhook_payload(CustomerSerializer, _customer_queryset_for_payload().get(pk=pk))

    for pk in customer_ids:
        webhook_emit(event="customer.updated", object_id=pk, payload_builder=payload_of(pk))


def _customer_queryset_for_payload():
    return Customer.objects.select_related("owner").prefetch_related("tags")
