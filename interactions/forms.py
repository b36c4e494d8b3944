from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import User
from customers.forms import staff_choices
from customers.models import Contact
from interactions.models import Article, Interaction, Task, Ticket


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class InteractionForm(forms.ModelForm):
    class Meta:
        model = Interaction
        fields = [
            "kind",
            "channel",
            "direction",
            "occurred_at",
            "contact",
            "summary",
            "details",
            "outcome",
            "satisfaction",
            "next_step",
        ]
        widgets = {
            "occurred_at": DateTimeInput(),
            "details": forms.Textarea(attrs={"rows": 3}),
            "summary": forms.TextInput(
                attrs={"placeholder": _("e.g. Called about the renewal; wants a quote")}
            ),
            "satisfaction": forms.Select(choices=[("", "—")] + [(i, "★" * i) for i in range(1, 6)]),
        }

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = Contact.objects.filter(customer=customer)
        self.fields["contact"].required = False
        if not self.fields["contact"].queryset.exists():
            del self.fields["contact"]
        if not self.instance.pk:
            self.initial.setdefault("occurred_at", timezone.localtime().replace(second=0, microsecond=0))

    def clean_summary(self):
        summary = " ".join(self.cleaned_data["summary"].split())
        if not summary:
            raise ValidationError(_("Say in a few words what happened."), code="required")
        return summary


class TaskForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "customer", "due_at", "remind_at", "priority", "assignee", "notes"]
        widgets = {
            "due_at": DateTimeInput(),
            "remind_at": DateTimeInput(),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "customer": forms.HiddenInput(),
        }

    def __init__(self, *args, user: User, customer_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_choices
        self.fields["customer"].required = False
        # Reps assign to themselves; managers and admins to anyone active.
        if user.has_perm("interactions.reassign_task"):
            self.fields["assignee"].queryset = staff_choices()
        else:
            self.fields["assignee"].queryset = User.objects.filter(pk=user.pk)
        if not self.instance.pk:
            self.initial.setdefault("assignee", user.pk)
            tomorrow = timezone.localdate() + timedelta(days=1)
            self.initial.setdefault("due_at", timezone.make_aware(datetime.combine(tomorrow, time(10, 0))))

    def clean_title(self):
        title = " ".join(self.cleaned_data["title"].split())
        if not title:
            raise ValidationError(_("Give the task a title."), code="required")
        return title


class FollowUpForm(forms.Form):
    """The optional follow-up task under the quick "log interaction" form."""

    follow_up = forms.BooleanField(label=_("Create a follow-up task"), required=False)
    follow_up_title = forms.CharField(label=_("Task"), max_length=200, required=False)
    follow_up_due = forms.DateTimeField(label=_("Due"), required=False, widget=DateTimeInput())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("follow_up"):
            if not cleaned.get("follow_up_title", "").strip():
                self.add_error(
                    "follow_up_title", ValidationError(_("Give the task a title."), code="required")
                )
            due = cleaned.get("follow_up_due")
            if not due:
                self.add_error("follow_up_due", ValidationError(_("Choose when it is due."), code="required"))
            elif due <= timezone.now():
                self.add_error(
                    "follow_up_due", ValidationError(_("Choose a time in the future."), code="past")
                )
        return cleaned


class PostponeForm(forms.Form):
    CHOICES = [("1h", _("1 hour")), ("1d", _("Tomorrow")), ("3d", _("3 days")), ("7d", _("1 week"))]
    by = forms.ChoiceField(choices=CHOICES, required=False)
    until = forms.DateTimeField(required=False, widget=DateTimeInput())

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("by") and not cleaned.get("until"):
            raise ValidationError(_("Choose how long to postpone."), code="required")
        return cleaned

    def target(self, due_at: datetime) -> datetime:
        if self.cleaned_data.get("until"):
            return self.cleaned_data["until"]
        amount = {
            "1h": timedelta(hours=1),
            "1d": timedelta(days=1),
            "3d": timedelta(days=3),
            "7d": timedelta(days=7),
        }
        base = max(due_at, timezone.now())
        return base + amount[self.cleaned_data["by"]]


class ReassignForm(forms.Form):
    ids = forms.CharField(widget=forms.HiddenInput())
    assignee = forms.ModelChoiceField(label=_("New assignee"), queryset=User.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_choices()

    def clean_ids(self) -> list[int]:
        try:
            ids = [int(i) for i in self.cleaned_data["ids"].split(",") if i.strip()]
        except ValueError as exc:
            raise ValidationError(_("Invalid selection."), code="invalid_ids") from exc
        if not ids:
            raise ValidationError(_("Select at least one task."), code="empty")
        return ids


class TicketForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ["customer", "contact", "subject", "category", "priority", "assignee", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 5}), "customer": forms.HiddenInput()}

    def __init__(self, *args, user: User, customer_choices, customer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_choices
        contacts = (
            Contact.objects.filter(customer=customer) if customer is not None else Contact.objects.none()
        )
        self.fields["contact"].queryset = contacts
        if customer is None or not contacts.exists():
            del self.fields["contact"]
        if user.has_perm("interactions.assign_ticket"):
            self.fields["assignee"].queryset = staff_choices()
        else:
            del self.fields["assignee"]
        if self.instance.pk:
            del self.fields["customer"]

    def clean_subject(self):
        subject = " ".join(self.cleaned_data["subject"].split())
        if not subject:
            raise ValidationError(_("Give the ticket a subject."), code="required")
        return subject


class TicketAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=User.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_choices()


class TicketTransitionForm(forms.Form):
    to_status = forms.ChoiceField(choices=Ticket.Status.choices)
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    resolution = forms.CharField(
        label=_("Resolution"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    satisfaction = forms.TypedChoiceField(
        label=_("Customer satisfaction"),
        choices=[("", "—")] + [(i, "★" * i) for i in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
    )


class TicketCommentForm(forms.Form):
    body = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}))
    internal = forms.BooleanField(label=_("Internal note (staff only)"), required=False, initial=True)


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "category", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 12})}
