"""The permission matrix (docs/permissions.md) as a test: every URL of the project, for every
persona, answers what the matrix says.

Every URL pattern comes from the resolver (url_walk), so a new page without a row in
EXPECTED below fails `test_every_url_has_an_expectation`. Detail pages are built with
records owned by `rep` (team A). Each persona's answer to a GET falls in one class:

    O  allowed: 200, or a redirect that is not to a login page
    L  sent to a login page (302 to /accounts/login/ or /admin/login/)
    U  401 Unauthorized (the REST API without a token or session)
    F  403 Forbidden
    N  404 Not Found (the record is outside the persona's scope)
    M  405 Method Not Allowed (a POST-only endpoint opened with GET)

POST-only endpoints also say what a POST does for personas that may not use them: F or N,
or 0 (answers, but changes nothing: bulk actions silently skip records out of scope); and
the test checks that nothing changed. Allowed POSTs are left to each app's own tests.

Django admin pages are one rule (staff only, ADMIN_RULE), not a row each: the admin checks
is_staff and model permissions itself, for every ModelAdmin registered now or later.

Every page answered with 200 is also checked for inline code the Content-Security-Policy
would block (core/tests/html_checks.py).

The records and one session per persona are made once for the module (in a transaction
rolled back at the end); each test runs in a savepoint of its own.
"""

from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse

from core.tests.html_checks import inline_code
from core.tests.url_walk import walk_urls

PERSONAS = ("anonymous", "rep", "other_rep", "manager", "other_manager", "service", "admin_user")
LOGIN_PREFIXES = ("/accounts/login/", "/admin/login/")


def row(spec: str) -> dict[str, str]:
    """ "L O N O N O O" → {persona: class}, in PERSONAS order."""
    classes = spec.split()
    assert len(classes) == len(PERSONAS), spec
    return dict(zip(PERSONAS, classes, strict=True))


@dataclass(frozen=True)
class Expect:
    args: tuple = ()  # names of world records whose pk fill the URL's arguments, or literal strings
    get: str = ""  # the GET row
    post: str = ""  # POST row for POST-only endpoints: F / N / 0 are checked, "-" is not
    data: tuple = ()  # (field, value-or-record-name) pairs of the POST body
    query: str = ""  # appended to the path (e.g. "customer=customer" → ?customer=<pk>)


