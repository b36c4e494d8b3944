"""Importing orders from a spreadsheet: one row per order line; consecutive rows with the same
order number are the lines of one order.

`OrderImporter` plugs into core.importing (registered in SalesConfig.ready()); the web wizard,
the Celery task and `manage.py import_orders` all run it through core.importing.import_run.

- An order is all or nothing: when one of its lines is rejected (here or while cleaning the
  cells), every row of the order is rejected and says why.
- The customer is found among the customers the importing user may see: by phone (blind
  index), else email, else exact name (and company). Someone else's customer is refused
  with its owner and since when, nothing more.
- Rows are checked in plain Python and written in bulk (per-row full_clean() and save()
  cannot import 100k rows in reasonable time: ../PERF_NOTES); line and order totals are
  computed with OrderLine.line_total and money(), exactly as sales.services does, and the
  purchase statistics (and lifecycle stage) of each customer a batch touched are refreshed
  once, through the same service as the order pages.
- The file's order number is kept, so importing the same file again finds its orders; a row
  without one gets a number made like order_create() makes them.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.db import update_rows
from core.importing import Column, Importer, Outcome, Row, RunState, item_values
from core.models import ImportItem, ImportJob, User
from core.personal_data import normalize_email, normalize_phone
from core.spreadsheets import (
    choice_lookup,
    clean_choice,
    clean_datetime,
    clean_decimal,
    clean_phone_text,
    clean_text,
    normalise_header,
)
from customers.forms import staff_choices
from customers.models import Customer
from customers.search import email_bidx, phone_bidx
from sales.models import Opportunity, Order, OrderLine, Product, money
from sales.services import customers_refresh_purchase_stats

NUMBER_MAX_LENGTH = Order._meta.get_field("number").max_length
# What order_create() makes: "SO" + yyyymm + the id (7 digits or more).
GENERATED_NUMBER = re.compile(r"^SO\d{6}(\d{7,})$")
# The largest values the decimal columns hold (max_digits, decimal_places).
QUANTITY_MAX = Decimal("999999999.999")
PRICE_MAX = Decimal("9999999999.99")
TOTAL_MAX = Decimal("999999999999.99")
# Cells that describe the order rather than the line: the rows of one order must agree.
ORDER_FIELDS = (
    "customer",
    "customer_phone",
    "customer_email",
    "customer_company",
    "ordered_at",
    "status",
    "channel",
    "owner",
)
# What an "update" replaces on an existing order (besides its lines and total).
UPDATABLE = ("status", "ordered_at", "channel", "notes", "owner")
# Lifecycle moves that purchases make (sales.services._lifecycle_after_purchases): undo takes
# back these, and only these, before recomputing the statistics without the imported orders.
S = Customer.LifecycleStage
PURCHASE_MOVES = {
    (S.PROSPECT, S.NEW),
    (S.PROSPECT, S.EXISTING),
    (S.NEW, S.EXISTING),
    (S.CHURNED, S.EXISTING),
}
# More ways people write statuses and channels than the labels of the two languages.
STATUS_SYNONYMS = {
    "未付款": Order.Status.PENDING,
    "待支付": Order.Status.PENDING,
    "已支付": Order.Status.PAID,
    "已付": Order.Status.PAID,
    "完成": Order.Status.COMPLETED,
    "已完结": Order.Status.COMPLETED,
    "取消": Order.Status.CANCELLED,
    "退款": Order.Status.REFUNDED,
    "canceled": Order.Status.CANCELLED,
}
CHANNEL_SYNONYMS = {
    "线上": Order.Channel.ONLINE,
    "网上": Order.Channel.ONLINE,
    "电商": Order.Channel.ONLINE,
    "online": Order.Channel.ONLINE,
    "线下": Order.Channel.STORE,
    "电话销售": Order.Channel.PHONE,
    "销售代表": Order.Channel.SALES_REP,
    "业务员": Order.Channel.SALES_REP,
    "代理商": Order.Channel.DISTRIBUTOR,
    "其它": Order.Channel.OTHER,
}


# --- cell cleaners -------------------------------------------------------------------------


def _decimal(value, places: int, minimum: Decimal, maximum: Decimal) -> Decimal | None:
    """A number rounded half up to `places` (as money() does, whatever float noise Excel
    adds), between minimum and maximum."""
    too_large = ValidationError(_("Must be at most %(maximum)s.") % {"maximum": maximum})
    try:
        number = clean_decimal(value, places=10)
    except InvalidOperation:  # more digits than a Decimal holds
        raise too_large from None
    if number is None:
        return None
    number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if number < minimum:
        raise ValidationError(_("Must be at least %(minimum)s.") % {"minimum": minimum})
    if number > maximum:
        raise too_large
    return number


def _quantity(value) -> Decimal | None:
    return _decimal(value, 3, Decimal("0.001"), QUANTITY_MAX)


def _price(value) -> Decimal | None:
    return _decimal(value, 2, Decimal("0"), PRICE_MAX)


def _discount(value) -> Decimal | None:
    """Percent off: 15, 15.5 or "15%"."""
    if isinstance(value, str):
        value = value.replace("%", "").replace("％", "")
    return _decimal(value, 2, Decimal("0"), Decimal("100"))


def _phone(value) -> str:
    text = clean_phone_text(value)
    return normalize_phone(text) if text else ""


def _email(value) -> str:
    text = clean_text(value)
    return normalize_email(text) if text else ""


def _ordered_at(value) -> datetime | None:
    moment = clean_datetime(value)
    if moment is None:
        return None
    return timezone.make_aware(moment, timezone.get_default_timezone())


def _choice(field_name: str, synonyms: dict[str, str]):
    choices = list(Order._meta.get_field(field_name).choices)
    lookup = choice_lookup(choices)
    for text, value in synonyms.items():
        lookup.setdefault(normalise_header(text), value)

    def clean(value):
        return clean_choice(value, lookup, [str(label) for _value, label in choices])

    return clean, choices


def _columns() -> list[Column]:
    order_label = lambda name: Order._meta.get_field(name).verbose_name  # noqa: E731
    line_label = lambda name: OrderLine._meta.get_field(name).verbose_name  # noqa: E731
    status, status_choices = _choice("status", STATUS_SYNONYMS)
    channel, channel_choices = _choice("channel", CHANNEL_SYNONYMS)
    return [
        Column(
            "number",
            order_label("number"),
            ("订单号", "订单编号", "单号", "order number", "order no", "order no.", "order id"),
            partial(clean_text, max_length=NUMBER_MAX_LENGTH),
            note=gettext_lazy(
                "The lines of one order share its number and are on consecutive rows. Empty: the row is an order of its own and gets a new number."
            ),
            example="SO-2024-0001",
        ),
        Column(
            "customer",
            order_label("customer"),
            ("客户", "客户名称", "客户姓名", "客户名", "customer", "customer name"),
            partial(clean_text, max_length=Customer._meta.get_field("name").max_length),
            note=gettext_lazy(
                "One of your customers, found by phone, else email, else exact name (and company)."
            ),
            example="张伟",
        ),
        Column(
            "customer_phone",
            gettext_lazy("customer phone"),
            (
                "客户手机",
                "手机",
                "手机号",
                "手机号码",
                "客户电话",
                "联系电话",
                "customer phone",
                "phone",
                "mobile",
            ),
            _phone,
            example="13800138000",
        ),
        Column(
            "customer_email",
            gettext_lazy("customer email"),
            ("客户邮箱", "邮箱", "电子邮箱", "customer email", "email", "e-mail"),
            _email,
        ),
        Column(
            "customer_company",
            gettext_lazy("customer's company"),
            ("公司", "客户公司", "公司名称", "单位", "company", "customer company"),
            partial(clean_text, max_length=Customer._meta.get_field("company").max_length),
        ),
        Column(
            "ordered_at",
            order_label("ordered_at"),
            ("下单日期", "订单日期", "日期", "下单时间", "order date", "date", "ordered at"),
            _ordered_at,
            note=gettext_lazy("A date, or a date and time, e.g. 2024-05-20 or 2024/5/20 14:30."),
            example="2024-05-20",
        ),
        Column(
            "status",
            order_label("status"),
            ("状态", "订单状态", "status", "order status"),
            status,
            choices=[(value, label) for value, label in status_choices],
            note=gettext_lazy("Empty: pending."),
            example=Order.Status.PAID.label,
        ),
        Column(
            "channel",
            order_label("channel"),
            ("渠道", "销售渠道", "channel", "sales channel"),
            channel,
            choices=[(value, label) for value, label in channel_choices],
            note=gettext_lazy("Empty: sales rep."),
        ),
        Column(
            "product",
            line_label("product"),
            ("产品", "产品名称", "商品", "商品名称", "品名", "product", "product name"),
            partial(clean_text, max_length=Product._meta.get_field("name").max_length),
            note=gettext_lazy("The exact product name, or give the product code instead."),
            example="办公椅",
        ),
        Column(
            "product_code",
            Product._meta.get_field("sku").verbose_name,
            ("产品编码", "商品编码", "货号", "sku", "product code", "item code"),
            partial(clean_text, max_length=Product._meta.get_field("sku").max_length),
        ),
        Column(
            "quantity",
            line_label("quantity"),
            ("数量", "quantity", "qty"),
            _quantity,
            required=True,
            example="2",
        ),
        Column(
            "unit_price",
            line_label("unit_price"),
            ("单价", "价格", "unit price", "price"),
            _price,
            note=gettext_lazy("Empty: the product's price."),
            example="199.00",
        ),
        Column(
            "discount",
            line_label("discount"),
            ("折扣", "折扣%", "折扣率", "discount", "discount %"),
            _discount,
            note=gettext_lazy("Percent off this line, 0–100."),
            example="10",
        ),
        Column(
            "notes",
            order_label("notes"),
            ("备注", "说明", "notes", "note", "remark", "remarks"),
            clean_text,
        ),
        Column(
            "owner",
            order_label("owner"),
            ("负责人", "销售", "业务员", "销售员", "owner", "sales rep"),
            clean_text,
            note=gettext_lazy("User name or full name of a colleague; empty: the customer's owner."),
        ),
    ]


# --- planning ------------------------------------------------------------------------------


class _Refused(Exception):
    """The order cannot be imported. `row`: the line at fault (the other rows of the order
    then say so); None: every row gets the message."""

    def __init__(self, message: str, *, field: str = "", value: Any = "", row: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.value = value
        self.row = row


@dataclass
class _Plan:
    """An order to create (existing is None) or to update, with its new lines."""

    rows: list[Row]
    order: Order
    lines: list[OrderLine]
    existing: Order | None = None
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def _groups(rows: list[Row]) -> list[list[Row]]:
    """Consecutive rows with the same order number; a row without one is an order of its own."""
    groups: list[list[Row]] = []
    for row in rows:
        number = row.values.get("number")
        if number and groups and groups[-1][0].values.get("number") == number:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _refuse(rows: list[Row], refusal: _Refused) -> list[Outcome]:
    outcomes = []
    for row in rows:
        if refusal.row is None or row.number == refusal.row:
            outcomes.append(
                Outcome(row.number, "rejected", refusal.message, field=refusal.field, value=refusal.value)
            )
        else:
            outcomes.append(Outcome(row.number, "rejected", _another_line(refusal.row)))
    return outcomes


def _another_line(row: int) -> str:
    return _("Another line of this order (row %(row)d) was rejected, so the whole order is left out.") % {
        "row": row
    }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _line_state(product_id: int, quantity, unit_price, discount) -> list:
    """A line as JSON: quantities and prices with the column's decimal places, so that what
    the database returns compares equal to what the import wrote."""
    return [
        product_id,
        str(Decimal(quantity).quantize(Decimal("0.001"))),
        str(Decimal(unit_price).quantize(Decimal("0.01"))),
        str(Decimal(discount).quantize(Decimal("0.01"))),
    ]


def _order_state(order: Order, lines: list[OrderLine]) -> dict:
    return {
        "status": order.status,
        "ordered_at": _utc(order.ordered_at),
        "channel": order.channel,
        "notes": order.notes,
        "owner": order.owner_id,
        "total": str(money(order.total)),
        "lines": [
            _line_state(line.product_id, line.quantity, line.unit_price, line.discount) for line in lines
        ],
    }


class _Customers:
    """The batch's customers, found by every phone, email and name its rows give (one query,
    plus one for which of them the importing user may see)."""

    def __init__(self, user: User, rows: list[Row]):
        self.phone_keys = {
            row.values["customer_phone"]: phone_bidx(row.values["customer_phone"])
            for row in rows
            if row.values.get("customer_phone")
        }
        self.email_keys = {
            row.values["customer_email"]: email_bidx(row.values["customer_email"])
            for row in rows
            if row.values.get("customer_email")
        }
        names = {row.values["customer"] for row in rows if row.values.get("customer")}
        self.by_phone: dict[str, list[Customer]] = {}
        self.by_email: dict[str, list[Customer]] = {}
        self.by_name: dict[str, list[Customer]] = {}
        self.visible: set[int] = set()
        q = Q()
        phones = set(self.phone_keys.values())
        emails = set(self.email_keys.values())
        if phones:
            q |= Q(mobile_bidx__in=phones) | Q(other_phone_bidx__in=phones)
        if emails:
            q |= Q(email_bidx__in=emails)
        if names:
            q |= Q(name__in=names)
        if not q:
            return
        found = (
            Customer.objects.active()
            .filter(q)
            .select_related("owner")
            .only(
                "pk",
                "name",
                "company",
                "mobile_bidx",
                "other_phone_bidx",
                "email_bidx",
                "created_at",
                "owner",
                "team_id",
            )
            .order_by("created_at", "pk")
        )
        for customer in found:
            for key in {customer.mobile_bidx, customer.other_phone_bidx} & phones:
                self.by_phone.setdefault(key, []).append(customer)
            if customer.email_bidx in emails:
                self.by_email.setdefault(customer.email_bidx, []).append(customer)
            if customer.name in names:
                self.by_name.setdefault(customer.name, []).append(customer)
        ids = {
            c.pk
            for group in (self.by_phone, self.by_email, self.by_name)
            for cs in group.values()
            for c in cs
        }
        self.visible = set(Customer.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True))

    def resolve(self, values: dict[str, Any]) -> Customer:
        """Phone first, then email, then name (+ company): the first that matches anyone
        decides. Raises _Refused: nobody, several of the user's customers, or only customers
        the user may not see."""
        tried = []
        if values.get("customer_phone"):
            phone = values["customer_phone"]
            tried.append(("customer_phone", phone, self.by_phone.get(self.phone_keys[phone], [])))
        if values.get("customer_email"):
            email = values["customer_email"]
            tried.append(("customer_email", email, self.by_email.get(self.email_keys[email], [])))
        if values.get("customer"):
            name, company = values["customer"], values.get("customer_company", "")
            matches = self.by_name.get(name, [])
            if company:
                matches = [customer for customer in matches if customer.company == company]
            tried.append(("customer", name, matches))
        if not tried:
            raise _Refused(_("The customer is missing: give the customer's name, phone or email."))
        for field_name, value, matches in tried:
            if not matches:
                continue
            visible = [customer for customer in matches if customer.pk in self.visible]
            if len(visible) == 1:
                return visible[0]
            if visible:
                raise _Refused(
                    _(
                        "Several of your customers match “%(value)s”; give a detail that tells them apart (phone, email or company)."
                    )
                    % {"value": value},
                    field=field_name,
                    value=value,
                )
            raise _Refused(_not_yours(matches[0]), field=field_name, value=value)
        field_name, value, _matches = tried[0]
        raise _Refused(
            _(
                "No customer of yours matches this row's name, phone or email. Add or import the customer first."
            ),
            field=field_name,
            value=value,
        )


def _reserve_order_ids(count: int) -> list[int]:
    """`count` new order ids from the id sequence (PostgreSQL); [] elsewhere."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Order._meta.db_table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _generated_number(order: Order) -> str:
    """The number order_create() gives an order: SO + year and month ordered + id."""
    return f"SO{timezone.localtime(order.ordered_at):%Y%m}{order.pk:07d}"


