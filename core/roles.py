"""What each role may do, declared in one place.

Roles are Django groups named after `Role` values. `sync_role_permissions` adds every
permission listed here to its group; it runs from the data migration that creates the
groups and after every `migrate` (post_migrate), so permissions of models added by later
migrations reach their roles too. It only adds: permissions an admin granted by hand in
the admin stay.
"""

from core.models import Role

_CUSTOMER_ALL = [
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.delete_customer",
    "customers.view_sensitive",
    "customers.change_customer_owner",
    "customers.view_all_customers",
    "customers.merge_customer",
    "customers.purge_customer",
    "customers.export_customer",
    "customers.import_customer",
    "customers.view_contact",
    "customers.add_contact",
    "customers.change_contact",
    "customers.delete_contact",
    "customers.view_tag",
    "customers.add_tag",
    "customers.change_tag",
    "customers.delete_tag",
    "customers.view_customermerge",
    # The customer pool (公海): claim and release (customers.pool).
    "customers.claim_customer",
]

_INTERACTIONS_ALL = [
    f"interactions.{action}_{model}"
    for model in ("interaction", "task", "ticket", "ticketcomment", "article")
    for action in ("view", "add", "change", "delete")
] + [
    "interactions.view_ticketstatuschange",
    "interactions.reassign_task",
    "interactions.assign_ticket",
    "interactions.export_interaction",
    "interactions.export_ticket",
]

# Interactions, tasks, tickets and the knowledge base, per role (scope follows the customer).
_INTERACTIONS_MANAGER = [
    "interactions.view_interaction",
    "interactions.add_interaction",
    "interactions.change_interaction",
    "interactions.view_task",
    "interactions.add_task",
    "interactions.change_task",
    "interactions.reassign_task",
    "interactions.view_ticket",
    "interactions.add_ticket",
    "interactions.change_ticket",
    "interactions.assign_ticket",
    "interactions.view_ticketcomment",
    "interactions.add_ticketcomment",
    "interactions.view_ticketstatuschange",
    "interactions.view_article",
    "interactions.add_article",
    "interactions.change_article",
    "interactions.export_interaction",
    "interactions.export_ticket",
]
_INTERACTIONS_REP = [
    "interactions.view_interaction",
    "interactions.add_interaction",
    "interactions.view_task",
    "interactions.add_task",
    "interactions.change_task",
    "interactions.view_ticket",
    "interactions.add_ticket",
    "interactions.view_ticketcomment",
    "interactions.add_ticketcomment",
    "interactions.view_ticketstatuschange",
    "interactions.view_article",
]
# Customer service works mainly on tickets: the manager's rights without reassigning tasks,
# and exports tickets (service reports) but not the sales reps' interaction log.
_INTERACTIONS_SERVICE = [
    p
    for p in _INTERACTIONS_MANAGER
    if p not in ("interactions.reassign_task", "interactions.export_interaction")
]

_SALES_ALL = [
    f"sales.{action}_{model}"
    for model in (
        "product",
        "order",
        "orderline",
        "opportunity",
        "pipelinestage",
        "opportunitystagechange",
        "staleopportunityrule",
        "leadassignmentrule",
    )
    for action in ("view", "add", "change", "delete")
] + ["sales.export_order", "sales.export_opportunity", "sales.import_order"]
# Reps and managers record (and import) orders and work their opportunities (scope follows the customer);
# customer service reads orders to answer questions; admins configure stages and rules.
# Managers and admins export orders and opportunities; reps and customer service do not.
_SALES_REP = [
    "sales.view_product",
    "sales.view_order",
    "sales.add_order",
    "sales.change_order",
    "sales.import_order",
    "sales.view_opportunity",
    "sales.add_opportunity",
    "sales.change_opportunity",
    "sales.view_pipelinestage",
    "sales.view_opportunitystagechange",
]
_SALES_MANAGER = [
    *_SALES_REP,
    "sales.add_product",
    "sales.change_product",
    "sales.export_order",
    "sales.export_opportunity",
]
_SALES_SERVICE = [
    "sales.view_product",
    "sales.view_order",
    "sales.view_opportunity",
    "sales.view_pipelinestage",
]

# "app_label.codename" per role. Later apps extend these lists with their own models.
# Marketing (marketing/): reps build segments (own); managers and admins also write message
# templates and send campaigns. Members are always counted within the user's customer scope.
_MARKETING_SEGMENTS = [f"marketing.{action}_segment" for action in ("view", "add", "change", "delete")]
_MARKETING_ALL = [
    *_MARKETING_SEGMENTS,
    *(
        f"marketing.{action}_{model}"
        for model in ("messagetemplate", "campaign")
        for action in ("view", "add", "change")
    ),
    "marketing.send_campaign",
]

