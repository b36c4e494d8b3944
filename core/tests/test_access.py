"""Every page requires login, except the login page itself, the language switch, the health
check, the public lead forms and the unsubscribe links (their own tests check them:
sales/tests/test_webforms.py, marketing/tests); the REST API answers 401 instead of sending to
the login page."""

import pytest

from core.tests.url_walk import walk_urls

PUBLIC = {"login", "core:set_language", "core:health", "webforms:public", "marketing:unsubscribe"}
ALL_URLS = sorted({u for u in walk_urls() if u.name not in PUBLIC}, key=lambda u: u.path)


def test_the_url_walk_finds_the_project_pages():
    names = {u.name for u in ALL_URLS}
    assert {"core:home", "customers:list", "logout", "password_change", "admin:index"} <= names
    assert len(ALL_URLS) > 20  # the admin alone has dozens


@pytest.mark.django_db
@pytest.mark.parametrize("url", ALL_URLS, ids=lambda u: u.name)
def test_anonymous_user_is_sent_to_a_login_page_from_every_url(client, url):
    response = client.get(url.path)
    if url.path.startswith("/api/v1/") and url.name != "api:docs":
        # The REST API (token clients, not browsers) answers 401 with how to authenticate.
        assert response.status_code == 401, f"{url.path} answered {response.status_code}"
        assert response["WWW-Authenticate"].startswith("Bearer")
        return
    assert response.status_code == 302, f"{url.path} answered {response.status_code}"
    location = response["Location"]
    assert location.startswith("/accounts/login/") or location.startswith("/admin/login/"), location


@pytest.mark.django_db
def test_anonymous_post_to_logout_does_not_fail(client):
    response = client.post("/accounts/logout/")
    assert response.status_code in (200, 302)


@pytest.mark.django_db
def test_health_check_answers_without_login(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.content == b"ok"
