from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.audit import audit_log
from core.models import AuditLog
from interactions.models import (
    Article,
    FollowUpEvent,
    FollowUpRule,
    Interaction,
    Task,
    Ticket,
    TicketComment,
    TicketStatusChange,
)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "customer", "kind", "channel", "direction", "summary", "created_by")
    list_filter = ("kind", "channel", "direction")
    list_select_related = ("customer", "created_by")
    search_fields = ("summary",)
    raw_id_fields = ("customer", "contact")
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "customer", "assignee", "due_at", "priority", "status", "origin", "rule")
    list_filter = ("status", "priority", "origin")
    list_select_related = ("customer", "assignee")
    search_fields = ("title", "rule")
    raw_id_fields = ("customer",)
    show_full_result_count = False


class TicketCommentInline(admin.TabularInline):
    model = TicketComment
    extra = 0
    fields = ("author", "internal", "body", "created_at")
    readonly_fields = ("created_at",)


class TicketStatusChangeInline(admin.TabularInline):
    model = TicketStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "changed_by", "changed_at", "note")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "subject", "customer", "category", "priority", "status", "assignee", "sla_due_at")
    list_filter = ("status", "category", "priority")
    list_select_related = ("customer", "assignee")
    search_fields = ("subject",)
    raw_id_fields = ("customer", "contact")
    readonly_fields = ("status", "sla_due_at", "created_at", "resolved_at", "closed_at")
    inlines = [TicketCommentInline, TicketStatusChangeInline]
    show_full_result_count = False


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "category", "created_by", "updated_at")
    list_filter = ("category",)
    list_select_related = ("created_by",)
    search_fields = ("title", "body")


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    """ "No follow-up in N days" rules (跟进超时). When several active rules match a customer,
    the most specific one applies (most criteria set; then the shortest reminder period)."""

    list_display = (
        "name",
        "active",
        "value_tier",
        "lifecycle_stage",
        "team",
        "remind_after_days",
        "escalate_after_days",
        "return_to_pool",
    )
    list_filter = ("active", "value_tier", "lifecycle_stage", "team", "return_to_pool")
    list_select_related = ("team",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "active")}),
        (_("Applies to (empty: all)"), {"fields": ("value_tier", "lifecycle_stage", "team")}),
        (_("Escalation"), {"fields": ("remind_after_days", "escalate_after_days", "return_to_pool")}),
    )

    def delete_model(self, request, obj):
        audit_log(actor=request.user, action=AuditLog.Action.DELETE, obj=obj, request=request)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            audit_log(actor=request.user, action=AuditLog.Action.DELETE, obj=rule, request=request)
        super().delete_queryset(request, queryset)


@admin.register(FollowUpEvent)
class FollowUpEventAdmin(admin.ModelAdmin):
    """Reminders and escalations: written by the nightly job, read-only."""

    list_display = ("at", "kind", "customer", "owner", "rule", "days", "returned_to_pool")
    list_filter = ("kind", "returned_to_pool", "rule")
    list_select_related = ("customer", "owner", "rule")
    raw_id_fields = ("customer",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
