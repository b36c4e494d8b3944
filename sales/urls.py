from django.urls import path

from sales import views, views_pipeline

app_name = "sales"

urlpatterns = [
    path("", views.index, name="index"),
    # Orders and products (sales/views.py)
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/export/", views.order_export, name="order_export"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<int:pk>/status/", views.order_status, name="order_status"),
    path("products/", views.product_list, name="product_list"),
    # Opportunities and the pipeline (sales/views_pipeline.py)
    path("pipeline/", views_pipeline.pipeline_board, name="pipeline"),
    path("opportunities/", views_pipeline.opportunity_list, name="opportunity_list"),
    path("opportunities/new/", views_pipeline.opportunity_create, name="opportunity_create"),
    path("opportunities/export/", views_pipeline.opportunity_export, name="opportunity_export"),
    path("opportunities/<int:pk>/", views_pipeline.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", views_pipeline.opportunity_edit, name="opportunity_edit"),
    path(
        "opportunities/<int:pk>/reveal/<str:field>/",
        views_pipeline.opportunity_reveal,
        name="opportunity_reveal",
    ),
    path("opportunities/<int:pk>/move/", views_pipeline.opportunity_move, name="opportunity_move"),
    path("forecast/", views_pipeline.forecast, name="forecast"),
]