def _not_yours(customer: Customer) -> str:
    """The customer exists but the importer may not see it: who owns it and since when,
    nothing else."""
    owner = str(customer.owner) if customer.owner_id else _("nobody (unassigned)")
    return _("This customer is owned by %(owner)s since %(date)s; you may not record orders for them.") % {
        "owner": owner,
        "date": timezone.localtime(customer.created_at).date().isoformat(),
    }


class OrderImporter(Importer):
    kind = "orders"
    label = gettext_lazy("Orders")
    permission = "sales.import_order"
    group_by = "number"
    # Existing orders are recognised by their number, the only way offered.
    match_choices = []
    default_match_on = []
    default_owner_help = gettext_lazy(
        "Owner of orders whose row names none and whose customer has no owner (otherwise the "
        "customer's owner)."
    )

    def __init__(self):
        self._columns: list[Column] | None = None

    @property
    def columns(self) -> list[Column]:  # built lazily: choice lookups need the apps loaded
        if self._columns is None:
            self._columns = _columns()
        return self._columns

    def owner_choices(self, user: User):
        if user.has_perm("customers.change_customer_owner"):
            return staff_choices()
        return User.objects.filter(pk=user.pk)

    def check_mapping(self, chosen: list[str]) -> list[str]:
        errors = []
        if not {"customer", "customer_phone", "customer_email"} & set(chosen):
            errors.append(_("Choose the column that names the customer (name, phone or email)."))
        if not {"product", "product_code"} & set(chosen):
            errors.append(_("Choose the column with the product (name or code)."))
        if "ordered_at" not in chosen:
            errors.append(_("Choose the column with the order date."))
        return errors

    def check_row(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        if not values.get("product") and not values.get("product_code"):
            return [("product", _("The product is missing: give its name or code."))]
        return []

    # --- processing ------------------------------------------------------------------------

    def process(self, job: ImportJob, rows: list[Row], state: RunState, *, dry_run: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        groups = _groups(rows)
        customers = _Customers(job.created_by, rows)
        self._load_products(rows, state)
        numbers = {row.values["number"] for row in rows if row.values.get("number")}
        existing = self._existing(job, numbers, lock=not dry_run)
        ceiling = Order.objects.aggregate(top=Max("pk"))["top"] or 0
        plans: list[_Plan] = []
        for group in groups:
            try:
                planned = self._plan(job, group, state, customers, existing, ceiling)
            except _Refused as refusal:
                outcomes.extend(_refuse(group, refusal))
                continue
            if isinstance(planned, _Plan):
                plans.append(planned)
            else:
                outcomes.extend(planned)
        if dry_run:
            for plan in plans:
                result = "updated" if plan.existing else "created"
                outcomes.extend(Outcome(row.number, result) for row in plan.rows)
            return outcomes
        self._remember_customers(plans, state)
        outcomes.extend(self._create(job, [plan for plan in plans if plan.existing is None]))
        outcomes.extend(self._update([plan for plan in plans if plan.existing is not None]))
        # Once per customer and batch, by the rules the order pages use.
        customers_refresh_purchase_stats(customer_ids={plan.order.customer_id for plan in plans})
        return outcomes

    def _plan(
        self,
        job: ImportJob,
        rows: list[Row],
        state: RunState,
        customers: _Customers,
        existing: dict[str, tuple[Order, bool, list[OrderLine]]],
        ceiling: int,
    ) -> "_Plan | list[Outcome]":
        """What to do with one order: a _Plan, skipped outcomes, or raises _Refused."""
        number = rows[0].values.get("number") or ""
        if number:
            earlier = state.seen.get(number)
            if earlier is not None and earlier != rows[0].number:
                raise _Refused(
                    _(
                        "Order number %(number)s is already on row %(row)d: the lines of one order must be on consecutive rows."
                    )
                    % {"number": number, "row": earlier},
                    field="number",
                    value=number,
                )
            state.seen[number] = rows[0].number
            if number in state.rejected_groups:
                raise _Refused(_another_line(state.rejected_groups[number]))
        values = self._order_values(rows)
        match = existing.get(number) if number else None
        if match is not None:
            _order, visible, _lines = match
            if job.on_duplicate == ImportJob.OnDuplicate.CREATE:
                number = ""  # a new order, with a new number
            elif not visible:
                return self._skip(
                    rows, _("An order with the number %(number)s exists and is not one of yours."), number
                )
            elif job.on_duplicate == ImportJob.OnDuplicate.SKIP:
                return self._skip(rows, _("Order %(number)s is already recorded."), number)
        elif number and (found := GENERATED_NUMBER.match(number)) and int(found.group(1)) > ceiling:
            # The CRM would give this number to a future order itself.
            raise _Refused(
                _(
                    "Order numbers like %(number)s are given by the CRM. Leave the cell empty to get a new number, or use your own numbering."
                )
                % {"number": number},
                field="number",
                value=number,
            )
        if not values.get("ordered_at"):
            raise _Refused(_("The order date is missing."), field="ordered_at")
        customer = customers.resolve(values)
        lines = [self._line(row, state) for row in rows]
        total = money(sum((line.line_total for line in lines), Decimal("0")))
        if total > TOTAL_MAX:
            raise _Refused(_("The order total is too large."))
        owner = self._owner(job, values.get("owner", ""), state)
        order = Order(
            number=number,
            customer=customer,
            ordered_at=values["ordered_at"],
            status=values.get("status") or Order.Status.PENDING,
            channel=values.get("channel") or Order.Channel.SALES_REP,
            owner=owner or customer.owner or job.default_owner or job.created_by,
            notes=values.get("notes", ""),
            total=total,
            created_by=job.created_by,
        )
        if match is None or job.on_duplicate == ImportJob.OnDuplicate.CREATE:
            return _Plan(rows, order, lines)
        return self._plan_update(rows, match, order, lines, values, owner)

    def _plan_update(self, rows, match, incoming: Order, lines, values, owner) -> "_Plan | list[Outcome]":
        """Replace status, date, channel, notes, owner (the cells given) and the lines."""
        order, _visible, old_lines = match
        if order.customer_id != incoming.customer_id:
            raise _Refused(
                _(
                    "Order %(number)s is recorded for another customer; an import does not move orders between customers."
                )
                % {"number": order.number},
                field="number",
                value=order.number,
            )
        if not order.is_counted:
            return self._skip(
                rows, _("Order %(number)s is cancelled or refunded and cannot change any more."), order.number
            )
        before = _order_state(order, old_lines)
        changed = Order(
            pk=order.pk,
            number=order.number,
            customer_id=order.customer_id,
            ordered_at=incoming.ordered_at,
            status=values.get("status") or order.status,
            channel=values.get("channel") or order.channel,
            notes=values.get("notes") or order.notes,
            owner_id=owner.pk if owner is not None else order.owner_id,
            total=incoming.total,
        )
        after = _order_state(changed, lines)
        if after == before:
            return self._skip(
                rows, _("Order %(number)s is already recorded with the same details."), order.number
            )
        keys = [key for key in after if after[key] != before[key]]
        for name in (*UPDATABLE, "total"):
            name = "owner_id" if name == "owner" else name
            setattr(order, name, getattr(changed, name))
        return _Plan(
            rows,
            order,
            lines,
            existing=order,
            before={key: before[key] for key in keys},
            after={key: after[key] for key in keys},
        )

    def _skip(self, rows: list[Row], message: str, number: str) -> list[Outcome]:
        text = message % {"number": number}
        return [Outcome(row.number, "skipped", text, field="number", value=number) for row in rows]

    def _order_values(self, rows: list[Row]) -> dict[str, Any]:
        """The order's cells: each from whichever rows give it; rows that disagree refuse
        the order. Notes of several rows are joined."""
        values: dict[str, Any] = {}
        first_row: dict[str, int] = {}
        for row in rows:
            for name in ORDER_FIELDS:
                value = row.values.get(name)
                if value is None or value == "":
                    continue
                if name not in values:
                    values[name] = value
                    first_row[name] = row.number
                elif values[name] != value:
                    column = self.columns_by_name()[name].label
                    raise _Refused(
                        _("The lines of this order disagree on “%(column)s” (row %(first)d and row %(row)d).")
                        % {"column": column, "first": first_row[name], "row": row.number},
                        field=name,
                        value=row.values.get(name),
                        row=row.number,
                    )
        notes = []
        for row in rows:
            if row.values.get("notes") and row.values["notes"] not in notes:
                notes.append(row.values["notes"])
        values["notes"] = "\n".join(notes)
        return values

    def _load_products(self, rows: list[Row], state: RunState) -> None:
        """Products by code and by name, for this batch's rows, cached for the run."""
        by_code = state.cache.setdefault("products_by_code", {})
        by_name = state.cache.setdefault("products_by_name", {})
        codes = {row.values["product_code"] for row in rows if row.values.get("product_code")} - set(by_code)
        names = {row.values["product"] for row in rows if row.values.get("product")} - set(by_name)
        fields = ("pk", "name", "sku", "unit_price", "active")
        if codes:
            for product in Product.objects.filter(sku__in=codes).only(*fields):
                by_code[product.sku] = product
            for code in codes:
                by_code.setdefault(code, None)
        if names:
            for product in Product.objects.filter(name__in=names).only(*fields).order_by("pk"):
                by_name.setdefault(product.name, []).append(product)
            for name in names:
                by_name.setdefault(name, [])

    def _line(self, row: Row, state: RunState) -> OrderLine:
        code, name = row.values.get("product_code"), row.values.get("product")
        if code:
            product = state.cache["products_by_code"].get(code)
            if product is None:
                raise _Refused(
                    _("No product has the code “%(code)s”.") % {"code": code},
                    field="product_code",
                    value=code,
                    row=row.number,
                )
        else:
            candidates = state.cache["products_by_name"].get(name, [])
            if len(candidates) > 1:
                # Several with one name: the one still on sale, if only one is.
                candidates = [product for product in candidates if product.active] or candidates
            if not candidates:
                raise _Refused(
                    _("No product is named “%(name)s”.") % {"name": name},
                    field="product",
                    value=name,
                    row=row.number,
                )
            if len(candidates) > 1:
                raise _Refused(
                    _("Several products are named “%(name)s”; give the product code.") % {"name": name},
                    field="product",
                    value=name,
                    row=row.number,
                )
            product = candidates[0]
        unit_price = row.values.get("unit_price")
        line = OrderLine(
            product=product,
            quantity=row.values["quantity"],
            unit_price=product.unit_price if unit_price is None else unit_price,
            discount=row.values.get("discount") or Decimal("0"),
        )
        if line.line_total > TOTAL_MAX:
            raise _Refused(_("The order total is too large."), row=row.number)
        return line

    def _owner(self, job: ImportJob, text: str, state: RunState) -> User | None:
        if not text:
            return None
        owners = state.cache.get("owners")
        if owners is None:
            owners = {}
            for user in self.owner_choices(job.created_by):
                for key in (user.username, user.get_full_name(), str(user)):
                    if key:
                        owners.setdefault(key.strip().lower(), user)
            state.cache["owners"] = owners
        try:
            return owners[text.strip().lower()]
        except KeyError:
            raise _Refused(
                _("“%(owner)s” is not a colleague you may make the owner of orders.") % {"owner": text},
                field="owner",
                value=text,
            ) from None

    def _existing(
        self, job: ImportJob, numbers: set[str], *, lock: bool
    ) -> dict[str, tuple[Order, bool, list[OrderLine]]]:
        """Orders with the batch's numbers: (order, whether the user may see it, its lines if
        it may be updated). Locked when they are about to be updated."""
        if not numbers:
            return {}
        orders = Order.objects.filter(number__in=numbers)
        if lock and job.on_duplicate == ImportJob.OnDuplicate.UPDATE:
            orders = orders.select_for_update()
        orders = list(orders)
        visible = set(
            Order.objects.visible_to(job.created_by)
            .filter(pk__in=[order.pk for order in orders])
            .values_list("pk", flat=True)
        )
        lines: dict[int, list[OrderLine]] = {}
        if job.on_duplicate == ImportJob.OnDuplicate.UPDATE and visible:
            for line in OrderLine.objects.filter(order_id__in=visible).order_by("order_id", "id"):
                lines.setdefault(line.order_id, []).append(line)
        return {order.number: (order, order.pk in visible, lines.get(order.pk, [])) for order in orders}

    def _remember_customers(self, plans: list[_Plan], state: RunState) -> None:
        """Before the import first touches a customer, keep what its orders may change
        (lifecycle stage, churn warning), on that order's first row, for undo."""
        remembered = state.cache.setdefault("customers_remembered", set())
        new = {plan.order.customer_id for plan in plans} - remembered
        if not new:
            return
        snapshots = {
            row["pk"]: {
                "id": row["pk"],
                "lifecycle_stage": row["lifecycle_stage"],
                "churn_flagged_at": row["churn_flagged_at"].isoformat() if row["churn_flagged_at"] else None,
                "churn_risk_score": row["churn_risk_score"],
                "churn_risk_reason": row["churn_risk_reason"],
            }
            for row in Customer.objects.filter(pk__in=new).values(
                "pk", "lifecycle_stage", "churn_flagged_at", "churn_risk_score", "churn_risk_reason"
            )
        }
        for plan in plans:
            customer_id = plan.order.customer_id
            if customer_id in new and customer_id not in remembered:
                plan.before = {**plan.before, "customer": snapshots[customer_id]}
                remembered.add(customer_id)

    def _create(self, job: ImportJob, plans: list[_Plan]) -> list[Outcome]:
        if not plans:
            return []
        orders = [plan.order for plan in plans]
        ids = _reserve_order_ids(len(plans))
        if ids:
            # Ids first, so orders without a number get theirs as order_create() makes it,
            # without saving twice.
            for order, pk in zip(orders, ids, strict=True):
                order.pk = pk
                order.number = order.number or _generated_number(order)
            Order.objects.bulk_create(orders, batch_size=1000)
        else:
            unnumbered = [order for order in orders if not order.number]
            for order in unnumbered:
                order.number = f"tmp-{uuid.uuid4().hex[:24]}"  # as order_create(), until the id is known
            Order.objects.bulk_create(orders, batch_size=1000)
            for order in unnumbered:
                order.number = _generated_number(order)
            update_rows(Order, unnumbered, ["number"])
        lines = []
        for plan in plans:
            for line in plan.lines:
                line.order_id = plan.order.pk
                lines.append(line)
        OrderLine.objects.bulk_create(lines, batch_size=1000)
        outcomes = []
        for plan in plans:
            first, *others = plan.rows
            outcomes.append(
                Outcome(first.number, "created", object_id=plan.order.pk, before=plan.before or None)
            )
            # One undo record per order: the other lines go with it.
            outcomes.extend(Outcome(row.number, "created") for row in others)
        return outcomes

    def _update(self, plans: list[_Plan]) -> list[Outcome]:
        if not plans:
            return []
        now = timezone.now()
        orders = []
        lines = []
        for plan in plans:
            plan.order.updated_at = now
            orders.append(plan.order)
            for line in plan.lines:
                line.order_id = plan.order.pk
                lines.append(line)
        update_rows(Order, orders, [*UPDATABLE, "total", "updated_at"])
        OrderLine.objects.filter(order_id__in=[order.pk for order in orders]).delete()
        OrderLine.objects.bulk_create(lines, batch_size=1000)
        outcomes = []
        for plan in plans:
            first, *others = plan.rows
            outcomes.append(
                Outcome(
                    first.number, "updated", object_id=plan.order.pk, before=plan.before, after=plan.after
                )
            )
            outcomes.extend(Outcome(row.number, "updated") for row in others)
        return outcomes

    # --- undo --------------------------------------------------------------------------------

    def undo(self, job: ImportJob, user: User) -> dict[str, int]:
        """Restore updated orders (parts changed since are left and counted as conflicts),
        delete created ones (those changed since, or now linked to an opportunity, are kept),
        then, for each customer whose orders were restored or deleted, take back the
        lifecycle move and churn-warning change the import made, and recompute the statistics."""
        counts = {"deleted": 0, "restored": 0, "conflicts": 0, "kept": 0}
        snapshots: dict[int, dict] = {}
        touched: set[int] = set()  # orders deleted or restored: the stage is taken back
        refresh: set[int] = set()
        updated = ImportItem.objects.filter(job=job, action=ImportItem.Action.UPDATED).order_by("-id")
        for item, before, after in item_values(updated.iterator(chunk_size=500)):
            snapshot = before.pop("customer", None)
            if snapshot:
                snapshots[snapshot["id"]] = snapshot
            customer_id, restored, conflicts = _restore(item.object_id, before, after)
            counts["restored"] += restored
            counts["conflicts"] += conflicts
            if customer_id:
                refresh.add(customer_id)
                if restored:
                    touched.add(customer_id)
        created = ImportItem.objects.filter(job=job, action=ImportItem.Action.CREATED).order_by("id")
        chunk: list[int] = []
        for item, before, _after in item_values(created.iterator(chunk_size=500)):
            if before.get("customer"):
                snapshots.setdefault(before["customer"]["id"], before["customer"])
            chunk.append(item.object_id)
            if len(chunk) >= 500:
                self._delete_created(job, chunk, counts, touched, refresh)
                chunk = []
        if chunk:
            self._delete_created(job, chunk, counts, touched, refresh)
        ids = sorted(refresh)
        for start in range(0, len(ids), 1000):
            chunk_ids = ids[start : start + 1000]
            _customers_restore({pk: snapshots[pk] for pk in chunk_ids if pk in touched and pk in snapshots})
            customers_refresh_purchase_stats(customer_ids=chunk_ids)
        return counts

    def _delete_created(
        self, job: ImportJob, ids: list[int], counts: dict, touched: set[int], refresh: set[int]
    ) -> None:
        orders = list(Order.objects.filter(pk__in=ids).values_list("pk", "customer_id", "updated_at"))
        linked = set(Opportunity.objects.filter(order_id__in=ids).values_list("order_id", flat=True))
        deletable = {
            pk: customer_id
            for pk, customer_id, updated_at in orders
            if pk not in linked and updated_at <= job.finished_at
        }
        Order.objects.filter(pk__in=list(deletable)).delete()
        refresh.update(customer_id for _pk, customer_id, _updated in orders)
        touched.update(deletable.values())
        counts["deleted"] += len(deletable)
        counts["kept"] += len(orders) - len(deletable)


def _restore(order_id: int, before: dict, after: dict) -> tuple[int | None, int, int]:
    """Put back what an import changed on an order, part by part (each field; the lines with
    the total), where nobody changed that part since. Returns (customer id, restored 0/1,
    conflicts)."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        return None, 0, 1
    lines = list(order.lines.order_by("id"))
    current = _order_state(order, lines)
    conflicts = 0
    changed = []
    for name in UPDATABLE:
        if name not in before:
            continue
        if current[name] != after[name]:
            conflicts += 1
            continue
        old = before[name]
        if name == "ordered_at":
            old = datetime.fromisoformat(old)
        setattr(order, "owner_id" if name == "owner" else name, old)
        changed.append(name)
    if "lines" in before:
        products = set(
            Product.objects.filter(pk__in=[line[0] for line in before["lines"]]).values_list("pk", flat=True)
        )
        if current["lines"] != after["lines"] or any(line[0] not in products for line in before["lines"]):
            conflicts += 1
        else:
            restored = [
                OrderLine(
                    order=order,
                    product_id=product_id,
                    quantity=Decimal(quantity),
                    unit_price=Decimal(unit_price),
                    discount=Decimal(discount),
                )
                for product_id, quantity, unit_price, discount in before["lines"]
            ]
            order.lines.all().delete()
            OrderLine.objects.bulk_create(restored)
            order.total = money(sum((line.line_total for line in restored), Decimal("0")))
            changed.append("total")
    if changed:
        order.save(update_fields=[*changed, "updated_at"])
    return order.customer_id, (1 if changed else 0), conflicts


def _customers_restore(snapshots: dict[int, dict]) -> None:
    """Take back the lifecycle moves and the ends of churn warnings that the imported orders
    may have caused; the statistics refresh that follows moves each stage forward again as
    far as the remaining orders justify. A stage set by hand, or moved otherwise, stays."""
    if not snapshots:
        return
    customers = Customer.objects.select_for_update().filter(pk__in=list(snapshots)).order_by("pk")
    changed = []
    for customer in customers.only(
        "lifecycle_stage",
        "lifecycle_stage_manual",
        "churn_flagged_at",
        "churn_risk_score",
        "churn_risk_reason",
    ):
        snapshot = snapshots[customer.pk]
        before = (customer.lifecycle_stage, customer.churn_flagged_at)
        if (
            not customer.lifecycle_stage_manual
            and (snapshot["lifecycle_stage"], customer.lifecycle_stage) in PURCHASE_MOVES
        ):
            customer.lifecycle_stage = snapshot["lifecycle_stage"]
        if snapshot["churn_flagged_at"] and customer.churn_flagged_at is None:
            customer.churn_flagged_at = datetime.fromisoformat(snapshot["churn_flagged_at"])
            customer.churn_risk_score = snapshot["churn_risk_score"]
            customer.churn_risk_reason = snapshot["churn_risk_reason"]
        if (customer.lifecycle_stage, customer.churn_flagged_at) != before:
            changed.append(customer)
    update_rows(
        Customer, changed, ["lifecycle_stage", "churn_flagged_at", "churn_risk_score", "churn_risk_reason"]
    )
