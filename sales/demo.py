"""Demo products, orders and opportunities for `manage.py seed_demo`.

Deterministic (fixed seed) and idempotent (skipped once any order exists). Every order goes
through order_create() and every stage move through opportunity_move(), so the customers'
purchase statistics, lifecycle stages and the stage histories are exactly what production
would make. Opportunity histories are moved back in time afterwards with update()."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from core.models import User
from customers.models import Customer
from interactions.models import Task
from sales.models import Opportunity, OpportunityStageChange, Order, PipelineStage, Product, money
from sales.services import LineData, opportunity_create, opportunity_move, order_create

PRODUCTS = [
    # SKU, name, category, unit price
    ("SKU-1001", "人体工学办公椅", "办公家具", "1299.00"),
    ("SKU-1002", "电动升降办公桌", "办公家具", "2480.00"),
    ("SKU-1003", "八人会议桌", "办公家具", "3650.00"),
    ("SKU-1004", "A4 复印纸（5 包/箱）", "办公耗材", "165.00"),
    ("SKU-1005", "激光打印机硒鼓", "办公耗材", "389.00"),
    ("SKU-1006", "散装西湖龙井（公斤）", "礼品", "880.00"),
    ("SKU-1007", "中秋定制礼盒", "礼品", "158.00"),
    ("SKU-1008", "上门安装调试", "服务", "300.00"),
    ("SKU-1009", "27-inch 4K monitor", "IT equipment", "1699.00"),
    ("SKU-1010", "Wireless keyboard & mouse set", "IT equipment", "199.00"),
    ("SKU-1011", "CRM licence, 1 seat / year", "Software", "2400.00"),
    ("SKU-1012", "Extended warranty, 1 year", "Services", "499.00"),
]
# Sold by the kilo: fractional quantities.
BY_WEIGHT = {"SKU-1006"}
WEIGHTS = ["0.5", "1", "1.5", "2", "2.5"]
CHANNELS = [Order.Channel.SALES_REP, Order.Channel.ONLINE, Order.Channel.WECHAT, Order.Channel.PHONE]

OPPORTUNITY_TITLES = [
    "年度办公家具采购",
    "新办公室整体配置",
    "CRM 系统升级（50 个席位）",
    "员工中秋福利礼盒",
    "会议室改造项目",
    "全年办公耗材框架协议",
    "Annual toner supply contract",
    "IT equipment refresh",
    "Trade show gift boxes",
    "Seat expansion for the sales team",
]
NEXT_STEPS = [
    "安排上门演示",
    "发送正式报价",
    "等待预算审批",
    "约采购经理面谈",
    "Call after their budget meeting",
    "",
]
LOST_REASONS = [
    "价格高于客户预算",
    "选择了竞争对手",
    "项目取消",
    "客户内部采购流程变动",
    "Decision postponed to next year",
    "Went with a cheaper local supplier",
]


@transaction.atomic
def seed(stdout, users: dict[str, User]) -> None:
    if Order.objects.exists():
        stdout.write("Orders already present: demo orders and opportunities not added again.")
        return
    rng = random.Random(20261125)
    now = timezone.now()
    products = _products()
    customers = list(Customer.objects.active().select_related("owner").order_by("pk"))
    orders = sum(_orders_for(customer, products, users, rng, now) for customer in customers)
    opportunities = _opportunities(customers, products, users, rng, now)
    stdout.write(f"Added {len(products)} products, {orders} orders and {opportunities} opportunities.")


def _products() -> list[Product]:
    return [
        Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "category": category, "unit_price": Decimal(price)}
        )[0]
        for sku, name, category, price in PRODUCTS
    ]


def _lines(products: list[Product], rng: random.Random) -> list[LineData]:
    lines = []
    count = rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
    for product in rng.sample(products, k=min(count, len(products))):
        quantity = (
            Decimal(rng.choice(WEIGHTS))
            if product.sku in BY_WEIGHT
            else Decimal(rng.choice([1, 1, 1, 2, 2, 3, 5, 10]))
        )
        lines.append(
            LineData(
                product=product,
                quantity=quantity,
                discount=Decimal(rng.choices(["0", "5", "10", "12.5"], weights=[70, 12, 12, 6])[0]),
            )
        )
    return lines


def _status(age: timedelta, rng: random.Random) -> str:
    S = Order.Status
    if age < timedelta(days=2):
        return rng.choice([S.PENDING, S.PENDING, S.PAID])
    if age < timedelta(days=7):
        return rng.choice([S.PENDING, S.PAID, S.SHIPPED])
    if age < timedelta(days=20):
        return rng.choice([S.SHIPPED, S.COMPLETED, S.COMPLETED])
    return rng.choices([S.COMPLETED, S.CANCELLED, S.REFUNDED], weights=[90, 6, 4])[0]


def _purchase_dates(customer: Customer, rng: random.Random, now: datetime) -> list[datetime]:
    """A personal rhythm: every `interval` days (with jitter) from a start to a stop. Some
    customers stopped buying months ago (churn candidates); churned ones certainly did."""
    S = Customer.LifecycleStage
    stage = customer.lifecycle_stage
    known_since = max(customer.created_at, now - timedelta(days=730))
    if stage == S.PROSPECT:
        if rng.random() > 0.2:
            return []  # most prospects have not bought yet
        known_since = max(known_since, now - timedelta(days=60))
    elif stage == S.NEW:
        # One purchase, recently (a second one would make them an existing customer).
        return [now - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 600))]
    interval = rng.randint(20, 90)
    stop = now
    if stage == S.CHURNED:
        stop = now - timedelta(days=rng.randint(180, 420))
    elif rng.random() < 0.15:
        stop = now - timedelta(days=rng.randint(120, 300))
    at = known_since + timedelta(days=rng.uniform(0, interval))
    dates = []
    while at < stop:
        dates.append(at)
        at += timedelta(days=interval * rng.uniform(0.6, 1.4), minutes=rng.randint(-300, 300))
    if not dates and stage != S.PROSPECT:
        # Known too briefly for the rhythm: still, an existing customer has bought once.
        span = max(stop - known_since, timedelta(days=1))
        dates = [min(known_since + span * rng.random(), now - timedelta(hours=1))]
    return dates


def _orders_for(customer: Customer, products, users, rng: random.Random, now: datetime) -> int:
    dates = _purchase_dates(customer, rng, now)
    if not dates:
        return 0
    user = customer.owner or users["manager"]
    favourites = rng.sample(products, k=rng.randint(3, 5))
    channel = rng.choice(CHANNELS)
    for ordered_at in dates:
        order_create(
            user=user,
            data={
                "customer": customer,
                "ordered_at": ordered_at,
                "status": _status(now - ordered_at, rng),
                "channel": channel if rng.random() < 0.8 else rng.choice(CHANNELS),
            },
            lines=_lines(favourites if rng.random() < 0.85 else products, rng),
        )
    return len(dates)


# --- opportunities ---------------------------------------------------------------------------


def _opportunities(customers, products, users, rng: random.Random, now: datetime) -> int:
    stages = list(PipelineStage.objects.filter(active=True).order_by("order", "pk"))
    open_stages = [s for s in stages if s.kind == PipelineStage.Kind.OPEN]
    won = next((s for s in stages if s.kind == PipelineStage.Kind.WON), None)
    lost = next((s for s in stages if s.kind == PipelineStage.Kind.LOST), None)
    if not open_stages:
        return 0
    owners = [users["sales1"], users["sales2"], users["manager"]]
    by_owner = {o.pk: [c for c in customers if c.owner_id == o.pk] or customers for o in owners}
    # (how far along the open stages, how it ends): six in each open stage, some won and lost.
    plans = [(i, None) for i in range(len(open_stages)) for _ in range(6)]
    plans += [(rng.randint(1, len(open_stages) - 1), won) for _ in range(10)] if won else []
    plans += [(rng.randint(0, len(open_stages) - 1), lost) for _ in range(8)] if lost else []
    rng.shuffle(plans)
    for n, (reached, end) in enumerate(plans):
        owner = owners[n % len(owners)]
        customer = rng.choice(by_owner[owner.pk])
        _one_opportunity(customer, owner, open_stages[: reached + 1], end, products, users, rng, now)
    return len(plans)


def _one_opportunity(customer, owner, path, end, products, users, rng: random.Random, now: datetime) -> None:
    lines = _lines(products, rng)
    for line in lines:
        line.quantity *= rng.choice([5, 10, 20])  # a deal is bigger than a usual order
    amount = money(
        sum(line.quantity * line.product.unit_price * (100 - line.discount) / 100 for line in lines)
    )
    opportunity = opportunity_create(
        user=owner,
        data={
            "customer": customer,
            "owner": owner,
            "title": rng.choice(OPPORTUNITY_TITLES),
            "amount": amount,
            "source": customer.source,
            "stage": path[0],
            "next_step": rng.choice(NEXT_STEPS),
            "expected_close_date": (now + timedelta(days=rng.randint(7, 180))).date(),
        },
    )
    for stage in path[1:]:
        if rng.random() < 0.15 and stage is not path[-1]:
            continue  # some deals skip a stage
        opportunity = opportunity_move(
            opportunity=opportunity, stage=stage, user=rng.choice([owner, owner, users["manager"]])
        )
    if end is not None:
        reason = rng.choice(LOST_REASONS) if end.kind == PipelineStage.Kind.LOST else ""
        opportunity = opportunity_move(opportunity=opportunity, stage=end, user=owner, lost_reason=reason)
    times = _backdate_history(opportunity, rng, now)
    if end is not None and end.kind == PipelineStage.Kind.WON:
        closed = times[-1]
        order_create(
            user=owner,
            data={
                "customer": customer,
                "ordered_at": min(now, closed + timedelta(hours=rng.randint(2, 72))),
                "status": _status(now - closed, rng)
                if now - closed < timedelta(days=20)
                else Order.Status.COMPLETED,
                "channel": Order.Channel.SALES_REP,
                "notes": opportunity.title,
            },
            lines=lines,
            opportunity=opportunity,
        )


def _backdate_history(opportunity: Opportunity, rng: random.Random, now: datetime) -> list[datetime]:
    """Spread the stage changes (made just now) over the past weeks: history, time in each
    stage, the opportunity's dates and its automatic follow-up tasks move along."""
    changes = list(opportunity.stage_changes.select_related("to_stage").order_by("changed_at", "pk"))
    end = now - timedelta(days=rng.randint(0, 25), hours=rng.randint(0, 8))
    times = [end]
    for _change in changes[1:]:
        times.insert(0, times[0] - timedelta(days=rng.randint(3, 21), hours=rng.randint(0, 8)))
    for k, change in enumerate(changes):
        OpportunityStageChange.objects.filter(pk=change.pk).update(
            changed_at=times[k],
            seconds_in_previous=int((times[k] - times[k - 1]).total_seconds()) if k else 0,
        )
        stage = change.to_stage
        task = Task.objects.filter(rule_key=f"stage-entered:{change.pk}")
        if stage.follow_up_days is not None:
            task.update(created_at=times[k], due_at=times[k] + timedelta(days=stage.follow_up_days))
        if k + 1 < len(changes):  # that stage was left: its follow-up was done by then
            task.update(status=Task.Status.DONE, completed_at=times[k + 1], completed_by=opportunity.owner)
    closed = opportunity.stage.is_closed
    Opportunity.objects.filter(pk=opportunity.pk).update(
        created_at=times[0],
        stage_entered_at=end,
        last_activity_at=end,
        closed_at=end if closed else None,
        expected_close_date=end.date() if closed else opportunity.expected_close_date,
    )
    return times