# Each row gives one class per persona, in the order of PERSONAS: anonymous, rep (owns the
# records), other_rep (other team), manager (rep's manager), other_manager (other team's),
# service (customer service), admin_user (superuser).
ALL = "L  O  O  O  O  O  O"
WEBFORM_TOKEN = "matrix-webform-token-0123456789abcdef"
POST_ONLY = "L  M  M  M  M  M  M"
API_ALL = "U  O  O  O  O  O  O"
EXPECTED: dict[str, Expect] = {
    # --- accounts and core --------------------------------------------------------------
    "login": Expect(get="O  O  O  O  O  O  O"),
    "logout": Expect(get=POST_ONLY),
    "password_change": Expect(get=ALL),
    "password_change_done": Expect(get=ALL),
    "core:home": Expect(get=ALL),
    "core:set_language": Expect(get="M  M  M  M  M  M  M"),
    "core:health": Expect(get="O  O  O  O  O  O  O"),
    # Public web forms (线上表单): anyone, signed in or not, opens an active form by its token.
    "webforms:public": Expect((WEBFORM_TOKEN,), get="O  O  O  O  O  O  O"),
    # My account and two-factor authentication: everyone may enrol (only REQUIRE_2FA_ROLES
    # must). The personas have no second factor: the code page sends them on, turning off
    # and new recovery codes send them back to the account page, changing nothing.
    "core:account": Expect(get=ALL),
    "core:two_factor_enrol": Expect(get=ALL),
    "core:two_factor_verify": Expect(get=ALL),
    "core:two_factor_recovery_codes": Expect(get=ALL),
    "core:two_factor_recovery_regenerate": Expect(
        get=POST_ONLY, post="-  0  0  0  0  0  0", data=(("code", "123456"),)
    ),
    "core:two_factor_disable": Expect(get=POST_ONLY, post="-  0  0  0  0  0  0", data=(("code", "123456"),)),
    # Personal API tokens: one's own only.
    "core:api_tokens": Expect(get=ALL),
    "core:api_token_revoke": Expect(("api_token",), get=POST_ONLY, post="-  -  N  N  N  N  N"),
    "core:notifications": Expect(get=ALL),
    # Only one's own notifications, admins included.
    "core:notification_open": Expect(("notification",), get="L  O  N  N  N  N  N"),
    "core:notifications_read_all": Expect(get=POST_ONLY),
    # Imports: anyone with an importer starts one; a job is its uploader's (admins read all,
    # run none); the undo page of a job that cannot be undone sends back to the job.
    "core:import_list": Expect(get=ALL),
    "core:import_upload": Expect(get="L  O  O  O  O  F  O"),
    "core:import_template": Expect(("customers",), get="L  O  O  O  O  F  O"),
    "core:import_detail": Expect(("import_job",), get="L  O  N  N  N  N  O"),
    "core:import_mapping": Expect(("import_job",), get="L  O  N  N  N  N  F"),
    "core:import_progress": Expect(("import_job",), get="L  O  N  N  N  N  O"),
    "core:import_error_report": Expect(("import_job",), get="L  O  N  N  N  N  O"),
    "core:import_undo": Expect(("import_job",), get="L  O  N  N  N  N  F", post="-  -  N  N  N  N  F"),
    "core:import_commit": Expect(("import_job",), get=POST_ONLY, post="-  -  N  N  N  N  F"),
    # Background exports: only their creator (here the manager), admins included.
    "core:exports": Expect(get=ALL),
    "core:export_status": Expect(("export_job",), get="L  N  N  O  N  N  N"),
    "core:export_progress": Expect(("export_job",), get="L  N  N  O  N  N  N"),
    "core:export_download": Expect(("export_job",), get="L  N  N  O  N  N  N"),
    # --- customers ----------------------------------------------------------------------
    "customers:list": Expect(get=ALL),
    "customers:create": Expect(get="L  O  O  O  O  F  O"),
    "customers:bulk": Expect(
        get=POST_ONLY,
        post="-  F  F  -  0  F  -",
        data=(("action", "assign_owner"), ("ids", "customer"), ("owner", "teammate"), ("confirmed", "on")),
    ),
    "customers:export": Expect(get="L  F  F  O  O  F  O"),
    "customers:search": Expect(get=POST_ONLY),
    # The duplicate check: every staff member, across all customers (details only of their own).
    "customers:check": Expect(get=ALL),
    "customers:saved_view_create": Expect(get=POST_ONLY),
    "customers:saved_view_delete": Expect(("saved_view",), get=POST_ONLY, post="-  -  N  N  N  N  N"),
    "customers:recycle_bin": Expect(get="L  O  O  O  O  F  O"),
    "customers:detail": Expect(("customer",), get="L  O  N  O  N  O  O"),
    "customers:edit": Expect(("customer",), get="L  O  N  O  N  F  O"),
    "customers:verify": Expect(("customer",), get=POST_ONLY, post="-  -  N  -  N  F  -"),
    "customers:reveal": Expect(("customer", "mobile"), get=POST_ONLY, post="-  -  N  -  N  -  -"),
    "customers:delete": Expect(("customer",), get="L  O  N  O  N  F  O", post="-  -  N  -  N  F  -"),
    "customers:restore": Expect(("deleted_customer",), get=POST_ONLY, post="-  -  N  -  N  F  -"),
    "customers:purge": Expect(("deleted_customer",), get=POST_ONLY, post="-  F  F  F  F  F  -"),
    "customers:merge": Expect(("customer",), get="L  F  F  O  N  F  O"),
    # Personal-information rights: admins (customers.handle_privacy_requests), within scope.
    "customers:privacy": Expect(("customer",), get="L  F  N  F  N  F  O"),
    "customers:privacy_export": Expect(
        ("customer",), get=POST_ONLY, post="-  F  N  F  N  F  -", data=(("format", "json"),)
    ),
    "customers:erase": Expect(
        ("customer",),
        get=POST_ONLY,
        post="-  F  N  F  N  F  -",
        data=(("confirm_number", "customer"), ("reason", "要求"), ("acknowledge", "on")),
    ),
    "customers:consent": Expect(
        ("customer",),
        get=POST_ONLY,
        post="-  -  N  -  N  F  -",
        data=(("granted", "1"), ("channel", "all"), ("source", "phone")),
    ),
    # The customer pool (公海): everyone browses the pools they work with (rep's team has its
    # own pool; the other team uses the default pool); reps and managers claim and release;
    # managers assign within their teams, admins to anyone.
    "customers:pool": Expect(get=ALL),
    "customers:pool_claim": Expect(("pool_customer",), get=POST_ONLY, post="-  -  N  -  N  F  -"),
    "customers:pool_release": Expect(
        ("customer",), get=POST_ONLY, post="-  -  N  -  N  F  -", data=(("reason", "不再跟进"),)
    ),
    "customers:pool_assign": Expect(
        get=POST_ONLY,
        post="-  F  F  -  0  F  -",
        data=(("ids", "pool_customer"), ("owner", "teammate")),
    ),
    "customers:contact_create": Expect(("customer",), get="L  O  N  O  N  F  O"),
    "customers:contact_edit": Expect(("customer", "contact"), get="L  O  N  O  N  F  O"),
    "customers:contact_delete": Expect(("customer", "contact"), get=POST_ONLY, post="-  -  N  -  N  F  -"),
    "customers:contact_reveal": Expect(
        ("customer", "contact", "phone"), get=POST_ONLY, post="-  -  N  -  N  -  -"
    ),
    # --- interactions, tasks, tickets, knowledge base -----------------------------------
    "interactions:index": Expect(get=ALL),
    "interactions:interaction_list": Expect(get=ALL),
    "interactions:interaction_export": Expect(get="L  F  F  O  O  F  O"),
    "interactions:interaction_create": Expect(("customer",), get="L  O  N  O  N  O  O"),
    "interactions:interaction_detail": Expect(("interaction",), get="L  O  N  O  N  O  O"),
    "interactions:interaction_edit": Expect(("interaction",), get="L  O  N  O  N  O  O"),
    "interactions:interaction_to_ticket": Expect(("interaction",), get=POST_ONLY, post="-  -  N  -  N  -  -"),
    "interactions:my_tasks": Expect(get=ALL),
    "interactions:team_tasks": Expect(get="L  F  F  O  O  F  O"),
    "interactions:task_create": Expect(get=ALL),
    "interactions:task_reassign": Expect(
        get=POST_ONLY, post="-  F  F  -  0  F  -", data=(("ids", "task"), ("assignee", "teammate"))
    ),
    "interactions:task_edit": Expect(("task",), get="L  O  N  O  N  O  O"),
    "interactions:task_action": Expect(("task", "complete"), get=POST_ONLY, post="-  -  N  -  N  F  -"),
    "interactions:ticket_list": Expect(get=ALL),
    "interactions:ticket_export": Expect(get="L  F  F  O  O  O  O"),
    "interactions:ticket_create": Expect(query="customer=customer", get="L  O  N  O  N  O  O"),
    "interactions:ticket_detail": Expect(("ticket",), get="L  O  N  O  N  O  O"),
    "interactions:ticket_edit": Expect(("ticket",), get="L  F  N  O  N  O  O"),
    "interactions:ticket_assign": Expect(
        ("ticket",), get=POST_ONLY, post="-  F  F  -  N  -  -", data=(("assignee", "service"),)
    ),
    "interactions:ticket_transition": Expect(
        ("ticket",), get=POST_ONLY, post="-  F  N  -  N  -  -", data=(("to_status", "in_progress"),)
    ),
    "interactions:ticket_comment": Expect(
        ("ticket",), get=POST_ONLY, post="-  -  N  -  N  -  -", data=(("body", "催一下"),)
    ),
    "interactions:ticket_to_article": Expect(("ticket",), get=POST_ONLY, post="-  F  F  -  N  -  -"),
    "interactions:article_list": Expect(get=ALL),
    "interactions:article_create": Expect(get="L  F  F  O  O  O  O"),
    "interactions:article_detail": Expect(("article",), get=ALL),
    "interactions:article_edit": Expect(("article",), get="L  F  F  O  O  O  O"),
    # --- sales --------------------------------------------------------------------------
    "sales:index": Expect(get=ALL),
    "sales:order_list": Expect(get=ALL),
    "sales:order_export": Expect(get="L  F  F  O  O  F  O"),
    "sales:order_create": Expect(query="customer=customer", get="L  O  N  O  N  F  O"),
    "sales:order_detail": Expect(("order",), get="L  O  N  O  N  O  O"),
    "sales:order_edit": Expect(("order",), get="L  O  N  O  N  F  O"),
    "sales:order_status": Expect(
        ("order",), get=POST_ONLY, post="-  -  N  -  N  F  -", data=(("status", "paid"),)
    ),
    "sales:product_list": Expect(get=ALL),
    "sales:pipeline": Expect(get=ALL),
    "sales:opportunity_list": Expect(get=ALL),
    "sales:opportunity_export": Expect(get="L  F  F  O  O  F  O"),
    "sales:opportunity_create": Expect(query="customer=customer", get="L  O  N  O  N  F  O"),
    "sales:opportunity_detail": Expect(("opportunity",), get="L  O  N  O  N  O  O"),
    "sales:opportunity_edit": Expect(("opportunity",), get="L  O  N  O  N  F  O"),
    # A sensitive custom field in clear (customers.view_sensitive), within scope; logged.
    "sales:opportunity_reveal": Expect(("opportunity", "cf_x"), get=POST_ONLY, post="-  -  N  -  N  -  -"),
    "sales:opportunity_move": Expect(
        ("opportunity",), get=POST_ONLY, post="-  -  N  -  N  F  -", data=(("stage", "won_stage"),)
    ),
    "sales:forecast": Expect(get=ALL),
    # --- REST API (/api/v1/): the same answers as the pages, with U (401) for no credentials
    # instead of the login page; a signed-in session works like a token (tests/test_api_*.py
    # cover tokens, writes and lists in depth). Lists need the list page's permission.
    "api:customer-list": Expect(get=API_ALL),
    "api:customer-detail": Expect(("customer",), get="U  O  N  O  N  O  O"),
    "api:contact-list": Expect(get=API_ALL),
    "api:contact-detail": Expect(("contact",), get="U  O  N  O  N  O  O"),
    "api:interaction-list": Expect(get=API_ALL),
    "api:interaction-detail": Expect(("interaction",), get="U  O  N  O  N  O  O"),
    "api:task-list": Expect(get=API_ALL),
    "api:task-detail": Expect(("task",), get="U  O  N  O  N  O  O"),
    # As interactions:task_action: the assignee, the creator, and who may reassign tasks.
    "api:task-complete": Expect(("task",), get="U  M  M  M  M  M  M", post="-  -  N  -  N  F  -"),
    "api:task-cancel": Expect(("task",), get="U  M  M  M  M  M  M", post="-  -  N  -  N  F  -"),
    "api:task-reopen": Expect(("task",), get="U  M  M  M  M  M  M", post="-  -  N  -  N  F  -"),
    "api:order-list": Expect(get=API_ALL),
    "api:order-detail": Expect(("order",), get="U  O  N  O  N  O  O"),
    "api:order-set-status": Expect(
        ("order",), get="U  M  M  M  M  M  M", post="-  -  N  -  N  F  -", data=(("status", "paid"),)
    ),
    "api:opportunity-list": Expect(get=API_ALL),
    "api:opportunity-detail": Expect(("opportunity",), get="U  O  N  O  N  O  O"),
    "api:schema": Expect(get=API_ALL),
    "api:docs": Expect(get=ALL),
    # --- reports ------------------------------------------------------------------------
    # --- marketing: reps build their own segments; managers and admins also write templates
    # and send campaigns (their own; admins all). Customer service: none of it.
    "marketing:segment_list": Expect(get="L  O  O  O  O  F  O"),
    "marketing:segment_create": Expect(get=POST_ONLY, post="-  -  -  -  -  F  -", data=(("name", "x"),)),
    "marketing:segment_add_members": Expect(
        get=POST_ONLY,
        post="-  -  -  -  -  F  -",
        data=(("ids", "customer"), ("confirmed", "on"), ("new_name", "x")),
    ),
    "marketing:segment_detail": Expect(("static_segment",), get="L  O  N  O  O  F  O"),
    "marketing:segment_delete": Expect(
        ("static_segment",), get="L  O  N  F  F  F  O", post="-  -  N  F  F  F  -"
    ),
    "marketing:segment_remove_members": Expect(
        ("static_segment",), get=POST_ONLY, post="-  -  N  F  F  F  -", data=(("customer", "customer"),)
    ),
    "marketing:template_list": Expect(get="L  F  F  O  O  F  O"),
    "marketing:template_create": Expect(get="L  F  F  O  O  F  O"),
    "marketing:template_edit": Expect(("message_template",), get="L  F  F  O  O  F  O"),
    "marketing:template_test_send": Expect(("message_template",), get=POST_ONLY, post="-  F  F  -  -  F  -"),
    "marketing:campaign_list": Expect(get="L  F  F  O  O  F  O"),
    "marketing:campaign_create": Expect(get="L  F  F  O  O  F  O"),
    "marketing:campaign_detail": Expect(("campaign",), get="L  F  F  O  N  F  O"),
    "marketing:campaign_send": Expect(
        ("campaign",), get=POST_ONLY, post="-  F  F  -  N  F  -", data=(("confirmed", "on"),)
    ),
    "marketing:campaign_cancel": Expect(("campaign",), get="L  F  F  O  N  F  O", post="-  F  F  -  N  F  -"),
    "marketing:campaign_activate": Expect(
        ("campaign",), get=POST_ONLY, post="-  F  F  -  N  F  -", data=(("active", "on"),)
    ),
    # The signed one-click link works without login (it only shows a confirmation on GET).
    "marketing:unsubscribe": Expect(("unsubscribe_token",), get="O  O  O  O  O  O  O"),
    "reports:index": Expect(get=ALL),
    "reports:chart_export": Expect(("revenue",), get=ALL),
    "reports:maintenance": Expect(get=ALL),
    # "Update now": POST only; whoever has the team filter (managers, service, admins).
    "reports:refresh": Expect(get=POST_ONLY, post="-  F  F  -  -  -  -"),
    "reports:behaviour": Expect(get=ALL),
}

