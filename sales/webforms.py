"""Web forms (线上表单): what a public lead form does with a submission.

A form lives at /f/<token>/ (sales/views_webforms.py) and needs no login. The view checks, in
this order: the rate limits (`webform_rate_limited`, nothing written when over), the spam
traps (`webform_spam_verdict`: a hidden honeypot field and a signed timestamp that must be
neither too fresh nor too old), the visitor's input (sales/forms_webforms.py), and that the
signed token was not used before (`webform_token_use`). Then `webform_submit` writes.

It lives in the sales app because a new lead goes through the lead-assignment rule
(sales.services.lead_assign), and sales stands on customers and interactions.
"""

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.models import Role, User
from core.notifications import notify
from customers.models import ConsentRecord, Customer
from customers.services import (
    consent_record_change,
    contact_point_taken,
    customer_create,
    customer_duplicate_lookup,
)
from interactions.models import Interaction
from sales.models import WebForm, WebFormSubmission
from sales.services import lead_assign

TOKEN_SALT = "sales.webforms.token"
Verdict = WebFormSubmission.Verdict
# Notification titles, translated when sent in each recipient's language.
TITLE_KNOWN_CUSTOMER = gettext_lazy("A known customer sent a web form: %(name)s")
TITLE_LEAD_IN_POOL = gettext_lazy("New web-form lead in the pool: %(name)s")


# --- spam protection and rate limits -----------------------------------------------------------


def webform_ip_hash(ip: str | None) -> str:
    """The visitor's address as a keyed hash (SECRET_KEY): enough to count and compare
    submissions, not to recover the address."""
    return salted_hmac("sales.webforms.ip", ip or "", algorithm="sha256").hexdigest()


def webform_issue_token(*, form: WebForm, now: datetime | None = None) -> str:
    """The signed token of one showing of the form: which form, when, and a random nonce
    (so that a token can be used once)."""
    now = now or timezone.now()
    payload = {"f": form.pk, "t": int(now.timestamp()), "n": secrets.token_urlsafe(12)}
    return signing.dumps(payload, salt=TOKEN_SALT)


def _token_payload(token: str) -> dict | None:
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not {"f", "t", "n"} <= payload.keys():
        return None
    return payload


def webform_spam_verdict(
    *, form: WebForm, token: str, honeypot: str, now: datetime | None = None
) -> str | None:
    """The spam verdict of a submission by its traps, or None when it passes them."""
    if honeypot.strip():
        return Verdict.HONEYPOT
    payload = _token_payload(token)
    if payload is None or payload["f"] != form.pk or not isinstance(payload["t"], int):
        return Verdict.BAD_TOKEN
    age = (now or timezone.now()).timestamp() - payload["t"]
    if age < settings.WEBFORM_MIN_SECONDS:
        return Verdict.TOO_FAST
    if age > settings.WEBFORM_MAX_AGE_HOURS * 3600:
        return Verdict.TOO_OLD
    return None


def webform_token_use(token: str) -> bool:
    """Mark a (valid) token as used; False when it was used before (a replay). The mark is
    kept as long as the token could be accepted, then it expires with it."""
    payload = _token_payload(token)
    if payload is None:
        return False
    timeout = settings.WEBFORM_MAX_AGE_HOURS * 3600 + 60
    return cache.add(f"webform:nonce:{payload['n']}", 1, timeout=timeout)


def _count(key: str, ttl: int) -> int:
    cache.add(key, 0, timeout=ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=ttl)
        return 1


def webform_rate_limited(*, form: WebForm, ip_hash: str, now: datetime | None = None) -> bool:
    """Count this submission against the per-address (per hour, all forms) and per-form (per
    minute) limits; True when either is exceeded. Fixed windows in the shared cache."""
    stamp = int((now or timezone.now()).timestamp())
    per_ip = _count(f"webform:rate:ip:{ip_hash}:{stamp // 3600}", 3600 + 5)
    per_form = _count(f"webform:rate:form:{form.pk}:{stamp // 60}", 60 + 5)
    return (
        per_ip > settings.WEBFORM_RATE_PER_IP_PER_HOUR or per_form > settings.WEBFORM_RATE_PER_FORM_PER_MINUTE
    )


# --- writes --------------------------------------------------------------------------------------


def webform_record_spam(*, form: WebForm, verdict: str, ip_hash: str, user_agent: str) -> WebFormSubmission:
    """Spam writes only its line in the submission log."""
    return WebFormSubmission.objects.create(
        form=form, verdict=verdict, ip_hash=ip_hash, user_agent=user_agent[:300]
    )


def _language_of(user: User | None) -> str:
    return (user.language if user else "") or settings.LANGUAGE_CODE


