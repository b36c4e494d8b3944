from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from sales.churn import WEIGHT_FIELDS
from sales.models import (
    ChurnSettings,
    LeadAssignmentRule,
    Opportunity,
    OpportunityStageChange,
    Order,
    OrderLine,
    PipelineStage,
    Product,
    StaleOpportunityRule,
    TierSettings,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "sku", "category", "unit_price", "active")
    list_filter = ("active", "category")
    search_fields = ("name", "sku")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ("product",)

    def has_add_permission(self, request, obj=None):
        return False  # orders change through the app, so statistics stay right

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-only here: orders are recorded in the app so customer statistics follow."""

    list_display = ("number", "customer", "ordered_at", "status", "total", "owner")
    list_filter = ("status", "channel")
    list_select_related = ("customer", "owner")
    search_fields = ("number",)
    inlines = [OrderLineInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PipelineStage)
class PipelineStageAdmin(admin.ModelAdmin):
    list_display = ("name", "name_en", "kind", "order", "default_probability", "follow_up_days", "active")
    list_editable = ("order", "default_probability", "follow_up_days", "active")


@admin.register(Opportunity)
class OpportunityAdmin(admin.ModelAdmin):
    list_display = ("title", "customer", "stage", "amount", "probability", "expected_close_date", "owner")
    list_filter = ("stage", "currency")
    list_select_related = ("customer", "stage", "owner")
    search_fields = ("title",)
    raw_id_fields = ("customer",)
    readonly_fields = ("stage",)
    show_full_result_count = False


@admin.register(OpportunityStageChange)
class OpportunityStageChangeAdmin(admin.ModelAdmin):
    list_display = (
        "opportunity",
        "from_stage",
        "to_stage",
        "changed_by",
        "changed_at",
        "seconds_in_previous",
    )
    list_select_related = ("opportunity", "from_stage", "to_stage", "changed_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StaleOpportunityRule)
class StaleOpportunityRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "days", "due_in_days", "active")


@admin.register(LeadAssignmentRule)
class LeadAssignmentRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "order", "region", "source", "team", "last_assignee", "active")
    list_select_related = ("team", "last_assignee")


class ChurnSettingsForm(forms.ModelForm):
    class Meta:
        model = ChurnSettings
        fields = [
            "threshold",
            "churned_after_days",
            "win_back_task_due_days",
            *WEIGHT_FIELDS.values(),
            "default_gap_days",
            "interaction_gap_days",
        ]

    def clean(self):
        data = super().clean()
        if not any(data.get(field) for field in WEIGHT_FIELDS.values()):
            raise ValidationError(_("Give at least one signal a weight, or no customer is ever at risk."))
        return data


@admin.register(ChurnSettings)
class ChurnSettingsAdmin(admin.ModelAdmin):
    """The one row of churn warning settings; the nightly job reads it on every run."""

    form = ChurnSettingsForm
    list_display = ("__str__", "threshold", "churned_after_days", "win_back_task_due_days")
    fieldsets = (
        (None, {"fields": ("threshold", "churned_after_days", "win_back_task_due_days")}),
        (
            _("Weights (relative; the score is normalised to 0–100)"),
            {
                "fields": (
                    "weight_purchase_gap",
                    "weight_interaction_gap",
                    "weight_falling_values",
                    "weight_open_complaints",
                )
            },
        ),
        (_("Rhythm"), {"fields": ("default_gap_days", "interaction_gap_days")}),
    )

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ChurnSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class TierSettingsForm(forms.ModelForm):
    class Meta:
        model = TierSettings
        fields = [
            "window_days",
            "vip_min_rfm_sum",
            "active_min_recency",
            "dormant_max_recency",
            "abc_a_percent",
            "abc_b_percent",
        ]

    def clean(self):
        data = super().clean()
        if (data.get("abc_a_percent") or 0) + (data.get("abc_b_percent") or 0) > 100:
            raise ValidationError(_("The shares of A and B together cannot exceed 100 percent."))
        return data


@admin.register(TierSettings)
class TierSettingsAdmin(admin.ModelAdmin):
    """The one row of value tier settings; the nightly scoring reads it on every run."""

    form = TierSettingsForm
    list_display = ("__str__", "window_days", "vip_min_rfm_sum", "abc_a_percent", "abc_b_percent")

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not TierSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
