from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from core.models import User
from core.pagination import SortOption, keyset_page
from core.views_exports import export_response
from customers.models import Customer
from interactions import selectors, services
from interactions.forms import (
    ArticleForm,
    FollowUpForm,
    InteractionForm,
    PostponeForm,
    ReassignForm,
    TaskForm,
    TicketAssignForm,
    TicketCommentForm,
    TicketForm,
    TicketTransitionForm,
)
from interactions.models import Article, Interaction, Task, Ticket
from interactions.selectors import article_search, articles_matching


def _errors_to_messages(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _next_url(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# --- access helpers ----------------------------------------------------------------------


def _get_customer_for_user(user: User, pk: int) -> Customer:
    return get_object_or_404(Customer.objects.visible_to(user), pk=pk)


def _get_interaction_for_user(user: User, pk: int) -> Interaction:
    qs = Interaction.objects.visible_to(user).select_related("customer", "contact", "created_by", "ticket")
    return get_object_or_404(qs, pk=pk)


def _get_rw_interaction_for_user(user: User, pk: int) -> Interaction:
    """Editable by whoever logged it, and by users who may change any interaction."""
    interaction = _get_interaction_for_user(user, pk)
    if interaction.created_by_id != user.pk and not user.has_perm("interactions.change_interaction"):
        raise PermissionDenied
    return interaction


def _get_task_for_user(user: User, pk: int) -> Task:
    return get_object_or_404(Task.objects.visible_to(user).select_related("customer", "assignee"), pk=pk)


def _get_rw_task_for_user(user: User, pk: int) -> Task:
    """The assignee, the creator and those who may reassign tasks may change a task."""
    task = _get_task_for_user(user, pk)
    if user.pk not in (task.assignee_id, task.created_by_id) and not user.has_perm(
        "interactions.reassign_task"
    ):
        raise PermissionDenied
    return task


def _get_ticket_for_user(user: User, pk: int) -> Ticket:
    qs = Ticket.objects.visible_to(user).select_related("customer", "contact", "assignee", "created_by")
    return get_object_or_404(qs, pk=pk)


def _get_rw_ticket_for_user(user: User, pk: int) -> Ticket:
    ticket = _get_ticket_for_user(user, pk)
    if not user.has_perm("interactions.change_ticket"):
        raise PermissionDenied
    return ticket


# --- interactions ------------------------------------------------------------------------


@permission_required("interactions.view_interaction", raise_exception=True)
def interaction_list(request: HttpRequest) -> HttpResponse:
    """Queries: session, user, perms (2), managed teams, staff choices, capped count, page."""
    filterset = selectors.interaction_list_filter(request.user, request.GET)
    qs = filterset.qs.select_related("customer", "created_by", "contact")
    page = keyset_page(qs, selectors.INTERACTION_LIST_SORT, request.GET.get("cursor"), 50)
    params = request.GET.copy()
    params.pop("cursor", None)
    ctx = {"filter": filterset, "page": page, "filter_query": params.urlencode()}
    return render(request, "interactions/interaction_list.html", ctx)


@permission_required("interactions.export_interaction", raise_exception=True)
def interaction_export(request: HttpRequest) -> HttpResponse:
    """The interactions of the list's current filters as xlsx or csv (interactions.exports;
    long lists in the background)."""
    return export_response(request, "interactions")


@permission_required("interactions.add_interaction", raise_exception=True)
def interaction_create(request: HttpRequest, customer_pk: int) -> HttpResponse:
    """Log an interaction (quick form on the customer page, or this full page), with an
    optional follow-up task."""
    customer = _get_customer_for_user(request.user, customer_pk)
    form = InteractionForm(request.POST or None, customer=customer)
    follow_up = FollowUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and follow_up.is_valid():
        try:
            interaction = services.interaction_log(
                user=request.user, customer=customer, data=form.cleaned_data
            )
            if follow_up.cleaned_data.get("follow_up"):
                services.task_create(
                    user=request.user,
                    data={
                        "customer": customer,
                        "title": follow_up.cleaned_data["follow_up_title"].strip(),
                        "due_at": follow_up.cleaned_data["follow_up_due"],
                        "assignee": request.user,
                        "notes": interaction.next_step,
                    },
                )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Interaction logged."))
            if follow_up.cleaned_data.get("follow_up"):
                messages.success(request, _("Follow-up task created."))
            return redirect(_next_url(request, reverse("customers:detail", args=[customer.pk]) + "#timeline"))
    ctx = {"form": form, "follow_up": follow_up, "customer": customer}
    return render(request, "interactions/interaction_form.html", ctx)


def interaction_edit(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _get_rw_interaction_for_user(request.user, pk)
    form = InteractionForm(request.POST or None, instance=interaction, customer=interaction.customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.interaction_update(interaction=interaction, user=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("interactions:interaction_detail", pk=interaction.pk)
    ctx = {"form": form, "customer": interaction.customer, "interaction": interaction}
    return render(request, "interactions/interaction_form.html", ctx)


def interaction_detail(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _get_interaction_for_user(request.user, pk)
    ctx = {
        "interaction": interaction,
        "can_edit": interaction.created_by_id == request.user.pk
        or request.user.has_perm("interactions.change_interaction"),
        "can_ticket": request.user.has_perm("interactions.add_ticket")
        and interaction.kind != Interaction.Kind.CONTACT
        and not interaction.ticket_id,
    }
    return render(request, "interactions/interaction_detail.html", ctx)


@require_POST
@permission_required("interactions.add_ticket", raise_exception=True)
def interaction_to_ticket(request: HttpRequest, pk: int) -> HttpResponse:
    interaction = _get_interaction_for_user(request.user, pk)
    if interaction.kind == Interaction.Kind.CONTACT:
        messages.error(request, _("Only feedback and complaints can become tickets."))
        return redirect("interactions:interaction_detail", pk=pk)
    ticket = services.complaint_to_ticket(interaction=interaction, user=request.user)
    messages.success(request, _("Ticket #%(number)s opened from this complaint.") % {"number": ticket.pk})
    return redirect("interactions:ticket_detail", pk=ticket.pk)


# --- tasks ------------------------------------------------------------------------------

SECTION_LIMIT = 100


def _task_sections(qs) -> dict[str, list[Task]]:
    """Overdue, today, upcoming: three bounded queries."""
    now = timezone.now()
    end_of_today = timezone.make_aware(datetime.combine(timezone.localdate(), time.max))
    qs = qs.open().select_related("customer", "assignee")
    return {
        "overdue": list(qs.filter(due_at__lt=now).order_by("due_at", "-priority")[:SECTION_LIMIT]),
        "today": list(
            qs.filter(due_at__gte=now, due_at__lte=end_of_today).order_by("due_at")[:SECTION_LIMIT]
        ),
        "upcoming": list(qs.filter(due_at__gt=end_of_today).order_by("due_at")[:SECTION_LIMIT]),
    }


@permission_required("interactions.view_task", raise_exception=True)
def my_tasks(request: HttpRequest) -> HttpResponse:
    sections = _task_sections(Task.objects.filter(assignee=request.user))
    done = list(
        Task.objects.filter(assignee=request.user)
        .exclude(status=Task.Status.OPEN)
        .select_related("customer")
        .order_by("-completed_at")[:10]
    )
    ctx = {"sections": sections, "recently_done": done, "postpone_form": PostponeForm(), "team_view": False}
    return render(request, "interactions/task_list.html", ctx)


@permission_required("interactions.reassign_task", raise_exception=True)
def team_tasks(request: HttpRequest) -> HttpResponse:
    """Open tasks of the members of the teams the user manages (admins: everyone's)."""
    members = User.objects.filter(is_active=True)
    if not request.user.is_superuser:
        members = members.filter(team_id__in=request.user.managed_team_ids)
    assignee_id = request.GET.get("assignee")
    qs = Task.objects.filter(assignee__in=members)
    if assignee_id and assignee_id.isdigit():
        qs = qs.filter(assignee_id=int(assignee_id))
    load = (
        Task.objects.open()
        .filter(assignee__in=members)
        .values("assignee")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lt=timezone.now())))
    )
    load_by_user = {row["assignee"]: row for row in load}
    people = [(m, load_by_user.get(m.pk, {"open": 0, "overdue": 0})) for m in members.order_by("username")]
    ctx = {
        "sections": _task_sections(qs),
        "people": people,
        "assignee_id": assignee_id,
        "reassign_form": ReassignForm(),
        "postpone_form": PostponeForm(),
        "team_view": True,
    }
    return render(request, "interactions/task_list.html", ctx)


@permission_required("interactions.add_task", raise_exception=True)
def task_create(request: HttpRequest) -> HttpResponse:
    visible = Customer.objects.visible_to(request.user)
    customer = None
    customer_id = request.GET.get("customer") or request.POST.get("customer")
    if customer_id:
        if not str(customer_id).isdigit():
            raise PermissionDenied
        customer = get_object_or_404(visible, pk=int(customer_id))
    form = TaskForm(
        request.POST or None, user=request.user, customer_choices=visible, initial={"customer": customer}
    )
    if request.method == "POST" and form.is_valid():
        try:
            task = services.task_create(user=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Task “%(title)s” created.") % {"title": task.title})
            default = (
                reverse("customers:detail", args=[customer.pk])
                if customer
                else reverse("interactions:my_tasks")
            )
            return redirect(_next_url(request, default))
    return render(request, "interactions/task_form.html", {"form": form, "customer": customer})


def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = _get_task_for_user(request.user, pk)
    can_edit = request.user.pk in (task.assignee_id, task.created_by_id) or request.user.has_perm(
        "interactions.reassign_task"
    )
    visible = Customer.objects.visible_to(request.user)
    form = TaskForm(request.POST or None, instance=task, user=request.user, customer_choices=visible)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        if form.is_valid():
            try:
                services.task_update(task=task, user=request.user, data=form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Changes saved."))
                return redirect(_next_url(request, reverse("interactions:my_tasks")))
    ctx = {"form": form, "task": task, "customer": task.customer, "can_edit": can_edit}
    return render(request, "interactions/task_form.html", ctx)


@require_POST
def task_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Complete, cancel, reopen or postpone, from any list."""
    task = _get_rw_task_for_user(request.user, pk)
    try:
        if action == "complete":
            services.task_complete(task=task, user=request.user)
            messages.success(request, _("Task “%(title)s” done.") % {"title": task.title})
        elif action == "cancel":
            services.task_cancel(task=task, user=request.user)
            messages.success(request, _("Task “%(title)s” cancelled.") % {"title": task.title})
        elif action == "reopen":
            services.task_reopen(task=task, user=request.user)
            messages.success(request, _("Task “%(title)s” reopened.") % {"title": task.title})
        elif action == "postpone":
            form = PostponeForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form.non_field_errors() or _("Choose how long to postpone."))
            services.task_postpone(task=task, user=request.user, until=form.target(task.due_at))
            messages.success(
                request,
                _("Task “%(title)s” postponed to %(when)s.")
                % {"title": task.title, "when": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")},
            )
        else:
            raise PermissionDenied
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    return redirect(_next_url(request, reverse("interactions:my_tasks")))


@require_POST
@permission_required("interactions.reassign_task", raise_exception=True)
def task_reassign(request: HttpRequest) -> HttpResponse:
    form = ReassignForm(request.POST)
    if form.is_valid():
        tasks = Task.objects.visible_to(request.user).filter(pk__in=form.cleaned_data["ids"])
        try:
            count = services.tasks_reassign(
                tasks=tasks, assignee=form.cleaned_data["assignee"], user=request.user
            )
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            messages.success(
                request,
                ngettext("%(count)d task reassigned.", "%(count)d tasks reassigned.", count)
                % {"count": count},
            )
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    return redirect(_next_url(request, reverse("interactions:team_tasks")))


# --- tickets ------------------------------------------------------------------------------


@permission_required("interactions.view_ticket", raise_exception=True)
def ticket_list(request: HttpRequest) -> HttpResponse:
    filterset = selectors.ticket_list_filter(request.user, request.GET)
    qs = filterset.qs.select_related("customer", "assignee")
    page = keyset_page(qs, selectors.TICKET_LIST_SORT, request.GET.get("cursor"), 50)
    params = request.GET.copy()
    params.pop("cursor", None)
    ctx = {
        "filter": filterset,
        "page": page,
        "filter_query": params.urlencode(),
        "breached_count": Ticket.objects.visible_to(request.user)
        .sla_breached()
        .order_by()
        .values("pk")[:1000]
        .count(),
    }
    return render(request, "interactions/ticket_list.html", ctx)


@permission_required("interactions.export_ticket", raise_exception=True)
def ticket_export(request: HttpRequest) -> HttpResponse:
    """The tickets of the list's current filters as xlsx or csv (interactions.exports; long
    lists in the background)."""
    return export_response(request, "tickets")


@permission_required("interactions.add_ticket", raise_exception=True)
def ticket_create(request: HttpRequest) -> HttpResponse:
    visible = Customer.objects.visible_to(request.user)
    customer_id = request.GET.get("customer") or request.POST.get("customer")
    if not customer_id or not str(customer_id).isdigit():
        messages.info(request, _("Open the customer first, then “New ticket”."))
        return redirect("customers:list")
    customer = get_object_or_404(visible, pk=int(customer_id))
    form = TicketForm(
        request.POST or None,
        user=request.user,
        customer_choices=visible,
        customer=customer,
        initial={"customer": customer},
    )
    if request.method == "POST" and form.is_valid():
        try:
            ticket = services.ticket_create(user=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Ticket #%(number)s opened.") % {"number": ticket.pk})
            return redirect("interactions:ticket_detail", pk=ticket.pk)
    return render(request, "interactions/ticket_form.html", {"form": form, "customer": customer})


def ticket_edit(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_rw_ticket_for_user(request.user, pk)
    form = TicketForm(
        request.POST or None,
        instance=ticket,
        user=request.user,
        customer_choices=Customer.objects.none(),
        customer=ticket.customer,
    )
    form.fields.pop("assignee", None)  # assignment has its own action (and notification)
    if request.method == "POST" and form.is_valid():
        try:
            services.ticket_update(ticket=ticket, user=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("interactions:ticket_detail", pk=ticket.pk)
    return render(
        request,
        "interactions/ticket_form.html",
        {"form": form, "customer": ticket.customer, "ticket": ticket},
    )


def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket_for_user(request.user, pk)
    can_change = request.user.has_perm("interactions.change_ticket")
    ctx = {
        "ticket": ticket,
        "comments": list(ticket.comments.select_related("author")),
        "status_changes": list(ticket.status_changes.select_related("changed_by")),
        "transitions": [(s, Ticket.Status(s).label) for s in ticket.allowed_transitions()]
        if can_change
        else [],
        "can_change": can_change,
        "can_assign": request.user.has_perm("interactions.assign_ticket"),
        "assign_form": TicketAssignForm(initial={"assignee": ticket.assignee_id}),
        "transition_form": TicketTransitionForm(initial={"resolution": ticket.resolution}),
        "comment_form": TicketCommentForm(),
        "articles": articles_matching(ticket.subject),
        "can_make_article": request.user.has_perm("interactions.add_article")
        and ticket.status in Ticket.CLOSED_STATES
        and bool(ticket.resolution),
    }
    return render(request, "interactions/ticket_detail.html", ctx)


@require_POST
@permission_required("interactions.assign_ticket", raise_exception=True)
def ticket_assign(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket_for_user(request.user, pk)
    form = TicketAssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an assignee."))
    else:
        try:
            services.ticket_assign(ticket=ticket, assignee=form.cleaned_data["assignee"], user=request.user)
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            messages.success(
                request, _("Ticket assigned to %(name)s.") % {"name": form.cleaned_data["assignee"]}
            )
    return redirect("interactions:ticket_detail", pk=ticket.pk)


@require_POST
def ticket_transition(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_rw_ticket_for_user(request.user, pk)
    form = TicketTransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid status."))
        return redirect("interactions:ticket_detail", pk=ticket.pk)
    data = form.cleaned_data
    try:
        ticket = services.ticket_transition(
            ticket=ticket,
            to_status=data["to_status"],
            user=request.user,
            note=data["note"],
            resolution=data["resolution"] if data["to_status"] == Ticket.Status.RESOLVED else None,
        )
        if data.get("satisfaction"):
            services.ticket_update(
                ticket=ticket, user=request.user, data={"satisfaction": data["satisfaction"]}
            )
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    else:
        messages.success(request, _("Ticket is now “%(status)s”.") % {"status": ticket.get_status_display()})
    return redirect("interactions:ticket_detail", pk=ticket.pk)


@require_POST
def ticket_comment(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket_for_user(request.user, pk)
    if not (
        request.user.has_perm("interactions.change_ticket")
        or request.user.has_perm("interactions.add_ticketcomment")
    ):
        raise PermissionDenied
    form = TicketCommentForm(request.POST)
    if form.is_valid():
        try:
            services.ticket_comment(
                ticket=ticket,
                user=request.user,
                body=form.cleaned_data["body"],
                internal=form.cleaned_data["internal"],
            )
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            messages.success(request, _("Comment added."))
    else:
        messages.error(request, _("Write something first."))
    return redirect(reverse("interactions:ticket_detail", args=[ticket.pk]) + "#comments")


@require_POST
@permission_required("interactions.add_article", raise_exception=True)
def ticket_to_article(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _get_ticket_for_user(request.user, pk)
    try:
        article = services.article_from_ticket(ticket=ticket, user=request.user)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
        return redirect("interactions:ticket_detail", pk=ticket.pk)
    messages.success(request, _("Knowledge-base article created; review and edit it."))
    return redirect("interactions:article_edit", pk=article.pk)


# --- knowledge base ------------------------------------------------------------------------


@permission_required("interactions.view_article", raise_exception=True)
def article_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    category = request.GET.get("category", "")
    qs = article_search(query, category)
    page = keyset_page(qs, SortOption("updated_at", descending=True), request.GET.get("cursor"), 30)
    ctx = {"page": page, "query": query, "category": category, "categories": Ticket.Category.choices}
    return render(request, "interactions/article_list.html", ctx)


@permission_required("interactions.view_article", raise_exception=True)
def article_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article.objects.select_related("created_by", "source_ticket"), pk=pk)
    return render(request, "interactions/article_detail.html", {"article": article})


@permission_required("interactions.add_article", raise_exception=True)
def article_create(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        article = form.save(commit=False)
        article.created_by = request.user
        article.save()
        messages.success(request, _("Article saved."))
        return redirect("interactions:article_detail", pk=article.pk)
    return render(request, "interactions/article_form.html", {"form": form})


@permission_required("interactions.change_article", raise_exception=True)
def article_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = get_object_or_404(Article, pk=pk)
    form = ArticleForm(request.POST or None, instance=article)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Article saved."))
        return redirect("interactions:article_detail", pk=article.pk)
    return render(request, "interactions/article_form.html", {"form": form, "article": article})


def index(request: HttpRequest) -> HttpResponse:
    """The section's front door: what the user works with most."""
    if request.user.has_perm("interactions.view_task") and not request.user.has_perm(
        "interactions.assign_ticket"
    ):
        return redirect("interactions:my_tasks")
    if request.user.has_perm("interactions.view_ticket"):
        return redirect("interactions:ticket_list")
    return redirect("interactions:interaction_list")
