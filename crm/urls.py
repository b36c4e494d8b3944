from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path

from core.forms import LoginForm

# One login page for everyone (and later one place for lockout and audit): the admin's own
# login form sends people to it.
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include("crm.api")),
    path("customers/", include("customers.urls")),
    path("interactions/", include("interactions.urls")),
    path("sales/", include("sales.urls")),
    path("marketing/", include("marketing.urls")),
    path("reports/", include("reports.urls")),
    # Public web forms (线上表单): no login.
    path("f/", include("sales.urls_webforms")),
    path("", include("core.urls")),
]
