from django.contrib import admin

from sales.models import (
    LeadAssignmentRule,
    Opportunity,
    OpportunityStageChange,
    Order,
    OrderLine,
    PipelineStage,
    Product,
    StaleOpportunityRule,
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
