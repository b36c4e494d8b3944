"""Public web-form pages (no login), mounted at /f/ by crm/urls.py."""

from django.urls import path

from sales import views_webforms

app_name = "webforms"

urlpatterns = [
    path("<str:token>/", views_webforms.webform_public, name="public"),
]
