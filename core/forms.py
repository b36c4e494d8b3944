from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from core.models import ImportJob, User


class FiniteDecimalField(forms.DecimalField):
    """A DecimalField that refuses "NaN", "sNaN" and "Infinity" as soon as it reads them.

    Django's DecimalField reads them as Decimals and refuses them only in validate(); but a
    formset first asks each extra form whether it changed (has_changed), which compares the
    typed value with the initial one, and comparing a signalling NaN raises InvalidOperation:
    "sNaN" typed in an order line was a server error (found by tests/test_form_properties.py).
    A ValidationError here is what has_changed expects from unreadable input."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is not None and not value.is_finite():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return value


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Wrong username or password. Both are case-sensitive."),
        "inactive": _("This account is disabled. Ask an administrator."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # AuthenticationForm sets max_length after the field is built, so nothing enforces
        # it: a longer name reached authenticate() and django-axes' 255-character column (a
        # server error found by tests/test_form_properties.py).
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class ImportUploadForm(forms.Form):
    """Step 1 of the import wizard: what to import and the file."""

    kind = forms.ChoiceField(label=_("Import"))
    file = forms.FileField(
        label=_("File"),
        help_text=_("Excel (.xlsx, .xls) or CSV (UTF-8 or GBK). The first sheet with data is read."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.xlsm,.ods,.csv,.txt"}),
    )

    def __init__(self, *args, importers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(importer.kind, importer.label) for importer in importers]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_MB
        if upload.size > limit * 1024 * 1024:
            raise ValidationError(
                _("The file is larger than %(limit)d MB. Split it, or save it as CSV, which is smaller.")
                % {"limit": limit}
            )
        if upload.size == 0:
            raise ValidationError(_("The file is empty."))
        return upload


class ImportOptionsForm(forms.Form):
    """Step 2: which column holds which field, what to do with existing records, who owns
    the new ones. One `col_<n>` field per column of the file."""

    on_duplicate = forms.ChoiceField(
        label=_("When a record already exists"),
        widget=forms.RadioSelect,
        choices=ImportJob.OnDuplicate.choices,
    )
    match_on = forms.MultipleChoiceField(
        label=_("Match existing records on"), widget=forms.CheckboxSelectMultiple, required=False
    )
    default_owner = forms.ModelChoiceField(
        label=_("Default owner"),
        queryset=User.objects.none(),
        required=False,
        help_text=_(
            "Owner of new records whose row names none. Empty: unassigned (the lead rules assign them)."
        ),
    )
    remember = forms.BooleanField(
        label=_("Remember this mapping for my next import"), required=False, initial=True
    )

    def __init__(self, *args, job: ImportJob, importer, user: User, samples: list[list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.importer = importer
        field_choices = [("", _("— do not import —"))] + [
            (column.name, f"{column.label}{' *' if column.required else ''}") for column in importer.columns
        ]
        self.columns = []
        for position, header in enumerate(job.headers):
            name = f"col_{position}"
            self.fields[name] = forms.ChoiceField(
                label=header or _("(column %(number)d)") % {"number": position + 1},
                choices=field_choices,
                required=False,
                initial=job.mapping.get(str(position), ""),
            )
            self.columns.append(
                (self[name], [row[position] if position < len(row) else "" for row in samples])
            )
        self.fields["match_on"].choices = importer.match_choices
        self.fields["match_on"].initial = job.match_on or importer.default_match_on
        if not importer.match_choices:
            del self.fields["match_on"]
        self.fields["on_duplicate"].choices = [
            (value, label)
            for value, label in ImportJob.OnDuplicate.choices
            if value in importer.on_duplicate_choices
        ]
        self.fields["on_duplicate"].initial = job.on_duplicate
        owners = importer.owner_choices(user)
        self.fields["default_owner"].queryset = owners
        self.fields["default_owner"].help_text = importer.default_owner_help
        self.fields["default_owner"].initial = job.default_owner_id or user.pk
        if owners.count() <= 1:
            self.fields["default_owner"].required = True
            self.fields["default_owner"].empty_label = None

    def mapping(self) -> dict[str, str]:
        return {
            name[4:]: value for name, value in self.cleaned_data.items() if name.startswith("col_") and value
        }

    def clean(self):
        cleaned = super().clean()
        from core.importing import mapping_errors

        for error in mapping_errors(self.importer, self.mapping()):
            self.add_error(None, error)
        if (
            "match_on" in self.fields
            and cleaned.get("on_duplicate") != "create"
            and not cleaned.get("match_on")
        ):
            self.add_error("match_on", _("Choose at least one way to recognise existing records."))
        return cleaned


class TwoFactorCodeForm(forms.Form):
    """A code from the authenticator app, or a recovery code. Whether it is right is the
    service's question (core.twofactor.two_factor_check); this only takes what was typed."""

    code = forms.CharField(
        label=_("Code"),
        max_length=64,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false", "size": 12}
        ),
    )


class ApiTokenForm(forms.Form):
    """A new personal API token: what it is for, and for how long (empty: until revoked)."""

    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. “ERP sync”.")
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Empty: valid until you revoke it."),
    )

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Give the token a name."), code="required")
        return name

    def expires_at(self):
        from datetime import timedelta

        from django.utils import timezone

        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None
