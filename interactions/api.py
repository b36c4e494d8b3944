"""REST API for interactions and follow-up tasks (wired under /api/v1/ by crm/api.py).

Same scope (`visible_to`), permissions (the pages' decorators and access helpers),
validation (InteractionForm, TaskForm) and services as the web pages.
"""

from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import FormSerializer, ScopedViewSet
from core.models import User
from core.pagination import SortOption
from customers.api import visible_customer_or_404 as _visible_customer
from customers.models import Contact, Customer
from interactions import selectors, services
from interactions.filters import InteractionFilter, TaskFilter
from interactions.forms import InteractionForm, TaskForm
from interactions.models import Interaction, Task

# --- interactions ------------------------------------------------------------------------------


class InteractionSerializer(FormSerializer):
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="The customer; cannot change after creation."
    )
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(),
        required=False,
        allow_null=True,
        help_text="A contact of the customer.",
    )

    class Meta:
        model = Interaction
        fields = [
            "id",
            "customer",
            "kind",
            "channel",
            "direction",
            "occurred_at",
            "contact",
            "summary",
            "details",
            "outcome",
            "satisfaction",
            "next_step",
            "ticket",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["ticket", "created_by", "created_at"]

    def make_form(self, data, instance):
        customer = instance.customer if instance is not None else self.customer
        return InteractionForm(data, instance=instance, customer=customer)

    def to_internal_value(self, data):
        if self.instance is None:
            self.customer = _visible_customer(self.user, data)
        return super().to_internal_value(data)

    def create_with_form(self, form):
        return services.interaction_log(user=self.user, customer=self.customer, data=form.cleaned_data)

    def update_with_form(self, instance, form):
        return services.interaction_update(interaction=instance, user=self.user, data=form.cleaned_data)


@extend_schema_view(
    list=extend_schema(summary="List interactions (the interaction list's filters)"),
    retrieve=extend_schema(summary="Get an interaction"),
    create=extend_schema(summary="Log an interaction"),
    update=extend_schema(summary="Replace an interaction"),
    partial_update=extend_schema(summary="Change some of an interaction's fields"),
)
class InteractionViewSet(ScopedViewSet):
    """Interactions (跟进记录) of the customers the user may see."""

    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter
    action_permissions = {
        "list": "interactions.view_interaction",
        "retrieve": "interactions.view_interaction",
        "create": "interactions.add_interaction",
    }
    sorts = {"-occurred": selectors.INTERACTION_LIST_SORT}
    default_sort = "-occurred"

    def scoped_queryset(self, user):
        return Interaction.objects.visible_to(user)

    def check_change(self, interaction):
        # interactions.views._get_rw_interaction_for_user
        user = self.request.user
        if interaction.created_by_id != user.pk and not user.has_perm("interactions.change_interaction"):
            raise PermissionDenied


# --- tasks -------------------------------------------------------------------------------------


class TaskSerializer(FormSerializer):
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), required=False, allow_null=True
    )
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        help_text="Default: yourself. Only users who may reassign tasks (managers, admins) choose someone else.",
    )

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "customer",
            "due_at",
            "remind_at",
            "priority",
            "assignee",
            "notes",
            "status",
            "origin",
            "created_by",
            "created_at",
            "completed_at",
        ]
        read_only_fields = ["status", "origin", "created_by", "created_at", "completed_at"]

    def make_form(self, data, instance):
        return TaskForm(
            data,
            instance=instance,
            user=self.user,
            customer_choices=Customer.objects.visible_to(self.user),
        )

    def to_internal_value(self, data):
        # A customer the user may not see answers 404, as the page's ?customer= does.
        if isinstance(data, dict) and data.get("customer") is not None:
            _visible_customer(self.user, data)
        return super().to_internal_value(data)

    def create_with_form(self, form):
        return services.task_create(user=self.user, data=form.cleaned_data)

    def update_with_form(self, instance, form):
        return services.task_update(task=instance, user=self.user, data=form.cleaned_data)


@extend_schema_view(
    list=extend_schema(summary="List follow-up tasks"),
    retrieve=extend_schema(summary="Get a task"),
    create=extend_schema(summary="Create a task"),
    update=extend_schema(summary="Replace a task"),
    partial_update=extend_schema(summary="Change some of a task's fields"),
)
class TaskViewSet(ScopedViewSet):
    """Follow-up tasks (跟进任务): assigned to or created by the user, of customers they may
    see, and (managers) of their teams' members."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    action_permissions = {
        "list": "interactions.view_task",
        "retrieve": "interactions.view_task",
        "create": "interactions.add_task",
    }
    sorts = {"-id": SortOption("id", descending=True)}
    default_sort = "-id"

    def scoped_queryset(self, user):
        return Task.objects.visible_to(user)

    def check_change(self, task):
        # interactions.views._get_rw_task_for_user
        user = self.request.user
        if user.pk not in (task.assignee_id, task.created_by_id) and not user.has_perm(
            "interactions.reassign_task"
        ):
            raise PermissionDenied

    def _act(self, service):
        task = self.get_rw_object()
        service(task=task, user=self.request.user)
        return Response(self.get_serializer(self.reload(task)).data)

    @extend_schema(summary="Mark a task done", request=None)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._act(services.task_complete)

    @extend_schema(summary="Cancel a task", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(services.task_cancel)

    @extend_schema(summary="Reopen a done or cancelled task", request=None)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._act(services.task_reopen)
