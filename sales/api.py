"""REST API for orders (with lines) and opportunities (wired under /api/v1/ by crm/api.py).

Same scope (`visible_to`), permissions (the pages' decorators and access helpers),
validation (OrderForm + OrderLineFormSet, OpportunityForm) and services as the web pages.
"""

from django.db.models import Prefetch, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import CUSTOM_HELP, FormSerializer, ScopedViewSet, form_errors
from core.models import User
from customers.api import visible_customer_or_404 as _visible_customer
from customers.models import Customer
from sales import selectors, services
from sales.filters import OrderFilter
from sales.filters_pipeline import OpportunityFilter
from sales.forms import OrderForm, OrderLineFormSet, OrderStatusForm
from sales.forms_pipeline import OpportunityForm, active_stages
from sales.models import Opportunity, Order, OrderLine, PipelineStage, Product

# --- orders ------------------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    product_name = serializers.CharField(source="product.name", read_only=True)
    unit_price = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        help_text="Empty: the product's price.",
    )

    class Meta:
        model = OrderLine
        fields = ["product", "product_name", "quantity", "unit_price", "discount", "line_total"]
        read_only_fields = ["line_total"]


class OrderSerializer(FormSerializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        allow_null=True,
        help_text="Only for users who may change owners; default: the customer's owner.",
    )
    lines = OrderLineSerializer(
        many=True,
        required=False,
        help_text="All the order's lines (replaced as a whole on update; omit in PATCH to keep them).",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "customer",
            "ordered_at",
            "status",
            "channel",
            "owner",
            "notes",
            "total",
            "lines",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["number", "total", "created_by", "created_at", "updated_at"]

    def make_form(self, data, instance):
        return OrderForm(
            data,
            instance=instance,
            customer_choices=Customer.objects.visible_to(self.user),
            user=self.user,
        )

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        self.line_data = None
        lines = data.get("lines")
        if lines is None and self.instance is not None and self.partial:
            return values
        if not isinstance(lines, list):
            raise serializers.ValidationError({"lines": [_("An order needs at least one line.")]})
        formset_data = {
            "lines-TOTAL_FORMS": len(lines),
            "lines-INITIAL_FORMS": 0,
            "lines-MIN_NUM_FORMS": 0,
            "lines-MAX_NUM_FORMS": 1000,
        }
        for i, line in enumerate(lines):
            if not isinstance(line, dict):
                raise serializers.ValidationError({"lines": [_("Each line is an object with a product.")]})
            for key in ("product", "quantity", "unit_price", "discount"):
                value = line.get(key)
                formset_data[f"lines-{i}-{key}"] = "" if value is None else value
        formset = OrderLineFormSet(formset_data, instance=Order(), prefix="lines")
        if not formset.is_valid():
            errors = [form_errors(f) for f in formset.forms]
            raise serializers.ValidationError(
                {"lines": [*(str(e) for e in formset.non_form_errors())]}
                if not any(errors)
                else {"lines": errors}
            )
        self.line_data = formset.line_data()
        return values

    def create_with_form(self, form):
        data = dict(form.cleaned_data)
        data.setdefault("owner", None)
        return services.order_create(user=self.user, data=data, lines=self.line_data)

    def update_with_form(self, instance, form):
        return services.order_update(
            order=instance, user=self.user, data=form.cleaned_data, lines=self.line_data
        )


class OrderStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Order.Status.choices)


