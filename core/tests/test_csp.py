"""Every page is served with a Content-Security-Policy that allows no inline code, and carries
none: no inline scripts, no on…= handlers, no style attributes or elements."""

import pytest

from core.tests.html_checks import inline_code
from customers.tests.factories import CustomerFactory, make_contact
from interactions.tests.factories import make_interaction, make_task, make_ticket
from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(rep, manager):
    ensure_default_pipeline()
    customer = CustomerFactory(owner=rep, name="张三丰", mobile="13812345678")
    deleted = CustomerFactory(owner=rep, name="李四")
    from customers.services import customer_delete

    customer_delete(customer=deleted, user=rep, request=None)
    return {
        "customer": customer,
        "contact": make_contact(customer),
        "interaction": make_interaction(customer, rep),
        "task": make_task(rep, customer),
        "ticket": make_ticket(customer, rep),
        "order": make_order(customer, rep),
        "opportunity": make_opportunity(customer, rep),
    }


def main_pages(r) -> list[str]:
    c = r["customer"].pk
    return [
        "/",
        "/notifications/",
        "/accounts/password/",
        "/customers/",
        "/customers/new/",
        f"/customers/{c}/",
        f"/customers/{c}/edit/",
        f"/customers/{c}/delete/",
        f"/customers/{c}/merge/",
        f"/customers/{c}/contacts/{r['contact'].pk}/edit/",
        "/customers/recycle-bin/",
        "/interactions/log/",
        f"/interactions/log/{r['interaction'].pk}/",
        f"/interactions/log/new/{c}/",
        "/interactions/tasks/",
        "/interactions/tasks/team/",
        f"/interactions/tasks/{r['task'].pk}/",
        "/interactions/tickets/",
        f"/interactions/tickets/{r['ticket'].pk}/",
        "/interactions/kb/",
        "/sales/orders/",
        f"/sales/orders/{r['order'].pk}/",
        f"/sales/orders/{r['order'].pk}/edit/",
        "/sales/products/",
        "/sales/pipeline/",
        "/sales/opportunities/",
        f"/sales/opportunities/{r['opportunity'].pk}/",
        f"/sales/opportunities/{r['opportunity'].pk}/edit/",
        "/sales/forecast/",
        "/reports/",
    ]


def assert_csp_clean(response):
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert inline_code(response.content.decode()) == []


def test_the_main_pages_carry_no_inline_code_and_a_strict_policy(client, admin_user, records):
    client.force_login(admin_user)
    for path in main_pages(records):
        response = client.get(path)
        assert response.status_code == 200, path
        try:
            assert_csp_clean(response)
        except AssertionError as exc:
            raise AssertionError(f"{path}: {exc}") from exc


def test_the_pages_a_rep_sees_are_clean_too(client, rep, records):
    # Reps see other controls (and fewer); the rows they may act on are theirs.
    client.force_login(rep)
    for path in ("/", "/customers/", f"/customers/{records['customer'].pk}/", "/sales/pipeline/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_csp_clean(response)


def test_login_lockout_and_error_pages_are_clean(client, rep):
    assert_csp_clean(client.get("/accounts/login/"))
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "rep", "password": "wrong"})
    assert response.status_code == 429
    assert_csp_clean(response)
    client.force_login(rep)
    not_found = client.get("/customers/999999999/")
    assert not_found.status_code == 404
    assert_csp_clean(not_found)
    forbidden = client.get("/customers/export/")
    assert forbidden.status_code == 403
    assert_csp_clean(forbidden)


def test_the_server_error_page_is_clean():
    from django.template.loader import render_to_string

    assert inline_code(render_to_string("500.html")) == []


def test_confirmations_use_data_attributes(client, admin_user, records):
    client.force_login(admin_user)
    bin_page = client.get("/customers/recycle-bin/").content.decode()
    assert "data-confirm=" in bin_page
    contact = client.get(
        f"/customers/{records['customer'].pk}/contacts/{records['contact'].pk}/edit/"
    ).content.decode()
    assert "data-confirm=" in contact
    assert "data-autosubmit" in client.get("/").content.decode()


def test_the_admin_is_served_with_the_policy_too(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/core/user/add/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert [p for p in inline_code(response.content.decode()) if "<script>" in p] == []


def test_session_cookie_settings():
    from django.conf import settings

    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_COOKIE_HTTPONLY is True
    validators = [v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert validators == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]


def test_each_request_moves_the_idle_expiry_on(client, rep):
    import time_machine
    from django.utils import timezone

    client.force_login(rep)
    start = timezone.now()
    with time_machine.travel(start + timezone.timedelta(hours=7)):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timezone.timedelta(hours=14)):
        # 7 hours idle since the last request: still signed in.
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timezone.timedelta(hours=23)):
        # 9 hours idle: signed out.
        response = client.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_every_response_carries_the_security_headers(client):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Content-Security-Policy" in response
