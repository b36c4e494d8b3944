from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("refresh/", views.refresh, name="refresh"),
    path("dashboard/<slug:chart>.xlsx", views.chart_export, name="chart_export"),
    path("maintenance/", views.maintenance, name="maintenance"),
    path("behaviour/", views.behaviour, name="behaviour"),
]
