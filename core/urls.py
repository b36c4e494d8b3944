from django.urls import path

from core import views, views_account, views_exports, views_imports

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("language/", views.set_language, name="set_language"),
    path("healthz/", views.health, name="health"),
    # My account and two-factor authentication (core/views_account.py).
    path("accounts/security/", views_account.account, name="account"),
    path("accounts/api-tokens/", views_account.api_tokens, name="api_tokens"),
    path("accounts/api-tokens/<int:pk>/revoke/", views_account.api_token_revoke, name="api_token_revoke"),
    path("accounts/two-factor/verify/", views_account.two_factor_verify, name="two_factor_verify"),
    path("accounts/two-factor/enrol/", views_account.two_factor_enrol, name="two_factor_enrol"),
    path(
        "accounts/two-factor/recovery-codes/",
        views_account.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path(
        "accounts/two-factor/recovery-codes/new/",
        views_account.two_factor_recovery_regenerate,
        name="two_factor_recovery_regenerate",
    ),
    path("accounts/two-factor/disable/", views_account.two_factor_disable, name="two_factor_disable"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
    path("imports/", views_imports.import_list, name="import_list"),
    path("imports/new/", views_imports.import_upload, name="import_upload"),
    path("imports/template/<str:kind>/", views_imports.import_template, name="import_template"),
    path("imports/<int:pk>/", views_imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/mapping/", views_imports.import_mapping, name="import_mapping"),
    path("imports/<int:pk>/progress/", views_imports.import_progress, name="import_progress"),
    path("imports/<int:pk>/commit/", views_imports.import_commit, name="import_commit"),
    path("imports/<int:pk>/undo/", views_imports.import_undo, name="import_undo"),
    path("imports/<int:pk>/errors/", views_imports.import_error_report, name="import_error_report"),
    # My exports (core/views_exports.py); each list's export URL lives in its app.
    path("exports/", views_exports.export_list, name="exports"),
    path("exports/<int:pk>/", views_exports.export_status, name="export_status"),
    path("exports/<int:pk>/progress/", views_exports.export_progress, name="export_progress"),
    path("exports/<int:pk>/download/", views_exports.export_download, name="export_download"),
]