def _pool_watchers(form: WebForm) -> list[User]:
    """Who hears of a lead left in the pool: the managers of the form's team, else the admins."""
    if form.team_id:
        managers = list(form.team.managers.filter(is_active=True).order_by("pk"))
        if managers:
            return managers
    return list(User.objects.filter(is_active=True, groups__name=Role.ADMIN).order_by("pk").distinct())


def _timeline_details(form: WebForm, data: dict[str, Any]) -> str:
    # Contact points (mobile, email, WeChat) stay on the customer only, where they are
    # encrypted: the interaction text is not.
    lines = [
        f"{WebForm.Field(key).label if key != 'name' else _('Name')}: {data[key]}"
        for key in ("name", "company", "city")
        if data.get(key)
    ]
    if data.get("message"):
        lines.append(f"{_('Message')}: {data['message']}")
    return "\n".join(lines)


def _log_on_timeline(*, form: WebForm, customer: Customer, data: dict[str, Any]) -> Interaction:
    """The submission as an inbound interaction of an existing customer. Written directly,
    not with interactions.services.interaction_log: the customer reaching out is not a
    follow-up by staff, so it must not reset the follow-up clock (last contacted)."""
    with translation.override(_language_of(customer.owner)):
        interaction = Interaction(
            customer=customer,
            kind=Interaction.Kind.CONTACT,
            channel=Interaction.Channel.OTHER,
            direction=Interaction.Direction.INBOUND,
            summary=(_("Web form submission: %(form)s") % {"form": form.name})[:200],
            details=_timeline_details(form, data),
        )
    interaction.full_clean()
    interaction.save()
    return interaction


def _consent_given(*, form: WebForm, customer: Customer, language: str) -> ConsentRecord:
    text = form.in_language("consent_text", language)
    return consent_record_change(
        customer=customer,
        granted=True,
        source=ConsentRecord.Source.WEB_FORM,
        user=None,
        note=f"{form.name}: {text}"[:500],
    )


def _notify_all(recipients: list[User], *, kind: str, title: str, customer: Customer, key: str) -> None:
    url = reverse("customers:detail", args=[customer.pk])
    for recipient in recipients:
        with translation.override(_language_of(recipient)):
            notify(
                recipient=recipient,
                kind=kind,
                title=str(title) % {"name": customer.name},
                url=url,
                dedupe_key=f"{key}:{recipient.pk}",
            )


@transaction.atomic
def webform_submit(
    *,
    form: WebForm,
    data: dict[str, Any],
    consent: bool,
    language: str,
    ip_hash: str,
    user_agent: str,
) -> WebFormSubmission:
    """Save a visitor's (validated, normalised) submission and return its log line.

    The duplicate check first: when the mobile phone or email belongs to a live customer, no
    new customer is made; the submission goes on that customer's timeline and its owner (or,
    in the pool, the team's managers) is told. Otherwise a prospect is created (source from the
    form, in the form's team's pool), the lead-assignment rule gives it an owner (who is told
    by lead_assign) or, with no rule taking it, the pool watchers are told. A ticked consent box
    is a ConsentRecord (source: web form) with the form's consent text.
    """
    mobile, email = data.get("mobile", ""), data.get("email", "")
    existing = next(
        (
            c
            for c in customer_duplicate_lookup(phone=mobile, email=email)
            if contact_point_taken(c, mobile=mobile, email=email)
        ),
        None,
    )
    submission = WebFormSubmission(form=form, ip_hash=ip_hash, user_agent=user_agent[:300])
    if existing is not None:
        customer = existing
        _log_on_timeline(form=form, customer=customer, data=data)
        if consent:
            _consent_given(form=form, customer=customer, language=language)
        recipients = [customer.owner] if customer.owner_id else _pool_watchers(form)
        submission.verdict = Verdict.MATCHED
        submission.customer = customer
        submission.save()
        _notify_all(
            recipients,
            kind="webform_submission",
            title=TITLE_KNOWN_CUSTOMER,
            customer=customer,
            key=f"webform:{submission.pk}",
        )
        return submission

    customer = customer_create(
        user=None,
        data={
            "name": data["name"],
            "company": data.get("company", ""),
            "mobile": mobile,
            "email": email,
            "wechat": data.get("wechat", ""),
            "city": data.get("city", ""),
            "notes": data.get("message", ""),
            "source": form.source,
            "lifecycle_stage": Customer.LifecycleStage.PROSPECT,
            "team": form.team,
        },
    )
    if consent:
        _consent_given(form=form, customer=customer, language=language)
    submission.verdict = Verdict.CREATED
    submission.customer = customer
    submission.save()
    # The owner of the lead is told by lead_assign itself.
    if lead_assign(customer=customer) is None:
        _notify_all(
            _pool_watchers(form),
            kind="webform_lead_in_pool",
            title=TITLE_LEAD_IN_POOL,
            customer=customer,
            key=f"webform:{submission.pk}",
        )
    return submission
