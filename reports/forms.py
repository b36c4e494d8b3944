"""The dashboard's filters: a date range and, for those who may see several teams, a team."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import Team, User
from reports.scope import DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS, Period, sees_all, teams_for


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=_("start date"),
        required=False,
        widget=forms.DateInput(
            format="%Y-%m-%d", attrs={"type": "date", "class": "form-control form-control-sm"}
        ),
    )
    end = forms.DateField(
        label=_("end date"),
        required=False,
        widget=forms.DateInput(
            format="%Y-%m-%d", attrs={"type": "date", "class": "form-control form-control-sm"}
        ),
    )
    team = forms.ModelChoiceField(
        label=_("team"),
        queryset=Team.objects.none(),
        required=False,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        teams = teams_for(user)
        if teams is None:
            del self.fields["team"]
        else:
            self.fields["team"].queryset = teams
            self.fields["team"].empty_label = _("All teams") if sees_all(user) else _("All my teams")

    def clean(self):
        data = super().clean()
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)  # as default_period()
        if start > end:
            raise forms.ValidationError(_("The start of the period must not be after its end."))
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise forms.ValidationError(
                _("A period may cover at most %(days)d days.") % {"days": MAX_PERIOD_DAYS}
            )
        data["start"], data["end"] = start, end
        return data


def default_period() -> tuple[date, date]:
    """The last DEFAULT_PERIOD_DAYS days, today included."""
    period = Period.default()
    return period.start, period.end
