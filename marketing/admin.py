from django.contrib import admin

from marketing.models import Campaign, MessageTemplate, Segment


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "created_by", "created_at"]
    list_select_related = ["created_by"]
    list_filter = ["kind"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "created_by"]
    list_select_related = ["created_by"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "channel",
        "status",
        "total",
        "sent_count",
        "failed_count",
        "skipped_count",
    ]
    list_filter = ["kind", "status", "channel"]
    readonly_fields = ["total", "sent_count", "failed_count", "skipped_count", "started_at", "finished_at"]
