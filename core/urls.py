from django.urls import path

from core import views, views_exports, views_imports

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("language/", views.set_language, name="set_language"),
    path("healthz/", views.health, name="health"),
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