# Record-level scope (own / team / all customers) is in CustomerQuerySet.visible_to().
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.ADMIN: [
        "core.add_user",
        "core.change_user",
        "core.delete_user",
        "core.view_user",
        "core.add_team",
        "core.change_team",
        "core.delete_team",
        "core.view_team",
        "auth.add_group",
        "auth.change_group",
        "auth.delete_group",
        "auth.view_group",
        "auth.view_permission",
        "core.view_auditlog",
        "core.view_jobrun",
        "core.view_importjob",
        # Custom fields on customers, contacts and opportunities (Django admin).
        "core.add_customfield",
        "core.change_customfield",
        "core.delete_customfield",
        "core.view_customfield",
        # Locked-out logins (django-axes): see them, and unlock by deleting the attempt.
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        # Access exports and erasure of a customer's personal data: admins only by default;
        # give it to a data-protection officer's account by hand (docs/permissions.md).
        "customers.handle_privacy_requests",
        # Create a customer whose phone or email is already on record (with a reason, logged).
        "customers.override_duplicate",
        "customers.view_privacyrequest",
        "customers.view_consentrecord",
        # Customer pools and their rules are configured in the Django admin.
        "customers.view_customerpool",
        "customers.add_customerpool",
        "customers.change_customerpool",
        "customers.delete_customerpool",
        "customers.view_poolevent",
        # Follow-up escalation rules (跟进超时) are configured in the Django admin.
        "interactions.view_followuprule",
        "interactions.add_followuprule",
        "interactions.change_followuprule",
        "interactions.delete_followuprule",
        "interactions.view_followupevent",
        # Web forms (线上表单) are configured in the Django admin; their submission log is
        # read-only (written by the public form).
        "sales.view_webform",
        "sales.add_webform",
        "sales.change_webform",
        "sales.delete_webform",
        "sales.view_webformsubmission",
        *_CUSTOMER_ALL,
        *_INTERACTIONS_ALL,
        *_SALES_ALL,
        *_MARKETING_ALL,
    ],
    # Team scope; may change owners (reassign within the team), merge and export.
    Role.SALES_MANAGER: [
        "core.view_user",
        "core.view_team",
        *(p for p in _CUSTOMER_ALL if p not in ("customers.view_all_customers", "customers.purge_customer")),
        *_INTERACTIONS_MANAGER,
        *_SALES_MANAGER,
        *_MARKETING_ALL,
    ],
    # Own customers: create, import (as their own), edit basic information, delete to the
    # recycle bin; no owner changes, merges or exports (of any list).
    Role.SALES_REP: [
        "core.view_team",
        "customers.view_customer",
        "customers.add_customer",
        "customers.change_customer",
        "customers.delete_customer",
        "customers.view_sensitive",
        "customers.import_customer",
        "customers.view_contact",
        "customers.add_contact",
        "customers.change_contact",
        "customers.delete_contact",
        "customers.view_tag",
        "customers.add_tag",
        "customers.claim_customer",
        *_INTERACTIONS_REP,
        *_SALES_REP,
        *_MARKETING_SEGMENTS,
    ],
    # All customers, read-only (may not edit basic information); reveals to call back;
    # exports tickets only.
    Role.CUSTOMER_SERVICE: [
        "core.view_team",
        "customers.view_customer",
        "customers.view_all_customers",
        "customers.view_sensitive",
        "customers.view_contact",
        "customers.view_tag",
        *_INTERACTIONS_SERVICE,
        *_SALES_SERVICE,
    ],
}


def sync_role_permissions(group_model, permission_model) -> None:
    """Create the role groups if missing and add their declared permissions.

    Takes the models as arguments so a data migration can pass historical ones.
    Permissions that do not exist yet (their app is not migrated) are skipped. Not written to
    the audit log: what it grants is declared in this file and reviewed in version control.
    """
    from core.audit import access_changes_unaudited

    with access_changes_unaudited():
        _sync(group_model, permission_model)


def _sync(group_model, permission_model) -> None:
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=str(role))
        wanted = [tuple(p.split(".", 1)) for p in perms]
        found = permission_model.objects.none()
        for app_label, codename in wanted:
            found = found | permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            )
        group.permissions.add(*found)
