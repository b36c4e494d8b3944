from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import custom_fields
from core.models import Team, User
from core.personal_data import normalize_email, normalize_phone
from customers.models import ConsentRecord, Contact, Customer, SavedView, Tag
from customers.services import MERGE_FIELDS


class DateInput(forms.DateInput):
    """<input type="date"> needs ISO dates whatever the UI language (zh-hans formats 2027/02/19)."""

    input_type = "date"

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(**kwargs)


def _clean_phone(value: str) -> str:
    return normalize_phone(value) if value else ""


def _clean_email(value: str) -> str:
    if not value:
        return ""
    try:
        return normalize_email(value)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid email address."), code="invalid_email") from exc


def staff_choices():
    return User.objects.filter(is_active=True).select_related("team").order_by("team__name", "username")


class CustomerForm(forms.ModelForm):
    """Create / edit a customer. Owner and team appear only for users who may change them."""

    tags = forms.ModelMultipleChoiceField(
        label=_("tags"),
        queryset=Tag.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    confirm_duplicate = forms.BooleanField(
        label=_("Save anyway: this is not the same customer"),
        required=False,
    )
    # Only for users who may override a phone or email already on record (recorded).
    duplicate_reason = forms.CharField(
        label=_("Why create it again?"),
        max_length=500,
        required=False,
        help_text=_("Recorded in the audit log, e.g. a shared company switchboard number."),
    )

    class Meta:
        model = Customer
        fields = [
            "kind",
            "name",
            "gender",
            "birthday",
            "company",
            "title",
            "industry",
            "mobile",
            "other_phone",
            "email",
            "wechat",
            "province",
            "city",
            "district",
            "street",
            "region",
            "source",
            "lifecycle_stage",
            "lifecycle_stage_manual",
            "value_tier",
            "value_tier_manual",
            "abc_class",
            "abc_class_manual",
            "preferences",
            "notes",
            "marketing_consent",
            "marketing_consent_channel",
            "care_opt_out",
            "owner",
            "team",
        ]
        widgets = {
            "birthday": DateInput(),
            "mobile": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "other_phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "wechat": forms.TextInput(attrs={"autocomplete": "off"}),
            "street": forms.TextInput(),
            "preferences": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "mobile": _("Chinese mobile (11 digits) or an international number with its + prefix."),
            "email": _("Stored encrypted; shown masked."),
        }

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.duplicates = []
        self.hard_duplicates = []  # sharing a phone or email: creating another is blocked
        self.override_reason = ""
        if self.instance.pk:
            self.fields["tags"].initial = list(self.instance.tags.all())
        if user.has_perm("customers.change_customer_owner"):
            self.fields["owner"].queryset = staff_choices()
            if not self.instance.pk:
                self.fields["owner"].initial = user.pk
            self.fields["team"].queryset = Team.objects.all()
            self.fields["team"].help_text = _("Empty: the owner's team.")
        else:
            del self.fields["owner"]
            del self.fields["team"]
        custom_fields.add_form_fields(self, "customer", self.instance)

    def custom_bound_fields(self) -> list:
        return [self[custom_fields.form_name(field)] for field in self.custom_fields]

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Enter the customer's name."), code="required")
        return name

    def clean_mobile(self):
        return _clean_phone(self.cleaned_data["mobile"])

    def clean_other_phone(self):
        return _clean_phone(self.cleaned_data["other_phone"])

    def clean_email(self):
        return _clean_email(self.cleaned_data["email"])

    def clean_wechat(self):
        return self.cleaned_data["wechat"].strip()

    def clean_birthday(self):
        birthday = self.cleaned_data["birthday"]
        if birthday and birthday > timezone.localdate():
            raise ValidationError(_("The birthday cannot be in the future."), code="future_birthday")
        if birthday and birthday.year < 1900:
            raise ValidationError(_("Enter a birthday after 1900."), code="old_birthday")
        return birthday

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == Customer.Kind.COMPANY and not cleaned.get("company"):
            cleaned["company"] = cleaned.get("name", "")
        if cleaned.get("marketing_consent") and not cleaned.get("marketing_consent_channel"):
            self.add_error(
                "marketing_consent_channel",
                ValidationError(_("Say how the customer gave consent."), code="consent_channel"),
            )
        if not self.errors:
            from customers.services import customer_duplicates

            self.duplicates = list(
                customer_duplicates(
                    mobile=cleaned.get("mobile", ""),
                    other_phone=cleaned.get("other_phone", ""),
                    email=cleaned.get("email", ""),
                    name=cleaned.get("name", ""),
                    company=cleaned.get("company", ""),
                    exclude_pk=self.instance.pk,
                )
            )
            from customers.services import contact_point_taken

            self.hard_duplicates = [
                d
                for d in self.duplicates
                if contact_point_taken(
                    d,
                    mobile=cleaned.get("mobile", ""),
                    other_phone=cleaned.get("other_phone", ""),
                    email=cleaned.get("email", ""),
                )
            ]
            if self.instance.pk:
                return cleaned
            if self.hard_duplicates and not self.can_override:
                raise ValidationError(
                    _(
                        "A customer with this phone number or email address is already on record (see "
                        "below). Ask its owner or your manager instead of entering it again."
                    ),
                    code="duplicate_contact",
                )
            if self.hard_duplicates:
                reason = cleaned.get("duplicate_reason", "").strip()
                if not cleaned.get("confirm_duplicate") or not reason:
                    raise ValidationError(
                        _(
                            "A customer with this phone number or email address is already on record. "
                            "To create another one anyway, tick “Save anyway” and give the reason: it "
                            "is recorded."
                        ),
                        code="duplicate_contact",
                    )
                self.override_reason = reason
            elif self.duplicates and not cleaned.get("confirm_duplicate"):
                raise ValidationError(
                    _("This looks like a customer already on record. Check the matches below."),
                    code="duplicate",
                )
        return cleaned

    @property
    def can_override(self) -> bool:
        return self.user.has_perm("customers.override_duplicate")

    def service_data(self) -> dict:
        """Cleaned values for the customer services (no tags, no form-only fields); the custom
        fields as the `custom` JSON to store."""
        data = {
            k: v
            for k, v in custom_fields.without_form_fields(self.cleaned_data).items()
            if k not in ("tags", "confirm_duplicate", "duplicate_reason")
        }
        data["custom"] = custom_fields.form_storage(self, self.instance.custom)
        return data


class DuplicateCheckForm(forms.Form):
    """The duplicate check (查重): a phone number, an email address or a company name."""

    phone = forms.CharField(label=_("phone"), max_length=50, required=False)
    email = forms.CharField(label=_("email"), max_length=254, required=False)
    company = forms.CharField(label=_("company"), max_length=200, required=False)

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"]) if self.cleaned_data["phone"].strip() else ""

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"]) if self.cleaned_data["email"].strip() else ""

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not any(cleaned.get(k, "").strip() for k in ("phone", "email", "company")):
            raise ValidationError(
                _("Enter a phone number, an email address or a company name."), code="empty"
            )
        return cleaned


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "title", "phone", "email", "wechat", "is_primary"]
        widgets = {
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        custom_fields.add_form_fields(self, "contact", self.instance)

    def custom_bound_fields(self) -> list:
        return [self[custom_fields.form_name(field)] for field in self.custom_fields]

    def save(self, commit: bool = True) -> Contact:
        # The custom fields are not model fields of the form: their JSON goes on the contact.
        self.instance.custom = custom_fields.form_storage(self, self.instance.custom)
        return super().save(commit=commit)

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError(_("Enter the contact's name."), code="required")
        return name

    def clean_phone(self):
        return _clean_phone(self.cleaned_data["phone"])

    def clean_email(self):
        return _clean_email(self.cleaned_data["email"])


class SavedViewForm(forms.ModelForm):
    class Meta:
        model = SavedView
        fields = ["name", "query"]
        widgets = {"query": forms.HiddenInput()}


class BulkActionForm(forms.Form):
    ACTIONS = [
        ("assign_owner", _("Assign owner")),
        ("add_tag", _("Add tag")),
        ("remove_tag", _("Remove tag")),
        ("set_stage", _("Change lifecycle stage")),
        ("delete", _("Delete (to the recycle bin)")),
    ]
    action = forms.ChoiceField(label=_("Action"), choices=ACTIONS)
    ids = forms.CharField(required=False, widget=forms.HiddenInput())
    select_all = forms.BooleanField(required=False, widget=forms.HiddenInput())
    query = forms.CharField(required=False, widget=forms.HiddenInput())
    owner = forms.ModelChoiceField(label=_("owner"), queryset=User.objects.none(), required=False)
    tag = forms.ModelChoiceField(label=_("tag"), queryset=Tag.objects.all(), required=False)
    stage = forms.ChoiceField(
        label=_("lifecycle stage"),
        choices=[("", "---------"), *Customer.LifecycleStage.choices],
        required=False,
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_choices()

    def clean_ids(self) -> list[int]:
        raw = self.cleaned_data["ids"]
        try:
            return [int(i) for i in raw.split(",") if i.strip()]
        except ValueError as exc:
            raise ValidationError(_("Invalid selection."), code="invalid_ids") from exc

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        needs = {"assign_owner": "owner", "add_tag": "tag", "remove_tag": "tag", "set_stage": "stage"}.get(
            action
        )
        if needs and not cleaned.get(needs):
            self.add_error(needs, ValidationError(_("Choose a value for this action."), code="required"))
        if not cleaned.get("ids") and not cleaned.get("select_all"):
            raise ValidationError(_("Select at least one customer."), code="empty_selection")
        return cleaned


class MergeForm(forms.Form):
    """Pick, for each field that differs, which customer's value survives."""

    def __init__(self, *args, survivor: Customer, merged: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.survivor = survivor
        self.merged = merged
        self.differing = []
        for field in MERGE_FIELDS:
            model_field = Customer._meta.get_field(field)
            left = getattr(survivor, model_field.attname)
            right = getattr(merged, model_field.attname)
            if left == right or not right:
                continue
            self.differing.append(field)
            self.fields[field] = forms.ChoiceField(
                label=model_field.verbose_name,
                choices=[("survivor", _("Keep")), ("merged", _("Take"))],
                initial="survivor" if left else "merged",
                widget=forms.RadioSelect,
            )

    def choices(self) -> dict[str, str]:
        return {f: self.cleaned_data[f] for f in self.differing}


# --- personal-information rights -------------------------------------------------------------


class AccessRequestForm(forms.Form):
    """An access request (PIPL art. 45, GDPR art. 15): everything about the customer, as a file."""

    format = forms.ChoiceField(
        label=_("Format"),
        choices=[("xlsx", _("Excel workbook (.xlsx)")), ("json", _("JSON (machine-readable)"))],
        initial="xlsx",
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        required=False,
        help_text=_("e.g. the customer asked for a copy of their data. Do not enter personal data here."),
    )
    reference = forms.CharField(
        label=_("Reference"), max_length=100, required=False, help_text=_("e.g. the ticket or letter number.")
    )


class ErasureForm(forms.Form):
    """Erasure (PIPL art. 47, GDPR art. 17) asks for the customer number typed again, a
    reason and a ticked acknowledgement: it cannot be undone."""

    confirm_number = forms.CharField(label=_("Customer number"), max_length=20)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        help_text=_("e.g. the customer asked to be forgotten. Do not enter personal data here."),
    )
    reference = forms.CharField(
        label=_("Reference"), max_length=100, required=False, help_text=_("e.g. the ticket or letter number.")
    )
    acknowledge = forms.BooleanField(
        label=_("I understand that the personal data is erased for good and cannot be restored."),
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.fields["confirm_number"].help_text = _("Type %(number)d to confirm.") % {"number": customer.pk}

    def clean_confirm_number(self):
        value = self.cleaned_data["confirm_number"].strip().lstrip("#")
        if value != str(self.customer.pk):
            raise ValidationError(_("This is not the number of this customer."), code="wrong_number")
        return value


class ConsentChangeForm(forms.Form):
    """Record a consent given or withdrawn outside the customer form (a call, an unsubscribe)."""

    granted = forms.TypedChoiceField(
        label=_("Marketing consent"),
        choices=[("1", _("Given")), ("0", _("Withdrawn"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    channel = forms.ChoiceField(label=_("For"), choices=ConsentRecord.Channel.choices, initial="all")
    source = forms.ChoiceField(
        label=_("How"),
        choices=[
            (value, label)
            for value, label in ConsentRecord.Source.choices
            if value
            not in (
                ConsentRecord.Source.IMPORT,
                ConsentRecord.Source.IMPORT_UNDONE,
                ConsentRecord.Source.MERGE,
                ConsentRecord.Source.ERASURE,
            )
        ],
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class PoolReleaseForm(forms.Form):
    """Returning a customer to the pool (退回公海): the reason is required."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Give a reason for releasing the customer to the pool.")},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError(_("Give a reason for releasing the customer to the pool."), code="required")
        return reason


class PoolAssignForm(forms.Form):
    """Assigning pool customers (分配) to a rep: one (ids = its number) or several."""

    ids = forms.CharField(
        widget=forms.HiddenInput(), error_messages={"required": _("Select the customers to assign.")}
    )
    owner = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=User.objects.filter(is_active=True),
        error_messages={
            "required": _("Choose whom to assign the customers to."),
            "invalid_choice": _("Choose whom to assign the customers to."),
        },
    )

    def clean_ids(self) -> list[int]:
        raw = self.cleaned_data["ids"]
        try:
            ids = [int(i) for i in raw.split(",") if i.strip()]
        except ValueError as exc:
            raise ValidationError(_("Invalid selection."), code="invalid_ids") from exc
        if not ids:
            raise ValidationError(_("Select the customers to assign."), code="required")
        return ids[:1000]
