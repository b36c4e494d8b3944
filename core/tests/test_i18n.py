import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_home_page_renders_in_chinese_and_in_english(client, rep):
    client.force_login(rep)
    zh = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "我的工作台" in zh and "客户" in zh and '<html lang="zh-hans">' in zh
    en = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "My workspace" in en and "Customers" in en and '<html lang="en">' in en


def test_switching_language_is_remembered_on_the_user(client, rep):
    client.force_login(rep)
    response = client.post("/language/", {"language": "en", "next": "/customers/"})
    assert response.status_code == 302 and response["Location"] == "/customers/"
    rep.refresh_from_db()
    assert rep.language == "en"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    # The user's choice wins over the browser on another device (no cookie, Chinese browser).
    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    assert "My workspace" in client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


def test_an_unknown_language_changes_nothing(client, rep):
    client.force_login(rep)
    response = client.post("/language/", {"language": "xx"})
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.language == ""


def test_language_switch_refuses_to_redirect_off_site(client, rep):
    client.force_login(rep)
    response = client.post("/language/", {"language": "en", "next": "https://evil.example.com/"})
    assert response["Location"] == "/"


def test_language_switch_needs_post(client, rep):
    client.force_login(rep)
    assert client.get("/language/?language=en").status_code == 405


def test_anonymous_language_switch_sets_the_cookie_only(client):
    response = client.post("/language/", {"language": "en", "next": "/accounts/login/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Log in" in client.get("/accounts/login/").content.decode()


def test_not_found_page_is_translated(client, rep):
    client.force_login(rep)
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Page not found" in response.content.decode()


def test_server_error_page_is_translated(rf, settings):
    from django.utils import translation
    from django.views.defaults import server_error

    with translation.override("zh-hans"):
        body = server_error(rf.get("/")).content.decode()
    assert "服务器错误" in body


def test_permission_denied_page_is_translated(rf, rep):
    from django.core.exceptions import PermissionDenied
    from django.utils import translation
    from django.views.defaults import permission_denied

    request = rf.get("/")
    request.user = rep
    with translation.override("zh-hans"):
        body = permission_denied(request, PermissionDenied()).content.decode()
    assert "没有权限" in body