# The Django admin: staff only. Non-staff are sent to the admin's login page (which, for a
# signed-in non-staff user, is a page saying they may not enter).
ADMIN_RULE = row("L  L  L  L  L  L  O")
ADMIN_EXCEPTIONS: dict[str, dict[str, str]] = {
    # The admin's login page itself is what non-staff users see.
    "admin:login": row("L  O  O  O  O  O  O"),
    # Logging out is a POST; the admin sends non-staff who open it to its index (then login).
    "admin:logout": row("L  O  O  O  O  O  M"),
    # Autocomplete answers 403 to a request that does not name a field to complete.
    "admin:autocomplete": row("L  L  L  L  L  L  F"),
    # No model has a public page of its own ("view on site").
    "admin:view_on_site": row("L  L  L  L  L  L  N"),
    # Read-only in the admin, superusers included: records written by the app (audit log,
    # job runs, notifications, merges, stage history, lockout records, pool and follow-up
    # escalation events) and orders (entered through the order pages so totals and
    # statistics stay right), web-form submissions; settings singletons cannot be deleted.
    **{
        f"admin:{name}": row("L  L  L  L  L  L  F")
        for name in (
            "axes_accessattempt_add",
            "axes_accessfailurelog_add",
            "axes_accesslog_add",
            "core_auditlog_add",
            # API tokens are made with their own form (shown once) and revoked, never deleted;
            # webhook deliveries are written by the events only.
            "core_apitoken_delete",
            "core_webhookdelivery_add",
            "core_auditlog_delete",
            "core_jobrun_add",
            "core_notification_add",
            "customers_customermerge_add",
            "customers_privacyrequest_add",
            "customers_privacyrequest_delete",
            "customers_poolevent_add",
            "interactions_followupevent_add",
            # The company-wide default pool (the first pool) cannot be deleted.
            "customers_customerpool_delete",
            "sales_opportunitystagechange_add",
            "sales_order_add",
            "sales_churnsettings_delete",
            "sales_tiersettings_delete",
            # The web-form submission log is written by the public form only.
            "sales_webformsubmission_add",
        )
    },
}


