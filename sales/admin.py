from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log
from core.models import AuditLog
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
    WebForm,
    WebFormSubmission,
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


# --- web forms (线上表单) ------------------------------------------------------------------------


class WebFormAdminForm(forms.ModelForm):
    """The fields a form asks for, as checkboxes over the allow-list (stored as JSON lists)."""

    fields = forms.MultipleChoiceField(
        label=_("fields"),
        choices=WebForm.Field.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The name is always asked for. Ask for the mobile phone or the email, or both."),
    )
    required_fields = forms.MultipleChoiceField(
        label=_("required fields"),
        choices=WebForm.Field.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = WebForm
        fields = [
            "name",
            "active",
            "fields",
            "required_fields",
            "title_zh",
            "title_en",
            "intro_zh",
            "intro_en",
            "thanks_zh",
            "thanks_en",
            "consent_text_zh",
            "consent_text_en",
            "consent_required",
            "source",
            "team",
            "allowed_origins",
        ]


@admin.register(WebForm)
class WebFormAdmin(admin.ModelAdmin):
    form = WebFormAdminForm
    change_form_template = "admin/sales/webform/change_form.html"
    list_display = ("name", "active", "team", "source", "leads", "known", "spam", "created_at")
    list_filter = ("active",)
    list_select_related = ("team",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "active", "fields", "required_fields")}),
        (
            _("Texts"),
            {
                "fields": (
                    "title_zh",
                    "title_en",
                    "intro_zh",
                    "intro_en",
                    "thanks_zh",
                    "thanks_en",
                    "consent_text_zh",
                    "consent_text_en",
                    "consent_required",
                )
            },
        ),
        (_("New leads"), {"fields": ("source", "team")}),
        (_("Embedding"), {"fields": ("allowed_origins",)}),
    )

    def get_queryset(self, request):
        verdict = WebFormSubmission.Verdict
        return (
            super()
            .get_queryset(request)
            .annotate(
                lead_count=Count("submissions", filter=Q(submissions__verdict=verdict.CREATED)),
                known_count=Count("submissions", filter=Q(submissions__verdict=verdict.MATCHED)),
                spam_count=Count("submissions", filter=Q(submissions__verdict__in=WebFormSubmission.SPAM)),
            )
        )

    @admin.display(description=_("new prospects"), ordering="lead_count")
    def leads(self, obj: WebForm) -> int:
        return obj.lead_count

    @admin.display(description=_("matched customers"), ordering="known_count")
    def known(self, obj: WebForm) -> int:
        return obj.known_count

    @admin.display(description=_("spam"), ordering="spam_count")
    def spam(self, obj: WebForm) -> int:
        return obj.spam_count

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            url = request.build_absolute_uri(reverse("webforms:public", args=[obj.token]))
            context["public_url"] = url
            context["embed_snippet"] = (
                f'<iframe src="{url}" title="{obj.title_zh}" width="100%" height="720" loading="lazy"></iframe>'
            )
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    def delete_model(self, request, obj):
        _delete_webform(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _delete_webform(request, obj)


@transaction.atomic
def _delete_webform(request, webform: WebForm) -> None:
    """Deleting a form (after the admin's confirmation page) takes its submission log with it
    and is written to the audit log; the customers it brought in stay."""
    audit_log(
        actor=request.user,
        action=AuditLog.Action.DELETE,
        obj=webform,
        request=request,
        kind="web_form",
        submissions=webform.submissions.count(),
    )
    webform.delete()


@admin.register(WebFormSubmission)
class WebFormSubmissionAdmin(admin.ModelAdmin):
    """The submission log, read-only: written by the public form only."""

    list_display = ("created_at", "form", "verdict", "customer", "ip_hash", "user_agent")
    list_filter = ("verdict", "form")
    list_select_related = ("form", "customer")
    date_hierarchy = "created_at"
    fields = ("created_at", "form", "verdict", "customer", "ip_hash", "user_agent")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
