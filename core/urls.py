from django.urls import path

from core import views, views_exports

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("language/", views.set_language, name="set_language"),
    path("healthz/", views.health, name="health"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
    # My exports (core/views_exports.py); each list's export URL lives in its app.
    path("exports/", views_exports.export_list, name="exports"),
    path("exports/<int:pk>/", views_exports.export_status, name="export_status"),
    path("exports/<int:pk>/progress/", views_exports.export_progress, name="export_progress"),
    path("exports/<int:pk>/download/", views_exports.export_download, name="export_download"),
]
