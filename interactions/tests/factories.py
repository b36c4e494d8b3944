from datetime import timedelta

from django.utils import timezone

from interactions.models import Interaction, Task, Ticket
from interactions.services import interaction_log, task_create, ticket_create


def make_interaction(customer, user, **data) -> Interaction:
    data.setdefault("summary", "电话回访")
    return interaction_log(user=user, customer=customer, data=data)


def make_task(assignee, customer=None, *, created_by=None, **data) -> Task:
    data.setdefault("title", "回访")
    data.setdefault("due_at", timezone.now() + timedelta(days=1))
    return task_create(user=created_by or assignee, data={"assignee": assignee, "customer": customer, **data})


def make_ticket(customer, user, **data) -> Ticket:
    data.setdefault("subject", "发货延迟")
    return ticket_create(user=user, data={"customer": customer, **data})
