from django.urls import path

from customers import views, views_pool, views_privacy

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("bulk/", views.customer_bulk, name="bulk"),
    path("export/", views.customer_export, name="export"),
    path("search/", views.customer_search, name="search"),
    path("check/", views.customer_check, name="check"),
    path("views/", views.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("recycle-bin/", views.recycle_bin, name="recycle_bin"),
    path("pool/", views_pool.pool_list, name="pool"),
    path("pool/assign/", views_pool.pool_assign, name="pool_assign"),
    path("pool/<int:pk>/claim/", views_pool.pool_claim, name="pool_claim"),
    path("<int:pk>/release/", views_pool.pool_release, name="pool_release"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/verify/", views.customer_verify, name="verify"),
    path("<int:pk>/reveal/<str:field>/", views.customer_reveal, name="reveal"),
    path("<int:pk>/delete/", views.customer_delete, name="delete"),
    path("<int:pk>/restore/", views.customer_restore, name="restore"),
    path("<int:pk>/purge/", views.customer_purge, name="purge"),
    path("<int:pk>/merge/", views.customer_merge, name="merge"),
    path("<int:pk>/privacy/", views_privacy.customer_privacy, name="privacy"),
    path("<int:pk>/privacy/export/", views_privacy.customer_privacy_export, name="privacy_export"),
    path("<int:pk>/privacy/erase/", views_privacy.customer_erase, name="erase"),
    path("<int:pk>/consent/", views_privacy.customer_consent, name="consent"),
    path("<int:pk>/contacts/new/", views.contact_create, name="contact_create"),
    path("<int:pk>/contacts/<int:contact_pk>/edit/", views.contact_edit, name="contact_edit"),
    path("<int:pk>/contacts/<int:contact_pk>/delete/", views.contact_delete, name="contact_delete"),
    path(
        "<int:pk>/contacts/<int:contact_pk>/reveal/<str:field>/",
        views.contact_reveal,
        name="contact_reveal",
    ),
]