# --- the records and the personas ---------------------------------------------------------


def _build_world() -> SimpleNamespace:
    """The conftest personas (same names, roles and teams) and records owned by `rep`."""
    from django.core import signing
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from core.api_auth import api_token_create
    from core.importing import import_run, job_prepare
    from core.models import ExportJob, ImportJob, Notification, Role
    from core.tests.factories import TeamFactory, UserFactory
    from customers.models import Customer, CustomerPool, CustomerPoolTeam, SavedView
    from customers.services import customer_delete
    from customers.tests.factories import CustomerFactory, make_contact
    from interactions.models import Article
    from interactions.tests.factories import make_interaction, make_task, make_ticket
    from sales.models import Order, WebForm, WebFormSubmission
    from sales.tests.factories import ensure_default_pipeline, make_opportunity, make_order

    w = SimpleNamespace()
    team, other_team = TeamFactory(name="华东销售部"), TeamFactory(name="华北销售部")
    w.rep = UserFactory(username="rep", role=Role.SALES_REP, team=team)
    w.teammate = UserFactory(username="teammate", role=Role.SALES_REP, team=team)
    w.manager = UserFactory(username="manager", role=Role.SALES_MANAGER, team=team)
    team.managers.add(w.manager)
    w.other_rep = UserFactory(username="other_rep", role=Role.SALES_REP, team=other_team)
    w.other_manager = UserFactory(username="other_manager", role=Role.SALES_MANAGER, team=other_team)
    other_team.managers.add(w.other_manager)
    w.service = UserFactory(username="service", role=Role.CUSTOMER_SERVICE, team=TeamFactory(name="客服部"))
    w.admin_user = UserFactory(username="admin", role=Role.ADMIN, is_superuser=True, is_staff=True)

    stages = ensure_default_pipeline()
    w.won_stage = stages["Won"]
    w.customer = CustomerFactory(owner=w.rep, name="张三丰", mobile="13812345678")
    w.contact = make_contact(w.customer, phone="13900001111")
    w.interaction = make_interaction(w.customer, w.rep)
    w.task = make_task(w.rep, w.customer)
    w.ticket = make_ticket(w.customer, w.rep)
    w.order = make_order(w.customer, w.rep, status=Order.Status.PENDING)
    w.opportunity = make_opportunity(w.customer, w.rep)
    w.article = Article.objects.create(title="发货延迟怎么办", body="先查物流单号。", created_by=w.service)
    w.pool = CustomerPool.objects.create(name="华东公海")
    CustomerPoolTeam.objects.create(pool=w.pool, team=team)
    w.pool_customer = CustomerFactory(owner=None, team=team, name="王公海", mobile="13700001111")
    w.deleted_customer = CustomerFactory(owner=w.rep, name="李四")
    customer_delete(customer=w.deleted_customer, user=w.rep, request=None)
    w.api_token, _raw = api_token_create(user=w.rep, name="ERP")
    w.webform = WebForm.objects.create(
        name="官网咨询",
        token=WEBFORM_TOKEN,
        fields=["mobile"],
        title_zh="联系我们",
        title_en="Contact us",
        thanks_zh="谢谢",
        thanks_en="Thanks",
        team=team,
    )
    WebFormSubmission.objects.create(form=w.webform, verdict=WebFormSubmission.Verdict.HONEYPOT)
    w.saved_view = SavedView.objects.create(user=w.rep, name="我的新客户", query="stage=new")
    w.notification = Notification.objects.create(
        recipient=w.rep,
        kind="test",
        title="提醒",
        url=f"/customers/{w.customer.pk}/",
        created_at=timezone.now(),
    )
    w.import_job = ImportJob(kind="customers", created_by=w.rep, original_name="c.csv", default_owner=w.rep)
    w.import_job.file.save("c.csv", ContentFile("姓名,手机\n王五,13800000001\n坏,1\n".encode()), save=False)
    w.import_job.save()
    job_prepare(job=w.import_job)
    w.import_job = import_run(job=w.import_job, dry_run=True)  # checked, with an error report
    w.export_job = ExportJob.objects.create(
        kind="customers", created_by=w.manager, format="csv", status=ExportJob.Status.DONE
    )
    w.export_job.file.save("e.csv", ContentFile(b"a,b\n"))
    from marketing.models import Segment
    from marketing.services import UNSUBSCRIBE_SALT, segment_add_members
    from marketing.tests.factories import make_campaign, make_template

    w.static_segment = Segment.objects.create(name="展会名单", kind=Segment.Kind.STATIC, created_by=w.rep)
    segment_add_members(
        segment=w.static_segment, customers=Customer.objects.filter(pk=w.customer.pk), user=w.rep
    )
    w.message_template = make_template(w.manager)
    w.campaign = make_campaign(w.manager, template=w.message_template)
    # Not a record: a namespace with `pk` so path_of() puts the token in the URL.
    w.unsubscribe_token = SimpleNamespace(pk=signing.dumps(w.customer.pk, salt=UNSUBSCRIBE_SALT))
    # One session per persona, reused by every request of the module.
    w.sessions = {}
    for persona in PERSONAS[1:]:
        client = Client()
        client.force_login(getattr(w, persona))
        w.sessions[persona] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return w


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def client_for(world, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    return client


def _value(world, item):
    record = getattr(world, item, None) if isinstance(item, str) else None
    return record.pk if record is not None and hasattr(record, "pk") else item


def path_of(world, name: str, expect: Expect) -> str:
    path = reverse(name, args=[_value(world, a) for a in expect.args])
    if expect.query:
        key, item = expect.query.split("=")
        path += f"?{key}={_value(world, item)}"
    return path


# --- classifying answers ---------------------------------------------------------------------


def classify(response) -> str:
    code = response.status_code
    if code in (301, 302):
        return "L" if urlsplit(response["Location"]).path.startswith(LOGIN_PREFIXES) else "O"
    return {200: "O", 401: "U", 403: "F", 404: "N", 405: "M"}.get(code, str(code))


# --- the URLs --------------------------------------------------------------------------------

WALKED = sorted({u.name: u for u in walk_urls()}.values(), key=lambda u: u.path)
PROJECT_URLS = [u for u in WALKED if not u.path.startswith("/admin/")]
ADMIN_URLS = [u for u in WALKED if u.path.startswith("/admin/")]


def test_every_url_has_an_expectation():
    names = {u.name for u in PROJECT_URLS}
    missing = sorted(names - set(EXPECTED))
    stale = sorted(set(EXPECTED) - names)
    assert not missing, f"URLs without a row in EXPECTED (add one, and to docs/permissions.md): {missing}"
    assert not stale, f"rows in EXPECTED for URLs that no longer exist: {stale}"
    assert len(ADMIN_URLS) > 50  # the admin rule covers a real number of pages


def test_every_built_path_resolves_to_its_own_url(world):
    for name, expect in EXPECTED.items():
        path = path_of(world, name, expect)
        match = resolve(urlsplit(path).path)
        assert match.view_name == name, (name, path)


GET_CASES = [(name, persona) for name in sorted(EXPECTED) for persona in PERSONAS]


@pytest.mark.parametrize(("name", "persona"), GET_CASES, ids=[f"{n}-{p}" for n, p in GET_CASES])
def test_get(world, db, name, persona):
    expect = EXPECTED[name]
    path = path_of(world, name, expect)
    response = client_for(world, persona).get(path)
    wanted = row(expect.get)[persona]
    assert classify(response) == wanted, (
        f"{persona} GET {path}: {response.status_code} {response.get('Location', '')}"
    )
    # Every page any persona sees also keeps to the Content-Security-Policy (core/tests/test_csp.py).
    if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert inline_code(response.content.decode()) == [], path


POST_CASES = [
    (name, persona)
    for name, expect in sorted(EXPECTED.items())
    if expect.post
    for persona, wanted in row(expect.post).items()
    if wanted in ("F", "N", "0")
]


def fingerprint() -> dict:
    """What a forbidden POST must leave as it was."""
    from core.models import ApiToken, AuditLog, Notification
    from customers.models import ConsentRecord, Contact, Customer, PoolEvent, PrivacyRequest, SavedView
    from interactions.models import Article, Interaction, Task, Ticket, TicketComment
    from marketing.models import Campaign, CampaignRecipient, Segment, SegmentMember
    from sales.models import Opportunity, Order

    return {
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk",
                "owner_id",
                "lifecycle_stage",
                "deleted_at",
                "info_verified_at",
                "updated_at",
                "anonymised_at",
            )
        ),
        "consent_records": ConsentRecord.objects.count(),
        "privacy_requests": PrivacyRequest.objects.count(),
        "contacts": list(Contact.objects.order_by("pk").values_list("pk", "name")),
        "interactions": list(Interaction.objects.order_by("pk").values_list("pk", "ticket_id")),
        "tasks": list(Task.objects.order_by("pk").values_list("pk", "status", "assignee_id", "due_at")),
        "tickets": list(Ticket.objects.order_by("pk").values_list("pk", "status", "assignee_id")),
        "comments": TicketComment.objects.count(),
        "articles": Article.objects.count(),
        "orders": list(Order.objects.order_by("pk").values_list("pk", "status")),
        "opportunities": list(Opportunity.objects.order_by("pk").values_list("pk", "stage_id")),
        "saved_views": SavedView.objects.count(),
        "pool_events": PoolEvent.objects.count(),
        "notifications": list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
        "audit_entries": AuditLog.objects.count(),
        "api_tokens": list(ApiToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        "segments": list(Segment.objects.order_by("pk").values_list("pk", "name")),
        "segment_members": SegmentMember.objects.count(),
        "campaigns": list(Campaign.objects.order_by("pk").values_list("pk", "status", "scheduled_at")),
        "campaign_recipients": CampaignRecipient.objects.count(),
    }


