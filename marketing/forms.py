from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from marketing.models import Campaign, MessageTemplate, Segment


class SegmentCreateForm(forms.Form):
    """ "Save as segment" on the ledger: the list's current filters under a name."""

    name = forms.CharField(label=_("Segment name"), max_length=100)
    query = forms.CharField(required=False, widget=forms.HiddenInput())
    kind = forms.ChoiceField(choices=Segment.Kind.choices, initial=Segment.Kind.DYNAMIC, required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError(_("Give the segment a name."))
        return name

    def clean_kind(self) -> str:
        return self.cleaned_data["kind"] or Segment.Kind.DYNAMIC


class SelectionForm(forms.Form):
    """A selection of the ledger (ids, or all that match the query) to add to a static list:
    an existing one of the user's, or a new one by name."""

    ids = forms.CharField(required=False, widget=forms.HiddenInput())
    select_all = forms.BooleanField(required=False, widget=forms.HiddenInput())
    query = forms.CharField(required=False, widget=forms.HiddenInput())
    segment = forms.ModelChoiceField(label=_("Static list"), queryset=Segment.objects.none(), required=False)
    new_name = forms.CharField(label=_("or a new list named"), max_length=100, required=False)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.filter(created_by=user, kind=Segment.Kind.STATIC)

    def clean_ids(self) -> list[int]:
        raw = self.cleaned_data["ids"]
        try:
            return [int(i) for i in raw.split(",") if i.strip()]
        except ValueError as exc:
            raise ValidationError(_("Invalid selection."), code="invalid_ids") from exc

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("ids") and not cleaned.get("select_all"):
            raise ValidationError(_("Select at least one customer."), code="empty_selection")
        if (
            cleaned.get("confirmed")
            and not cleaned.get("segment")
            and not cleaned.get("new_name", "").strip()
        ):
            self.add_error("segment", _("Choose a static list or name a new one."))
        return cleaned


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "channel", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}
        help_texts = {
            "body": _(
                "Placeholders: {{ name }}, {{ owner }}, {{ last_product }}, {{ tier }}. "
                "Emails get an unsubscribe link at the end."
            )
        }


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["name", "kind", "segment", "trigger", "template"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.visible_to(user)
        self.fields["template"].queryset = MessageTemplate.objects.all()
        self.fields["trigger"].choices = [c for c in Campaign.Trigger.choices if c[0]] + [("", "—")]
        self.fields["trigger"].required = False

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == Campaign.Kind.BROADCAST and not cleaned.get("segment"):
            self.add_error("segment", _("Choose the segment to send to."))
        if kind == Campaign.Kind.CARE and not cleaned.get("trigger"):
            self.add_error("trigger", _("Choose the event that triggers the message."))
        if kind == Campaign.Kind.BROADCAST:
            cleaned["trigger"] = ""
        return cleaned

    def _post_clean(self):
        # The service sets the creator and the channel, then validates the whole row.
        pass


class CampaignSendForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty to send now."),
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput())
