"""Demo interactions, tasks, tickets and articles for `seed_demo` (idempotent)."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.models import User
from customers.models import Customer
from interactions.models import Article, Interaction, Priority, Task, Ticket
from interactions.services import (
    customer_touch,
    interaction_log,
    task_create,
    ticket_assign,
    ticket_comment,
    ticket_create,
    ticket_transition,
)

SUMMARIES = [
    ("phone", "电话回访，了解使用情况", "客户表示满意，计划下月加购"),
    ("wechat", "微信沟通新品报价", "已发送报价单，等待回复"),
    ("visit", "上门拜访，演示新功能", "客户对批量导入很感兴趣"),
    ("email", "Sent the renewal quote", "Waiting for their purchasing department"),
    ("meeting", "季度业务回顾会议", "确定下季度采购计划"),
    ("phone", "Follow-up call about delivery", "Delivery confirmed for next week"),
    ("sms", "发送节日问候短信", ""),
]
COMPLAINTS = [
    ("发货延迟，客户不满", "订单延迟三天发货，客户要求说明原因"),
    ("产品质量问题投诉", "收到的货物外包装破损，部分产品受损"),
    ("Invoice amount is wrong", "The invoice shows the old unit price"),
]
TASKS = [
    "回访确认满意度",
    "发送合同草稿",
    "准备报价单",
    "Call back about the quote",
    "安排上门演示",
    "确认发货时间",
]
ARTICLES = [
    (
        "发货延迟如何处理",
        "1. 查询物流单号；2. 向客户说明原因并给出预计到达时间；3. 必要时补偿运费。",
        "complaint",
    ),
    ("发票信息有误的更正流程", "作废原发票，按正确信息重开，并在工单中附上新发票号。", "after_sales"),
    (
        "How to reset a customer's portal password",
        "Open the customer, choose Contacts, send the reset link.",
        "inquiry",
    ),
]


@transaction.atomic
def seed(stdout, users: dict[str, User]) -> None:
    if Interaction.objects.exists() or Task.objects.exists() or Ticket.objects.exists():
        stdout.write("Interactions already present: demo interactions not added again.")
        return
    rng = random.Random(20261124)
    now = timezone.now()
    service = users["service1"]
    customers = list(Customer.objects.active().select_related("owner").order_by("pk"))
    logged = tasks = tickets = 0
    for customer in customers:
        staff = customer.owner or users["manager"]
        for _ in range(rng.randint(0, 6)):
            channel, summary, outcome = rng.choice(SUMMARIES)
            when = now - timedelta(days=rng.randint(0, 240), hours=rng.randint(0, 10))
            interaction_log(
                user=staff,
                customer=customer,
                data={
                    "channel": channel,
                    "direction": rng.choice(["out", "out", "in"]),
                    "occurred_at": when,
                    "summary": summary,
                    "outcome": outcome,
                    "satisfaction": rng.choice([None, None, 3, 4, 5]),
                },
            )
            logged += 1
        if rng.random() < 0.45:
            due = now + timedelta(days=rng.randint(-5, 20), hours=rng.randint(0, 8))
            task_create(
                user=staff,
                data={
                    "customer": customer,
                    "title": rng.choice(TASKS),
                    "due_at": due,
                    "assignee": staff,
                    "priority": rng.choice([Priority.NORMAL, Priority.NORMAL, Priority.HIGH]),
                },
            )
            tasks += 1
        if rng.random() < 0.12:
            subject, description = rng.choice(COMPLAINTS)
            complaint = interaction_log(
                user=service,
                customer=customer,
                data={
                    "kind": Interaction.Kind.COMPLAINT,
                    "channel": "phone",
                    "direction": "in",
                    "summary": subject,
                    "details": description,
                    "satisfaction": rng.choice([1, 2]),
                },
            )
            ticket = ticket_create(
                user=service,
                data={
                    "customer": customer,
                    "subject": subject,
                    "description": description,
                    "category": Ticket.Category.COMPLAINT,
                    "priority": rng.choice([Priority.NORMAL, Priority.HIGH, Priority.URGENT]),
                },
            )
            complaint.ticket = ticket
            complaint.save(update_fields=["ticket"])
            # Spread opening times so some tickets are past their SLA.
            opened = now - timedelta(hours=rng.randint(1, 96))
            Ticket.objects.filter(pk=ticket.pk).update(
                created_at=opened, sla_due_at=opened + (ticket.sla_due_at - ticket.created_at)
            )
            ticket.refresh_from_db()
            if rng.random() < 0.7:
                ticket_assign(ticket=ticket, assignee=service, user=users["manager"])
                ticket_comment(ticket=ticket, user=service, body="已联系客户，正在核实情况。", internal=True)
            if rng.random() < 0.3:
                ticket_transition(ticket=ticket, to_status="in_progress", user=service)
                ticket_transition(
                    ticket=ticket,
                    to_status="resolved",
                    user=service,
                    resolution="已补发货物并致歉，客户接受。",
                )
            tickets += 1
    for customer in customers:
        last = Interaction.objects.filter(customer=customer).order_by("-occurred_at").first()
        if last:
            customer_touch(customer_id=customer.pk, at=last.occurred_at)
    for title, body, category in ARTICLES:
        Article.objects.create(title=title, body=body, category=category, created_by=service)
    stdout.write(
        f"Added {logged} interactions, {tasks} tasks, {tickets} tickets and {len(ARTICLES)} articles."
    )
