from django.urls import path

from interactions import views

app_name = "interactions"

urlpatterns = [
    path("", views.index, name="index"),
    path("log/", views.interaction_list, name="interaction_list"),
    path("log/export/", views.interaction_export, name="interaction_export"),
    path("log/new/<int:customer_pk>/", views.interaction_create, name="interaction_create"),
    path("log/<int:pk>/", views.interaction_detail, name="interaction_detail"),
    path("log/<int:pk>/edit/", views.interaction_edit, name="interaction_edit"),
    path("log/<int:pk>/ticket/", views.interaction_to_ticket, name="interaction_to_ticket"),
    path("tasks/", views.my_tasks, name="my_tasks"),
    path("tasks/team/", views.team_tasks, name="team_tasks"),
    path("tasks/new/", views.task_create, name="task_create"),
    path("tasks/reassign/", views.task_reassign, name="task_reassign"),
    path("tasks/<int:pk>/", views.task_edit, name="task_edit"),
    path("tasks/<int:pk>/<str:action>/", views.task_action, name="task_action"),
    path("tickets/", views.ticket_list, name="ticket_list"),
    path("tickets/new/", views.ticket_create, name="ticket_create"),
    path("tickets/export/", views.ticket_export, name="ticket_export"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:pk>/edit/", views.ticket_edit, name="ticket_edit"),
    path("tickets/<int:pk>/assign/", views.ticket_assign, name="ticket_assign"),
    path("tickets/<int:pk>/status/", views.ticket_transition, name="ticket_transition"),
    path("tickets/<int:pk>/comment/", views.ticket_comment, name="ticket_comment"),
    path("tickets/<int:pk>/article/", views.ticket_to_article, name="ticket_to_article"),
    path("kb/", views.article_list, name="article_list"),
    path("kb/new/", views.article_create, name="article_create"),
    path("kb/<int:pk>/", views.article_detail, name="article_detail"),
    path("kb/<int:pk>/edit/", views.article_edit, name="article_edit"),
]