@pytest.mark.parametrize(("name", "persona"), POST_CASES, ids=[f"{n}-{p}" for n, p in POST_CASES])
def test_forbidden_post_changes_nothing(world, db, name, persona):
    expect = EXPECTED[name]
    path = path_of(world, name, expect)
    data = {field: _value(world, item) for field, item in expect.data}
    before = fingerprint()
    response = client_for(world, persona).post(path, data)
    wanted = row(expect.post)[persona]
    got = classify(response)
    after = fingerprint()
    if wanted == "0":
        assert got == "O", f"{persona} POST {path}: {response.status_code}"
        # The bulk action is recorded (with nothing changed); the records are untouched.
        before.pop("audit_entries"), after.pop("audit_entries")
    else:
        assert got == wanted, f"{persona} POST {path}: {response.status_code}"
    assert after == before, f"{persona} POST {path} changed data"


def _admin_path(world, url) -> str:
    """The walked admin path with a real object where the pattern takes one."""
    parts = url.path.strip("/").split("/")
    if "sample" not in parts:
        return url.path
    if parts[1] == "r":  # view on site: /admin/r/<content type>/<object>/
        from django.contrib.contenttypes.models import ContentType

        content_type = ContentType.objects.get_for_model(world.customer)
        return f"/admin/r/{content_type.pk}/{world.customer.pk}/"
    model = apps.get_model(parts[1], parts[2])
    obj = model._default_manager.order_by("pk").first()
    return url.path.replace("/sample/", f"/{obj.pk if obj else 0}/", 1)


ADMIN_CASES = [(u, persona) for u in ADMIN_URLS for persona in PERSONAS]


@pytest.mark.parametrize(("url", "persona"), ADMIN_CASES, ids=[f"{u.name}-{p}" for u, p in ADMIN_CASES])
def test_admin(world, db, url, persona):
    path = _admin_path(world, url)
    response = client_for(world, persona).get(path)
    wanted = ADMIN_EXCEPTIONS.get(url.name, ADMIN_RULE)[persona]
    assert classify(response) == wanted, (
        f"{persona} GET {path}: {response.status_code} {response.get('Location', '')}"
    )
