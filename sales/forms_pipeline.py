"""Forms of the opportunity pages and the pipeline board: validation only, no side effects."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core import custom_fields
from core.models import User
from customers.forms import DateInput, staff_choices
from sales.models import Opportunity, PipelineStage


class StageChoiceField(forms.ModelChoiceField):
    """Active stages, labelled in the current language; each option carries its kind so the
    lost-reason field can show only when a lost stage is chosen (CSS :has, no script)."""

    def label_from_instance(self, obj: PipelineStage) -> str:
        return obj.label


class StageSelect(forms.Select):
    def __init__(self, *args, kinds: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        kind = self.kinds.get(str(value))
        if kind:
            option["attrs"]["data-kind"] = kind
        return option


def active_stages():
    return PipelineStage.objects.filter(active=True).order_by("order", "pk")


def _stage_field(stages: list[PipelineStage], **kwargs) -> StageChoiceField:
    return StageChoiceField(
        queryset=active_stages(),
        widget=StageSelect(kinds={str(s.pk): s.kind for s in stages}, attrs={"class": "stage-select"}),
        **kwargs,
    )


class OpportunityForm(forms.ModelForm):
    """Create / edit an opportunity. Owner appears only for users who may assign owners;
    an empty probability means the stage's default."""

    lost_reason = forms.CharField(
        label=capfirst(_("lost reason")),
        max_length=500,
        required=False,
        help_text=_("Required when the stage is lost."),
    )

    class Meta:
        model = Opportunity
        fields = [
            "title",
            "needs",
            "amount",
            "currency",
            "probability",
            "expected_close_date",
            "owner",
            "source",
            "next_step",
            "lost_reason",
        ]
        widgets = {
            "needs": forms.Textarea(attrs={"rows": 3}),
            # ISO, whatever the language: <input type=date> reads nothing else.
            "expected_close_date": DateInput(format="%Y-%m-%d"),
            "amount": forms.NumberInput(attrs={"min": "0", "step": "0.01"}),
            "probability": forms.NumberInput(attrs={"min": "0", "max": "100", "step": "1"}),
        }
        help_texts = {
            "probability": _("Empty: the stage's default probability."),
        }

    def __init__(self, *args, user: User, stages: list[PipelineStage] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        stages = stages if stages is not None else list(active_stages())
        # Not a model field of the form: assigning it to the instance here would hide the
        # change from opportunity_update(), which moves stages through opportunity_move()
        # (history, probability, follow-up task).
        self.fields["stage"] = _stage_field(stages, label=capfirst(_("stage")))
        self.order_fields(["title", "needs", "amount", "currency", "stage", "probability"])
        self.fields["probability"].required = False
        if user.has_perm("customers.change_customer_owner"):
            self.fields["owner"].queryset = staff_choices()
            if not self.instance.pk:
                self.fields["owner"].initial = user.pk
        else:
            del self.fields["owner"]
        if self.instance.pk:
            self.initial.setdefault("stage", self.instance.stage_id)
        else:
            first_open = next((s for s in stages if s.kind == PipelineStage.Kind.OPEN), None)
            if first_open is not None:
                self.initial.setdefault("stage", first_open.pk)
            # Not the model's defaults: an empty probability follows the chosen stage, and
            # an amount of 0 is rarely what someone means to record.
            self.initial["probability"] = None
            self.initial["amount"] = None
        custom_fields.add_form_fields(self, "opportunity", self.instance)

    def clean_title(self):
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise ValidationError(_("Give the opportunity a title."), code="required")
        return title

    def clean_lost_reason(self):
        return self.cleaned_data["lost_reason"].strip()

    def clean(self):
        cleaned = super().clean()
        stage = cleaned.get("stage")
        if stage is None:
            return cleaned
        if cleaned.get("probability") is None and "probability" not in self.errors:
            cleaned["probability"] = stage.default_probability
        if stage.kind == PipelineStage.Kind.LOST and not cleaned.get("lost_reason"):
            self.add_error(
                "lost_reason", ValidationError(_("Say why the opportunity was lost."), code="lost_reason")
            )
        return cleaned

    def service_data(self) -> dict:
        """The cleaned values the services take (the stage included: the update service
        moves it through opportunity_move)."""
        data = {name: self.cleaned_data[name] for name in self.fields if not name.startswith("cf_")}
        data["custom"] = custom_fields.form_storage(self, self.instance.custom)
        return data

    def custom_bound_fields(self) -> list:
        return [self[custom_fields.form_name(field)] for field in self.custom_fields]


class OpportunityMoveForm(forms.Form):
    """Move to another stage: the board's card form, the detail page's form, and the
    drag-and-drop request all post this."""

    lost_reason = forms.CharField(label=_("lost reason"), max_length=500, required=False)

    def __init__(self, *args, stages: list[PipelineStage] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        stages = stages if stages is not None else list(active_stages())
        self.fields["stage"] = _stage_field(
            stages,
            label=_("Move to stage"),
            error_messages={"invalid_choice": _("Choose one of the pipeline's stages.")},
        )

    def clean_lost_reason(self):
        return self.cleaned_data["lost_reason"].strip()


class CustomerPickForm(forms.Form):
    """Which customer the new opportunity is for (when the page was opened without one)."""

    q = forms.CharField(
        label=_("Customer"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Name, company, pinyin, phone or email")}),
    )
