"""The public form of a web form: built from the admin's choice of fields, validated and
normalised like the customer form (phones and emails in their canonical form)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.personal_data import normalize_email, normalize_phone
from sales.models import WebForm

# The visitor's fields: label, maximum length, widget.
FIELD_SPECS = {
    "name": (_("Your name"), 200, forms.TextInput(attrs={"autocomplete": "name"})),
    WebForm.Field.COMPANY: (_("Company"), 200, forms.TextInput(attrs={"autocomplete": "organization"})),
    WebForm.Field.MOBILE: (
        _("Mobile phone"),
        30,
        forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    ),
    WebForm.Field.EMAIL: (_("Email"), 254, forms.EmailInput(attrs={"autocomplete": "email"})),
    WebForm.Field.WECHAT: (_("WeChat ID"), 100, forms.TextInput()),
    WebForm.Field.CITY: (_("City"), 50, forms.TextInput(attrs={"autocomplete": "address-level2"})),
    WebForm.Field.MESSAGE: (_("Message"), 2000, forms.Textarea(attrs={"rows": 4})),
}
# The honeypot: a field people never see (hidden by the served CSS) and bots fill in.
HONEYPOT_FIELD = "website"


class WebFormForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, webform: WebForm, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.webform = webform
        required = set(webform.required_fields)
        for key in ["name", *[f for f in WebForm.Field.values if f in webform.fields]]:
            label, max_length, widget = FIELD_SPECS[key]
            self.fields[key] = forms.CharField(
                label=label, max_length=max_length, required=key == "name" or key in required, widget=widget
            )
        consent_text = webform.in_language("consent_text", language)
        if consent_text:
            self.fields["consent"] = forms.BooleanField(
                label=consent_text,
                required=webform.consent_required,
                error_messages={"required": _("Please tick the box to agree.")},
            )
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            label=_("Leave this field empty"),
            required=False,
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )

    @property
    def visible_fields_for_visitor(self):
        return [self[name] for name in self.fields if name not in ("token", "consent", HONEYPOT_FIELD)]

    def clean_mobile(self):
        value = self.cleaned_data["mobile"].strip()
        return normalize_phone(value) if value else ""

    def clean_email(self):
        value = self.cleaned_data["email"].strip()
        if not value:
            return ""
        try:
            return normalize_email(value)
        except ValidationError as exc:
            raise ValidationError(_("Enter a valid email address."), code="invalid_email") from exc

    def clean(self):
        cleaned = super().clean()
        asks = set(self.webform.fields) & {WebForm.Field.MOBILE, WebForm.Field.EMAIL}
        given = [key for key in asks if cleaned.get(key)]
        if asks and not given and not any(key in self.errors for key in asks):
            raise ValidationError(
                _("Please give a mobile phone number or an email address."), code="no_contact"
            )
        return cleaned

    def customer_data(self) -> dict[str, str]:
        """The visitor's answers (cleaned), without the token, consent and honeypot."""
        return {
            key: value
            for key, value in self.cleaned_data.items()
            if key not in ("token", "consent", HONEYPOT_FIELD) and value
        }
