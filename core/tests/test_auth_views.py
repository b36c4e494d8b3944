import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def test_login_page_renders_in_chinese_by_default(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert "登录" in response.content.decode()


def test_login_with_the_right_password_lands_on_my_workspace(client, rep):
    response = client.post(
        "/accounts/login/", {"username": "rep", "password": settings.DEMO_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "我的工作台" in response.content.decode()
    assert response.context["user"] == rep


def test_login_with_a_wrong_password_says_so_in_the_users_language(client, rep):
    response = client.post("/accounts/login/", {"username": "rep", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.post(
        "/accounts/login/", {"username": "rep", "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Wrong username or password" in response.content.decode()


def test_login_does_not_redirect_to_another_site(client, rep):
    response = client.post(
        "/accounts/login/?next=https://evil.example.com/",
        {"username": "rep", "password": settings.DEMO_PASSWORD, "next": "https://evil.example.com/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_logout_ends_the_session(client, rep):
    client.force_login(rep)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_password_change_requires_the_old_password_and_a_strong_new_one(client, rep):
    client.force_login(rep)
    response = client.post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": "123", "new_password2": "123"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "old_password" in form.errors
    rep.refresh_from_db()
    assert rep.check_password(settings.DEMO_PASSWORD)

    response = client.post(
        "/accounts/password/",
        {
            "old_password": settings.DEMO_PASSWORD,
            "new_password1": "Correct-Horse-42",
            "new_password2": "Correct-Horse-42",
        },
    )
    assert response.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password("Correct-Horse-42")


def test_admin_link_is_shown_only_to_staff(client, rep, admin_user):
    client.force_login(rep)
    assert 'data-testid="nav-admin"' not in client.get("/").content.decode()
    client.force_login(admin_user)
    assert 'data-testid="nav-admin"' in client.get("/").content.decode()


def test_admin_site_works_in_chinese_for_an_admin(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/core/user/")
    assert response.status_code == 200
    assert "用户" in response.content.decode()
    response = client.get("/admin/core/team/")
    assert response.status_code == 200


def test_a_sales_rep_cannot_open_the_admin(client, rep):
    client.force_login(rep)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_logins_logouts_and_failed_logins_are_audited(client, rep):
    from core.models import AuditLog

    client.post("/accounts/login/", {"username": "rep", "password": "wrong"}, REMOTE_ADDR="10.0.0.7")
    client.post(
        "/accounts/login/", {"username": "rep", "password": settings.DEMO_PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    client.post("/accounts/logout/", REMOTE_ADDR="10.0.0.7")
    entries = list(
        AuditLog.objects.filter(action__in=["login", "logout", "login_failed"])
        .order_by("at", "id")
        .values_list("action", "actor__username", "ip_address", "details")
    )
    assert entries == [
        ("login_failed", None, "10.0.0.7", {"username": "rep"}),
        ("login", "rep", "10.0.0.7", {}),
        ("logout", "rep", "10.0.0.7", {}),
    ]
    assert "wrong" not in repr(entries)  # never the password


def test_a_very_long_username_is_refused_without_a_server_error(client, rep):
    """Found by tests/test_form_properties.py: 256+ characters crashed django-axes' record."""
    from axes.models import AccessAttempt

    response = client.post("/accounts/login/", {"username": "张" * 300, "password": "x"})
    assert response.status_code == 200
    assert not AccessAttempt.objects.exists()
    assert "_auth_user_id" not in client.session
