"""Web forms (线上表单): the public page, spam traps, rate limits, and what a submission writes."""

from datetime import timedelta

import pytest
from django.core import signing
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from core.models import AuditLog, Notification
from core.tests.html_checks import inline_code
from customers.models import ConsentRecord, Customer
from customers.tests.factories import CustomerFactory
from interactions.models import Interaction
from sales.models import LeadAssignmentRule, WebForm, WebFormSubmission
from sales.webforms import TOKEN_SALT, webform_issue_token

IP = "203.0.113.5"


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Rate-limit counters and used tokens live in the shared cache."""
    cache.clear()


@pytest.fixture
def webform(team):
    return WebForm.objects.create(
        name="官网咨询",
        fields=["company", "mobile", "email", "city", "message"],
        required_fields=["mobile"],
        title_zh="联系我们",
        title_en="Contact us",
        thanks_zh="谢谢，我们会尽快联系您。",
        thanks_en="Thank you, we will be in touch.",
        consent_text_zh="我同意接收营销信息。",
        consent_text_en="I agree to receive marketing messages.",
        consent_required=True,
        team=team,
        allowed_origins="https://www.example.com\nhttps://shop.example.com/",
    )


def _token(webform, seconds_ago=30):
    return webform_issue_token(form=webform, now=timezone.now() - timedelta(seconds=seconds_ago))


def _post(client, webform, *, token=None, ip=IP, lang="en", **data):
    body = {
        "token": token if token is not None else _token(webform),
        "website": "",
        "name": "Wang Wu",
        "company": "Wuxi Tools",
        "mobile": "139 1234 5678",
        "email": "Wang@Example.com",
        "city": "无锡",
        "message": "Please send a quote.",
        "consent": "on",
    }
    body.update(data)
    body = {k: v for k, v in body.items() if v is not None}
    return client.post(
        f"/f/{webform.token}/",
        body,
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE=lang,
        HTTP_USER_AGENT="Mozilla/5.0 test",
    )


def _nothing_written(customers_before=0):
    assert Customer.objects.count() == customers_before
    assert not ConsentRecord.objects.exists()
    assert not Notification.objects.exists()


# --- the public page ------------------------------------------------------------------------


def test_the_public_page_opens_without_login_in_english(client, webform):
    response = client.get(f"/f/{webform.token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Contact us" in html
    assert "Mobile phone" in html
    assert "I agree to receive marketing messages." in html
    assert 'name="website"' in html  # the honeypot
    assert inline_code(html) == []
    assert "sales/webform.css" in html
    assert "Set-Cookie" not in str(response.headers)


def test_the_public_page_opens_in_chinese(client, webform):
    response = client.get(f"/f/{webform.token}/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert response.status_code == 200
    html = response.content.decode()
    assert "联系我们" in html
    assert "我同意接收营销信息。" in html
    assert '<html lang="zh-hans">' in html


def test_only_the_allowed_sites_may_frame_the_form(client, webform):
    response = client.get(f"/f/{webform.token}/")
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors https://www.example.com https://shop.example.com;" in csp + ";"
    assert "script-src 'self'" in csp
    assert "X-Frame-Options" not in response.headers


def test_a_form_without_allowed_sites_cannot_be_framed(client, webform):
    webform.allowed_origins = ""
    webform.save()
    response = client.get(f"/f/{webform.token}/")
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_the_rest_of_the_site_still_requires_login_and_refuses_frames(client, webform):
    response = client.get("/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_inactive_or_unknown_form_answers_404(client, webform, method):
    webform.active = False
    webform.save()
    assert getattr(client, method)(f"/f/{webform.token}/").status_code == 404
    assert getattr(client, method)("/f/no-such-form/").status_code == 404
    _nothing_written()
    assert not WebFormSubmission.objects.exists()


# --- a valid submission ---------------------------------------------------------------------


def test_a_submission_creates_a_prospect_with_consent_owned_by_the_lead_rule(
    client, webform, team, rep, django_capture_on_commit_callbacks
):
    LeadAssignmentRule.objects.create(name="华东", team=team)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, webform)
    assert response.status_code == 200
    assert "Thank you, we will be in touch." in response.content.decode()

    customer = Customer.objects.get()
    assert customer.name == "Wang Wu"
    assert customer.mobile == "13912345678"  # normalised like the customer form
    assert customer.email == "wang@example.com"
    assert customer.city == "无锡"
    assert customer.notes == "Please send a quote."
    assert customer.lifecycle_stage == Customer.LifecycleStage.PROSPECT
    assert customer.source == Customer.Source.WEB_FORM
    assert customer.owner == rep
    assert customer.marketing_consent is True
    consent = ConsentRecord.objects.get(customer=customer)
    assert consent.granted is True
    assert consent.source == ConsentRecord.Source.WEB_FORM
    assert "I agree to receive marketing messages." in consent.note

    notification = Notification.objects.get(recipient=rep)
    assert notification.kind == "lead_assigned"
    assert notification.url == f"/customers/{customer.pk}/"

    submission = WebFormSubmission.objects.get()
    assert submission.verdict == WebFormSubmission.Verdict.CREATED
    assert submission.customer == customer
    assert submission.user_agent == "Mozilla/5.0 test"
    # The address only as a keyed hash; no personal data in clear in the log.
    assert len(submission.ip_hash) == 64 and IP not in submission.ip_hash
    assert "13912345678" not in str(WebFormSubmission.objects.values().get())


def test_without_a_lead_rule_the_prospect_waits_in_the_team_pool_and_the_managers_are_told(
    client, webform, team, manager, rep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _post(client, webform)
    customer = Customer.objects.get()
    assert customer.owner is None
    assert customer.team == team
    assert customer.pool is not None
    notification = Notification.objects.get()
    assert notification.recipient == manager
    assert notification.kind == "webform_lead_in_pool"
    assert customer.name in notification.title


def test_without_consent_text_no_box_is_shown_and_no_consent_is_recorded(client, webform):
    webform.consent_text_zh = webform.consent_text_en = ""
    webform.consent_required = False
    webform.save()
    assert 'name="consent"' not in client.get(f"/f/{webform.token}/").content.decode()
    _post(client, webform)
    assert Customer.objects.get().marketing_consent is False
    assert not ConsentRecord.objects.exists()


# --- the duplicate check --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "sent"),
    [
        ({"mobile": "13912345678"}, {"email": "someone.else@example.com"}),
        ({"email": "wang@example.com", "mobile": ""}, {"mobile": "13700000000"}),
    ],
    ids=["same-phone", "same-email"],
)
def test_a_known_phone_or_email_lands_on_the_existing_customer(
    client, webform, rep, known, sent, django_capture_on_commit_callbacks
):
    existing = CustomerFactory(owner=rep, name="王五", **known)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, webform, **sent)
    assert response.status_code == 200
    assert "Thank you, we will be in touch." in response.content.decode()
    assert list(Customer.objects.all()) == [existing]

    entry = Interaction.objects.get(customer=existing)
    assert entry.direction == Interaction.Direction.INBOUND
    assert "官网咨询" in entry.summary
    assert "Please send a quote." in entry.details
    # Contact points are not copied into the (unencrypted) interaction text.
    assert "example.com" not in entry.details and "139" not in entry.details
    existing.refresh_from_db()
    assert existing.last_contacted_at is None  # not a follow-up by staff
    assert existing.marketing_consent is True

    notification = Notification.objects.get()
    assert notification.recipient == rep
    assert notification.kind == "webform_submission"
    submission = WebFormSubmission.objects.get()
    assert (submission.verdict, submission.customer) == (WebFormSubmission.Verdict.MATCHED, existing)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "  "}, "This field is required."),
        ({"mobile": ""}, "This field is required."),
        ({"mobile": "12345"}, "Enter a valid phone number."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"consent": None}, "Please tick the box to agree."),
    ],
    ids=["no-name", "no-mobile", "bad-mobile", "bad-email", "no-consent"],
)
def test_bad_input_shows_a_translated_error_and_writes_nothing(client, webform, data, error):
    response = _post(client, webform, **data)
    assert response.status_code == 200
    assert error in response.content.decode()
    _nothing_written()
    assert not WebFormSubmission.objects.exists()


def test_bad_input_errors_are_in_the_visitors_language(client, webform):
    response = _post(client, webform, lang="zh-hans", mobile="")
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "联系我们" in html
    _nothing_written()


def test_a_corrected_submission_after_an_error_is_accepted(client, webform):
    token = _token(webform)
    _post(client, webform, token=token, email="bad")
    _post(client, webform, token=token)
    assert Customer.objects.count() == 1
    assert WebFormSubmission.objects.get().verdict == WebFormSubmission.Verdict.CREATED


# --- spam -----------------------------------------------------------------------------------


def _tampered(webform):
    token = _token(webform)
    value, signature = token.rsplit(":", 1)
    return f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    ("make_data", "verdict"),
    [
        (lambda form: {"website": "http://spam.example"}, WebFormSubmission.Verdict.HONEYPOT),
        (lambda form: {"token": _token(form, seconds_ago=0)}, WebFormSubmission.Verdict.TOO_FAST),
        (lambda form: {"token": _token(form, seconds_ago=25 * 3600)}, WebFormSubmission.Verdict.TOO_OLD),
        (lambda form: {"token": _tampered(form)}, WebFormSubmission.Verdict.BAD_TOKEN),
        (lambda form: {"token": ""}, WebFormSubmission.Verdict.BAD_TOKEN),
        (
            lambda form: {
                "token": signing.dumps(
                    {"f": form.pk + 1, "t": int(timezone.now().timestamp()) - 60, "n": "x"}, salt=TOKEN_SALT
                )
            },
            WebFormSubmission.Verdict.BAD_TOKEN,
        ),
    ],
    ids=["honeypot", "too-fast", "too-old", "tampered-token", "no-token", "other-forms-token"],
)
def test_spam_is_thanked_but_writes_only_its_log_line(client, webform, team, rep, make_data, verdict):
    LeadAssignmentRule.objects.create(name="华东", team=team)
    response = _post(client, webform, **make_data(webform))
    assert response.status_code == 200
    assert "Thank you, we will be in touch." in response.content.decode()
    _nothing_written()
    assert not Interaction.objects.exists()
    submission = WebFormSubmission.objects.get()
    assert (submission.verdict, submission.customer) == (verdict, None)


def test_a_replayed_token_is_spam(client, webform):
    token = _token(webform)
    _post(client, webform, token=token)
    response = _post(client, webform, token=token, mobile="13700000000", email="other@example.com")
    assert "Thank you, we will be in touch." in response.content.decode()
    assert Customer.objects.count() == 1
    assert list(WebFormSubmission.objects.order_by("pk").values_list("verdict", flat=True)) == [
        WebFormSubmission.Verdict.CREATED,
        WebFormSubmission.Verdict.REPLAY,
    ]


def test_spam_checks_come_before_the_duplicate_check(client, webform, rep):
    existing = CustomerFactory(owner=rep, mobile="13912345678")
    _post(client, webform, website="spam")
    assert not Interaction.objects.filter(customer=existing).exists()
    assert not Notification.objects.exists()


# --- rate limits ----------------------------------------------------------------------------


def _person(n):
    return {"mobile": f"1370000{n:04d}", "email": f"p{n}@example.com"}


@override_settings(WEBFORM_RATE_PER_IP_PER_HOUR=2, WEBFORM_RATE_PER_FORM_PER_MINUTE=100)
def test_over_the_per_address_limit_the_visitor_gets_429_and_nothing_is_written(client, webform):
    assert _post(client, webform, **_person(1)).status_code == 200
    assert _post(client, webform, **_person(2)).status_code == 200
    response = _post(client, webform, **_person(3))
    assert response.status_code == 429
    assert "Too many submissions in a short time." in response.content.decode()
    assert Customer.objects.count() == 2
    assert WebFormSubmission.objects.count() == 2
    # Another address is not affected.
    assert _post(client, webform, ip="198.51.100.7", **_person(4)).status_code == 200
    assert Customer.objects.count() == 3


@override_settings(WEBFORM_RATE_PER_IP_PER_HOUR=100, WEBFORM_RATE_PER_FORM_PER_MINUTE=2)
def test_over_the_per_form_limit_everyone_gets_429_and_nothing_is_written(client, webform, team):
    assert _post(client, webform, ip="198.51.100.1", **_person(1)).status_code == 200
    assert _post(client, webform, ip="198.51.100.2", **_person(2)).status_code == 200
    response = _post(client, webform, ip="198.51.100.3", lang="zh-hans", **_person(3))
    assert response.status_code == 429
    assert "联系我们" in response.content.decode()
    assert Customer.objects.count() == 2
    assert WebFormSubmission.objects.count() == 2
    # Another form has its own count.
    other = WebForm.objects.create(
        name="展会",
        fields=["mobile"],
        title_zh="展会报名",
        title_en="Trade fair",
        thanks_zh="谢谢",
        thanks_en="Thanks",
    )
    assert _post(client, other, ip="198.51.100.4", **_person(4)).status_code == 200


@override_settings(WEBFORM_RATE_PER_IP_PER_HOUR=1)
def test_rate_limited_spam_writes_nothing_either(client, webform):
    _post(client, webform, website="spam")
    assert _post(client, webform, website="spam").status_code == 429
    assert WebFormSubmission.objects.count() == 1


# --- the form's configuration and the admin ------------------------------------------------


def test_a_form_must_ask_for_a_phone_or_email_and_name_real_sites(webform):
    from django.core.exceptions import ValidationError

    webform.fields = ["company"]
    webform.required_fields = []
    with pytest.raises(ValidationError) as exc:
        webform.full_clean()
    assert "fields" in exc.value.message_dict
    webform.fields = ["mobile"]
    webform.allowed_origins = "javascript:alert(1)"
    with pytest.raises(ValidationError) as exc:
        webform.full_clean()
    assert "allowed_origins" in exc.value.message_dict


def test_the_admin_shows_the_embed_snippet_and_the_counts(client, admin_user, webform):
    WebFormSubmission.objects.create(form=webform, verdict=WebFormSubmission.Verdict.HONEYPOT)
    client.force_login(admin_user)
    page = client.get(
        f"/admin/sales/webform/{webform.pk}/change/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert f"&lt;iframe src=&quot;http://testserver/f/{webform.token}/&quot;" in page
    listing = client.get("/admin/sales/webform/")
    assert listing.status_code == 200
    assert client.get("/admin/sales/webformsubmission/").status_code == 200
    assert client.get("/admin/sales/webformsubmission/add/").status_code == 403


def test_deleting_a_form_is_confirmed_and_audited(client, admin_user, webform):
    client.force_login(admin_user)
    url = f"/admin/sales/webform/{webform.pk}/delete/"
    assert client.get(url).status_code == 200  # the confirmation page
    client.post(url, {"post": "yes"})
    assert not WebForm.objects.exists()
    entry = AuditLog.objects.get(action=AuditLog.Action.DELETE)
    assert entry.details["kind"] == "web_form"
