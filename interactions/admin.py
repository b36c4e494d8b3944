from django.contrib import admin

from interactions.models import Article, Interaction, Task, Ticket, TicketComment, TicketStatusChange


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
