import re

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import custom_fields
from core.audit import audit_log
from core.models import (
    ApiToken,
    AuditLog,
    CustomField,
    JobRun,
    Notification,
    Role,
    Team,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + ((_("CRM"), {"fields": ("team", "language")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (
        (_("CRM"), {"fields": ("first_name", "last_name", "email", "team", "groups")}),
    )
    list_display = ("username", "get_full_name", "email", "team", "is_active", "is_staff", "two_factor")
    list_filter = ("team", "groups", "is_active", "is_staff")
    list_select_related = ("team",)
    actions = ["reset_two_factor"]

    def get_queryset(self, request):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(_two_factor=Exists(enrolled))

    @admin.display(description=_("two-factor"), boolean=True, ordering="_two_factor")
    def two_factor(self, obj: User) -> bool:
        return obj._two_factor

    @admin.action(description=_("Reset two-factor authentication (lost phone)"), permissions=["change"])
    def reset_two_factor(self, request, queryset):
        """The users sign in with their password alone and set up their app again (at once
        when their role requires it). Audited per user."""
        from core.twofactor import two_factor_reset

        count = sum(two_factor_reset(user=user, by=request.user, request=request) for user in queryset)
        self.message_user(
            request,
            ngettext(
                "Two-factor authentication reset for %(count)d user.",
                "Two-factor authentication reset for %(count)d users.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("managers",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("members"))

    @admin.display(description=_("members"), ordering="_member_count")
    def member_count(self, obj: Team) -> int:
        return obj._member_count


admin.site.unregister(Group)

# django-otp's device admins show each user's TOTP secret and QR code: with them an admin
# could copy anyone's second factor. Admins reset a user's second factor with the action
# above (audited) instead.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


@admin.register(Group)
class RoleGroupAdmin(BaseGroupAdmin):
    """Groups are the roles; show each role's translated name next to its stable key."""

    list_display = ("name", "role_label")

    @admin.display(description=_("role"))
    def role_label(self, obj: Group) -> str:
        return str(dict(Role.choices).get(obj.name, "—"))


admin.site.site_header = _("CRM administration")
admin.site.site_title = _("CRM administration")
admin.site.index_title = _("Users, teams and roles")


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Browsing the audit log: search by record, person or IP address, filter by action,
    person, record type and date. Read-only: nobody adds, edits or deletes audit entries,
    superusers included (only the retention job deletes, core.audit.audit_log_purge)."""

    list_display = ("at", "actor", "action", "object_type", "object_repr", "field", "ip_address")
    list_filter = ("action", "actor", "object_type", "at")
    search_fields = ("object_repr", "object_id", "actor__username", "ip_address")
    search_help_text = _("Search by record, record ID, username or IP address.")
    list_select_related = ("actor",)
    date_hierarchy = "at"
    # The table grows with every login and reveal: no exact count of all rows on each page.
    show_full_result_count = False
    fields = (
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "field",
        "ip_address",
        "details",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """For looking into what was sent to whom. Notifications are created by the apps (through
    core.notifications.notify), never by hand; admins may delete them."""

    list_display = ("created_at", "recipient", "kind", "title", "read_at")
    list_filter = (("read_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("title", "recipient__username")
    list_select_related = ("recipient",)
    # The table grows with every job run: no exact count of all rows on each page.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Scheduled job runs, read-only."""

    list_display = ("name", "started_at", "finished_at", "status", "counts")
    list_filter = ("name", "status")
    date_hierarchy = "started_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CustomFieldForm(forms.ModelForm):
    """The guard rails of a custom field: a stable key, no change of kind or of the sensitive
    flag once records hold values (they would no longer read back), no choice removed while
    records use it."""

    class Meta:
        model = CustomField
        fields = [
            "target",
            "key",
            "kind",
            "choices",
            "label_en",
            "label_zh_hans",
            "help_text_en",
            "help_text_zh_hans",
            "required",
            "order",
            "show_in_list",
            "filterable",
            "sensitive",
        ]
        widgets = {"choices": forms.Textarea(attrs={"rows": 6})}

    def clean_key(self):
        key = self.cleaned_data["key"]
        if self.instance.pk:
            return self.instance.key  # read-only once created
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise ValidationError(
                _("Use lower-case letters, digits and underscores, starting with a letter."),
                code="invalid_key",
            )
        return key

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if not (cleaned.get("label_en") or cleaned.get("label_zh_hans")):
            self.add_error("label_en", ValidationError(_("Give the field a label."), code="required"))
        if kind in CustomField.CHOICE_KINDS:
            probe = CustomField(choices=cleaned.get("choices", ""))
            if not probe.choice_list():
                self.add_error("choices", ValidationError(_("List at least one choice."), code="required"))
        elif cleaned.get("choices", "").strip():
            cleaned["choices"] = ""
        if cleaned.get("sensitive") and kind not in CustomField.SENSITIVE_KINDS:
            self.add_error(
                "sensitive",
                ValidationError(
                    _("Only text, number, decimal and date fields can be sensitive."), code="sensitive_kind"
                ),
            )
        old = self.instance
        if old.pk and not self.errors:
            changed_storage = kind != old.kind or cleaned.get("sensitive") != old.sensitive
            if changed_storage and custom_fields.values_exist(old):
                raise ValidationError(
                    _(
                        "Records already hold values of this field, so its kind and whether it is "
                        "sensitive cannot change. Add a new field instead."
                    ),
                    code="values_exist",
                )
            if kind in CustomField.CHOICE_KINDS and old.kind == kind:
                kept = {
                    value for value, _label in CustomField(choices=cleaned.get("choices", "")).choice_list()
                }
                for value, _label in old.choice_list():
                    if value not in kept and custom_fields.choice_in_use(old, value):
                        self.add_error(
                            "choices",
                            ValidationError(
                                _("The choice “%(value)s” is in use and cannot be removed.")
                                % {"value": value},
                                code="choice_in_use",
                            ),
                        )
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldForm
    list_display = (
        "label_en",
        "label_zh_hans",
        "target",
        "key",
        "kind",
        "required",
        "order",
        "show_in_list",
        "filterable",
        "sensitive",
    )
    list_filter = ("target", "kind", "sensitive")
    list_editable = ("order",)
    ordering = ("target", "order", "id")
    search_fields = ("key", "label_en", "label_zh_hans")
    fieldsets = (
        (None, {"fields": ("target", "key", "kind", "choices")}),
        (_("Labels"), {"fields": ("label_en", "label_zh_hans", "help_text_en", "help_text_zh_hans")}),
        (_("Behaviour"), {"fields": ("required", "order", "show_in_list", "filterable", "sensitive")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # The key and the record type are part of every stored value: fixed once created.
        return ("target", "key") if obj is not None else ()

    def delete_model(self, request, obj):
        _delete_custom_field(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _delete_custom_field(request, obj)


@transaction.atomic
def _delete_custom_field(request, field: CustomField) -> None:
    """Deleting a field (after the admin's confirmation page) drops its values from every
    record and is written to the audit log."""
    removed = custom_fields.remove_values(field)
    audit_log(
        actor=request.user,
        action=AuditLog.Action.DELETE,
        obj=field,
        request=request,
        kind="custom_field",
        target=field.target,
        key=field.key,
        records=removed,
    )
    field.delete()


# --- REST API tokens and webhooks ----------------------------------------------------------------


def _secret_once(request, *, title: str, intro: str, secret: str, back_url: str) -> TemplateResponse:
    ctx = {
        **admin.site.each_context(request),
        "title": title,
        "intro": intro,
        "secret": secret,
        "back_url": back_url,
    }
    response = TemplateResponse(request, "admin/core/secret_once.html", ctx)
    response["Cache-Control"] = "no-store"
    return response


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Admins make tokens for others (shown once, in the message after saving) and revoke them."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("user",)
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ["user", "name", "expires_at"] if obj is None else list(self.readonly_fields)

    def save_model(self, request, obj, form, change):
        if change:
            return
        from core.api_auth import api_token_create

        token, raw = api_token_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            actor=request.user,
            request=request,
        )
        obj.pk = token.pk
        obj.user = token.user
        request._secret_once = raw

    def response_add(self, request, obj, post_url_continue=None):
        # Shown on this answer only: not through messages, which may travel in a cookie.
        return _secret_once(
            request,
            title=_("New API token"),
            intro=_("Token for %(user)s:") % {"user": obj.user},
            secret=request._secret_once,
            back_url=reverse("admin:core_apitoken_changelist"),
        )

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["view"])
    def revoke(self, request, queryset):
        from core.api_auth import api_token_revoke

        for token in queryset:
            api_token_revoke(token=token, actor=request.user, request=request)
        messages.success(request, _("Tokens revoked."))


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookEndpoint.Event.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]

    def clean_url(self):
        from core.webhooks import check_url

        url = self.cleaned_data["url"]
        check_url(url)
        return url


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("at", "status_code", "duration_ms", "response_excerpt", "error", "next_retry_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "events", "active", "created_at")
    list_filter = ("active",)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        from core.webhooks import webhook_endpoint_create

        endpoint, secret = webhook_endpoint_create(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
            user=request.user,
        )
        if not form.cleaned_data["active"]:
            endpoint.active = False
            endpoint.save(update_fields=["active"])
        obj.pk = endpoint.pk
        request._secret_once = secret

    def response_add(self, request, obj, post_url_continue=None):
        return _secret_once(
            request,
            title=_("Webhook registered"),
            intro=_("Signing secret of %(url)s (verify each delivery's X-CRM-Signature with it):")
            % {"url": obj.url},
            secret=request._secret_once,
            back_url=reverse("admin:core_webhookendpoint_changelist"),
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log (every attempt inline) and a manual re-send."""

    list_display = ("event", "endpoint", "status", "attempts", "created_at", "delivered_at", "next_retry_at")
    list_select_related = ("endpoint",)
    list_filter = ("status", "event")
    readonly_fields = (
        "endpoint",
        "event",
        "body",
        "status",
        "attempts",
        "created_at",
        "delivered_at",
        "next_retry_at",
    )
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send the selected deliveries again"), permissions=["view"])
    def resend(self, request, queryset):
        from core.webhooks import webhook_resend

        for delivery in queryset.select_related("endpoint"):
            webhook_resend(delivery=delivery, user=request.user, request=request)
        messages.success(request, _("Queued again."))