@extend_schema_view(
    list=extend_schema(summary="List orders (the order list's filters)"),
    retrieve=extend_schema(summary="Get an order with its lines"),
    create=extend_schema(summary="Record an order with its lines"),
    update=extend_schema(summary="Replace an order (not its status)"),
    partial_update=extend_schema(summary="Change some of an order's fields"),
)
class OrderViewSet(ScopedViewSet):
    """Orders (订单) of the customers the user may see, and those they own."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    action_permissions = {
        "list": "sales.view_order",
        "retrieve": "sales.view_order",
        "create": "sales.add_order",
        "update": "sales.change_order",
        "partial_update": "sales.change_order",
        "set_status": "sales.change_order",
    }
    sorts = {"-ordered": selectors.ORDER_LIST_SORT}
    default_sort = "-ordered"

    def scoped_queryset(self, user):
        return Order.objects.visible_to(user).prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.select_related("product").order_by("pk"))
        )

    def check_change(self, order):
        if self.action in ("update", "partial_update") and not order.is_counted:
            raise serializers.ValidationError(
                {"non_field_errors": [_("A cancelled or refunded order cannot be edited.")]}
            )

    def create(self, request, *args, **kwargs):
        # The customer must be one the user may see: 404 otherwise, as on the page.
        _visible_customer(request.user, request.data)
        return super().create(request, *args, **kwargs)

    @extend_schema(
        summary="Change an order's status (pay, ship, complete, cancel, refund)",
        request=OrderStatusSerializer,
    )
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        from sales.views import _next_statuses

        order = self.get_object()
        form = OrderStatusForm(request.data if isinstance(request.data, dict) else {})
        if not form.is_valid() or form.cleaned_data["status"] not in dict(_next_statuses(order)):
            raise serializers.ValidationError({"status": [_("This order cannot move to that status.")]})
        services.order_set_status(order=order, user=request.user, status=form.cleaned_data["status"])
        return Response(OrderSerializer(self.reload(order), context=self.get_serializer_context()).data)


# --- opportunities -----------------------------------------------------------------------------


class OpportunitySerializer(FormSerializer):
    custom_target = "opportunity"
    custom = serializers.JSONField(required=False, help_text=CUSTOM_HELP)
    customer = serializers.PrimaryKeyRelatedField(
        queryset=Customer.objects.all(), help_text="The customer; cannot change after creation."
    )
    stage = serializers.PrimaryKeyRelatedField(queryset=PipelineStage.objects.all(), required=False)
    stage_name = serializers.SerializerMethodField()
    stage_kind = serializers.CharField(source="stage.kind", read_only=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(),
        required=False,
        help_text="Only for users who may change owners; others own what they create.",
    )
    probability = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100, help_text="Empty: the stage's default."
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "customer",
            "title",
            "needs",
            "amount",
            "currency",
            "stage",
            "stage_name",
            "stage_kind",
            "probability",
            "expected_close_date",
            "owner",
            "team",
            "source",
            "next_step",
            "lost_reason",
            "order",
            "custom",
            "stage_entered_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["team", "order", "stage_entered_at", "closed_at", "created_at", "updated_at"]

    def get_stage_name(self, opportunity: Opportunity) -> str:
        return str(opportunity.stage)

    def make_form(self, data, instance):
        return OpportunityForm(data, instance=instance, user=self.user, stages=list(active_stages()))

    def to_internal_value(self, data):
        if self.instance is None:
            self.customer = _visible_customer(self.user, data)
        return super().to_internal_value(data)

    def create_with_form(self, form):
        data = form.service_data()
        data["customer"] = self.customer
        data.setdefault("owner", self.user)
        return services.opportunity_create(user=self.user, data=data)

    def update_with_form(self, instance, form):
        return services.opportunity_update(opportunity=instance, user=self.user, data=form.service_data())


@extend_schema_view(
    list=extend_schema(summary="List opportunities (the opportunity list's filters)"),
    retrieve=extend_schema(summary="Get an opportunity"),
    create=extend_schema(summary="Create an opportunity"),
    update=extend_schema(summary="Replace an opportunity (a stage change moves it, with history)"),
    partial_update=extend_schema(summary="Change some of an opportunity's fields"),
)
class OpportunityViewSet(ScopedViewSet):
    """Opportunities (商机) of the customers the user may see, and those they own."""

    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilter
    action_permissions = {
        "list": "sales.view_opportunity",
        "retrieve": "sales.view_opportunity",
        "create": "sales.add_opportunity",
        "update": "sales.change_opportunity",
        "partial_update": "sales.change_opportunity",
    }
    sorts = selectors.OPPORTUNITY_SORTS
    default_sort = selectors.OPPORTUNITY_DEFAULT_SORT

    def scoped_queryset(self, user):
        return (
            Opportunity.objects.visible_to(user)
            .annotate(close_key=Coalesce("expected_close_date", Value(selectors.NO_CLOSE_DATE)))
            .select_related("stage")
        )


# --- webhooks ----------------------------------------------------------------------------------


def on_order_created(sender, order, user=None, **kwargs) -> None:
    from core.webhooks import webhook_emit
    from customers.api import webhook_payload

    webhook_emit(
        event="order.created",
        object_id=order.pk,
        payload_builder=lambda: webhook_payload(OrderSerializer, order),
    )


def on_opportunity_won(sender, opportunity, user=None, **kwargs) -> None:
    from core.webhooks import webhook_emit
    from customers.api import webhook_payload

    webhook_emit(
        event="opportunity.won",
        object_id=opportunity.pk,
        payload=webhook_payload(OpportunitySerializer, opportunity),
    )
