from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from core.personal_data import mask_email, mask_phone
from customers.models import (
    Contact,
    Customer,
    CustomerMerge,
    CustomerPool,
    CustomerPoolTeam,
    PoolEvent,
    PrivacyRequest,
    SavedView,
    Tag,
)
from customers.tasks import refresh_tag_names


class ContactInline(admin.TabularInline):
    model = Contact
    # Personal data is edited in the app, where every reveal is logged; never in clear here.
    fields = ("name", "title", "is_primary")
    extra = 0


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    list_display = (
        "name",
        "company",
        "masked_mobile",
        "lifecycle_stage",
        "value_tier",
        "owner",
        "team",
        "created_at",
    )
    list_filter = ("lifecycle_stage", "value_tier", "abc_class", "source", "team")
    list_select_related = ("owner", "team")
    search_fields = ("name", "company")
    show_full_result_count = False  # no COUNT(*) over a million rows on every page
    exclude = Customer.SENSITIVE_FIELDS
    readonly_fields = (
        "masked_mobile",
        "masked_email",
        "created_at",
        "created_by",
        "updated_at",
        "deleted_at",
        "merged_into",
    )
    raw_id_fields = ("owner",)
    filter_horizontal = ("tags",)
    inlines = [ContactInline]

    def get_queryset(self, request):
        return Customer.objects.all()

    @admin.display(description=_("mobile phone"))
    def masked_mobile(self, obj: Customer) -> str:
        return mask_phone(obj.mobile)

    @admin.display(description=_("email"))
    def masked_email(self, obj: Customer) -> str:
        return mask_email(obj.email)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "name" in form.changed_data:
            # The customers' tag text follows in the background (many customers may carry it).
            transaction.on_commit(lambda: refresh_tag_names.delay(obj.pk))


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "created_at")
    list_select_related = ("user",)


@admin.register(CustomerMerge)
class CustomerMergeAdmin(admin.ModelAdmin):
    list_display = ("merged_at", "survivor", "merged", "merged_by")
    list_select_related = ("survivor", "merged", "merged_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    """Access exports and erasures carried out (made on the customer's privacy page or by the
    retention job): a record for inquiries, read-only for everyone."""

    list_display = ("created_at", "kind", "customer_number", "requested_by", "reference", "executed_at")
    list_filter = ("kind",)
    list_select_related = ("requested_by",)
    search_fields = ("=customer_number", "reference")
    fields = (
        "kind",
        "customer_number",
        "requested_by",
        "reason",
        "reference",
        "created_at",
        "executed_at",
        "summary",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CustomerPoolTeamInline(admin.TabularInline):
    model = CustomerPoolTeam
    extra = 1


@admin.register(CustomerPool)
class CustomerPoolAdmin(admin.ModelAdmin):
    """Customer pools (公海) and their rules. A customer without an owner waits in the pool of
    its team, else in the company-wide default pool (which cannot be deleted)."""

    list_display = (
        "__str__",
        "is_default",
        "max_held",
        "max_claims_per_day",
        "reclaim_block_days",
        "return_without_interaction_days",
        "return_without_deal_days",
        "warn_days_before",
    )
    readonly_fields = ("is_default",)
    inlines = [CustomerPoolTeamInline]

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(PoolEvent)
class PoolEventAdmin(admin.ModelAdmin):
    """Claims, releases, automatic returns and assignments: written by the app, read-only."""

    list_display = ("at", "kind", "customer", "owner", "actor", "pool")
    list_filter = ("kind", "pool")
    list_select_related = ("customer", "owner", "actor", "pool")
    raw_id_fields = ("customer",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
