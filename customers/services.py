"""Writes on customers: every entry point (web form, import, API, CLI, jobs) calls these."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from simple_history.utils import bulk_update_with_history

from core.audit import audit_log
from core.models import AuditLog, User
from core.personal_data import normalize_email, normalize_phone
from customers.models import (
    ConsentRecord,
    Contact,
    Customer,
    CustomerMerge,
    PoolEvent,
    Tag,
    TierChange,
    pool_for_team,
)
from customers.search import email_bidx, phone_bidx, refresh_search_fields
from customers.signals import customer_created, customer_updated, customer_verified, customers_updated


def _normalise_personal_data(customer: Customer) -> None:
    """Canonical phone numbers and emails, whichever entry point wrote them (form, import,
    API); raises ValidationError on the field that is not valid."""
    errors = {}
    for field, normalise in (
        ("mobile", normalize_phone),
        ("other_phone", normalize_phone),
        ("email", normalize_email),
    ):
        try:
            setattr(customer, field, normalise(getattr(customer, field) or ""))
        except ValidationError as exc:
            errors[field] = exc.messages
    customer.wechat = (customer.wechat or "").strip()
    if errors:
        raise ValidationError(errors)


def _refresh_derived(customer: Customer) -> None:
    """Blind indexes and search columns follow the personal data."""
    _normalise_personal_data(customer)
    customer.mobile_bidx = phone_bidx(customer.mobile)
    customer.other_phone_bidx = phone_bidx(customer.other_phone)
    customer.email_bidx = email_bidx(customer.email)
    refresh_search_fields(customer)


def _refresh_contact_derived(contact: Contact) -> None:
    contact.phone = normalize_phone(contact.phone) if contact.phone else ""
    contact.email = normalize_email(contact.email) if contact.email else ""
    contact.phone_bidx = phone_bidx(contact.phone)
    contact.email_bidx = email_bidx(contact.email)


def _tag_names(tags) -> str:
    return ", ".join(sorted(t.name for t in tags))


def customers_refresh_tag_names(*, customer_ids: list[int], user: User | None, reason: str) -> int:
    """Recompute tag_names after tags changed outside a customer form (bulk tagging, a tag
    renamed), with a history entry for each customer whose text changed."""
    changed = []
    customers = Customer.objects.filter(pk__in=customer_ids).prefetch_related("tags")
    for customer in customers.iterator(chunk_size=500):
        names = _tag_names(customer.tags.all())
        if names != customer.tag_names:
            customer.tag_names = names
            changed.append(customer)
    if changed:
        bulk_update_with_history(
            changed, Customer, ["tag_names"], batch_size=500, default_user=user, default_change_reason=reason
        )
    return len(changed)


def _team_for(owner: User | None):
    return owner.team if owner is not None else None


@transaction.atomic
def customer_create(*, user: User | None, data: dict[str, Any], tags: list[Tag] | None = None) -> Customer:
    """Create a customer from cleaned form data (phones/emails already normalised).

    The team follows the owner's team unless given.
    """
    customer = Customer(**data)
    customer.tag_names = _tag_names(tags or [])
    customer.created_by = user
    customer.updated_by = user
    if customer.owner_id and not customer.team_id:
        customer.team = _team_for(customer.owner)
    elif not customer.owner_id and not customer.team_id and user is not None:
        # An unowned customer stays with the creator's team, so its managers still see it.
        customer.team = user.team
    if not customer.owner_id:
        # Created without an owner: it waits in its team's pool (公海).
        customer.pool = pool_for_team(customer.team_id)
    if customer.info_verified_at is None:
        # Entering a record is confirming its details.
        customer.info_verified_at = timezone.now()
    if customer.marketing_consent and not customer.marketing_consent_at:
        customer.marketing_consent_at = timezone.now()
    _refresh_derived(customer)
    customer.full_clean(exclude=["search_grams"])
    customer._change_reason = "create"
    customer._history_user = user
    customer.save()
    if tags:
        customer.tags.set(tags)
    if customer.marketing_consent:
        _consent_recorded(customer, user=user, source=customer.marketing_consent_channel)
    customer_created.send(sender=Customer, customer=customer, user=user)
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    user: User | None,
    data: dict[str, Any],
    tags: list[Tag] | None = None,
    request: HttpRequest | None = None,
) -> Customer:
    """Apply changed fields; an owner change is audited and moves the team along."""
    # Compare with the stored row: a ModelForm has already copied its data onto `customer`.
    stored = (
        Customer.objects.filter(pk=customer.pk)
        .values("owner_id", "team_id", "lifecycle_stage", "value_tier", "marketing_consent")
        .get()
    )
    old_owner_id, old_team_id = stored["owner_id"], stored["team_id"]
    if data.get("lifecycle_stage", stored["lifecycle_stage"]) != stored["lifecycle_stage"]:
        # A person moved the stage: automatic moves (purchases, churn) leave it alone now.
        data = {**data, "lifecycle_stage_manual": True}
    tier_changed = data.get("value_tier", stored["value_tier"]) != stored["value_tier"]
    if tier_changed:
        # Likewise the tier: the nightly scoring leaves it alone now.
        data = {**data, "value_tier_manual": True}
    for field, value in data.items():
        setattr(customer, field, value)
    # The team follows the owner, unless the team itself was changed in the same edit.
    owner_changed = customer.owner_id != old_owner_id
    team_changed = customer.team_id != old_team_id and customer.team_id is not None
    if customer.owner_id and (not customer.team_id or (owner_changed and not team_changed)):
        customer.team = _team_for(customer.owner)
    if not customer.owner_id and old_owner_id:
        # The owner was removed: the customer goes to its team's pool.
        customer.pool = pool_for_team(customer.team_id)
    if customer.marketing_consent and not customer.marketing_consent_at:
        customer.marketing_consent_at = timezone.now()
    if not customer.marketing_consent:
        customer.marketing_consent_at = None
        customer.marketing_consent_channel = ""
    if tags is not None:
        customer.tag_names = _tag_names(tags)
    customer.updated_by = user
    _refresh_derived(customer)
    customer.full_clean(exclude=["search_grams"])
    customer._change_reason = "edit"
    customer._history_user = user
    customer.save()
    if tags is not None:
        customer.tags.set(tags)
    if tier_changed:
        TierChange.objects.create(
            customer=customer,
            from_tier=stored["value_tier"],
            to_tier=customer.value_tier,
            source=TierChange.Source.MANUAL,
        )
    if customer.marketing_consent != stored["marketing_consent"]:
        # Withdrawn on the form: the form does not ask how, so it reads "changed on the record".
        source = (
            customer.marketing_consent_channel if customer.marketing_consent else ConsentRecord.Source.STAFF
        )
        _consent_recorded(customer, user=user, source=source)
    if customer.owner_id != old_owner_id:
        audit_log(
            actor=user,
            action=AuditLog.Action.OWNER_CHANGE,
            obj=customer,
            request=request,
            old_owner=old_owner_id,
            new_owner=customer.owner_id,
        )
        _pool_event_for_owner_change(customer, old_owner_id=old_owner_id, user=user)
    customer_updated.send(sender=Customer, customer=customer, user=user)
    return customer


def _pool_event_for_owner_change(customer: Customer, *, old_owner_id: int | None, user: User | None) -> None:
    """An owner given to a pool customer on the form (or in bulk) is an assignment from the
    pool, an owner removed a release to it: both are pool events like those of the pool pages."""
    if old_owner_id is None and customer.owner_id:
        pool = customer.pool or pool_for_team(customer.team_id)
        kind = PoolEvent.Kind.ASSIGN
    elif old_owner_id and not customer.owner_id:
        pool = customer.pool
        kind = PoolEvent.Kind.RELEASE
    else:
        return
    if pool is not None:
        PoolEvent.objects.create(
            customer=customer, pool=pool, kind=kind, owner_id=customer.owner_id or old_owner_id, actor=user
        )


def customer_mark_verified(*, customer: Customer, user: User) -> Customer:
    customer.info_verified_at = timezone.now()
    customer.updated_by = user
    customer._change_reason = "verified"
    customer._history_user = user
    customer.save(update_fields=["info_verified_at", "updated_by", "updated_at"])
    customer_verified.send(sender=Customer, customer=customer, user=user)
    return customer


@transaction.atomic
def contact_save(*, contact: Contact, user: User | None) -> Contact:
    """Create or update a contact; keeps one primary contact and the customer's search."""
    _refresh_contact_derived(contact)
    contact.full_clean(exclude=["customer"])
    if contact.is_primary:
        Contact.objects.filter(customer=contact.customer, is_primary=True).exclude(pk=contact.pk).update(
            is_primary=False
        )
    contact.save()
    _refresh_customer_search(contact.customer)
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, user: User | None) -> None:
    customer = contact.customer
    contact.delete()
    _refresh_customer_search(customer)


def _refresh_customer_search(customer: Customer) -> None:
    refresh_search_fields(customer)
    Customer.objects.filter(pk=customer.pk).update(
        search_text=customer.search_text, search_grams=customer.search_grams
    )


# --- duplicates --------------------------------------------------------------------------


def customer_duplicate_lookup(*, phone: str = "", email: str = "", company: str = "") -> models.QuerySet:
    """The duplicate check (查重): live customers with exactly this phone, email or company name,
    across all customers whoever owns them. Exact matches only, so the check cannot be used to
    browse other people's customers; the caller shows details only of those the user may see."""
    q = Q()
    if phone:
        key = phone_bidx(phone)
        q |= Q(mobile_bidx=key) | Q(other_phone_bidx=key)
    if email:
        q |= Q(email_bidx=email_bidx(email))
    if company.strip():
        q |= Q(company__iexact=company.strip())
    if not q:
        return Customer.objects.none()
    return Customer.objects.active().filter(q).select_related("owner").order_by("created_at")[:20]


def contact_point_taken(
    customer: Customer, *, mobile: str = "", other_phone: str = "", email: str = ""
) -> bool:
    """True when `customer` (an existing match) has one of these phones or this email: a
    hard duplicate, which blocks creating another customer."""
    keys = {phone_bidx(p) for p in (mobile, other_phone) if p}
    if keys & {customer.mobile_bidx, customer.other_phone_bidx} - {""}:
        return True
    return bool(email) and customer.email_bidx == email_bidx(email)


def customer_duplicates(
    *,
    mobile: str = "",
    other_phone: str = "",
    email: str = "",
    name: str = "",
    company: str = "",
    exclude_pk: int | None = None,
) -> models.QuerySet:
    """Live customers that share a phone, an email, or name + company (normalised input)."""
    phone_keys = [phone_bidx(p) for p in (mobile, other_phone) if p]
    q = Q()
    for key in phone_keys:
        q |= Q(mobile_bidx=key) | Q(other_phone_bidx=key)
    if email:
        q |= Q(email_bidx=email_bidx(email))
    if name and company:
        q |= Q(name=name.strip(), company=company.strip())
    if not q:
        return Customer.objects.none()
    qs = Customer.objects.active().filter(q)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.select_related("owner").order_by("-created_at")[:20]


# --- recycle bin ---------------------------------------------------------------------------


@transaction.atomic
def customer_delete(*, customer: Customer, user: User, request: HttpRequest | None = None) -> None:
    """Move to the recycle bin (restorable for CUSTOMER_RECYCLE_BIN_DAYS)."""
    customer.deleted_at = timezone.now()
    customer.deleted_by = user
    customer._change_reason = "delete"
    customer._history_user = user
    customer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    audit_log(actor=user, action=AuditLog.Action.DELETE, obj=customer, request=request)


@transaction.atomic
def customer_restore(*, customer: Customer, user: User, request: HttpRequest | None = None) -> None:
    customer.deleted_at = None
    customer.deleted_by = None
    customer._change_reason = "restore"
    customer._history_user = user
    customer.save(update_fields=["deleted_at", "deleted_by", "updated_at"])
    audit_log(actor=user, action=AuditLog.Action.RESTORE, obj=customer, request=request)


@transaction.atomic
def customer_purge(*, customer: Customer, user: User | None, request: HttpRequest | None = None) -> None:
    """Delete for good (with its history). Only from the recycle bin."""
    if customer.deleted_at is None:
        raise ValueError("Only customers in the recycle bin can be purged.")
    audit_log(actor=user, action=AuditLog.Action.PURGE, obj=customer, request=request)
    customer.delete()


def customers_purge_expired(*, now=None, batch_size: int = 500) -> int:
    """Purge customers deleted more than CUSTOMER_RECYCLE_BIN_DAYS ago. Idempotent."""
    now = now or timezone.now()
    limit = now - timedelta(days=settings.CUSTOMER_RECYCLE_BIN_DAYS)
    purged = 0
    while True:
        ids = list(
            Customer.objects.filter(deleted_at__lt=limit, merged_into__isnull=True).values_list(
                "pk", flat=True
            )[:batch_size]
        )
        if not ids:
            return purged
        for customer in Customer.objects.filter(pk__in=ids):
            customer_purge(customer=customer, user=None)
            purged += 1


# --- bulk actions ------------------------------------------------------------------------


@dataclass
class BulkResult:
    changed: int
    skipped: int = 0


def _bulk_change(*, customers: models.QuerySet, user: User, changes: dict[str, Any], reason: str) -> int:
    """Apply the same changes to many customers, with a history entry for each."""
    changed = 0
    fields = [*changes, "updated_by", "updated_at"]
    batch: list[Customer] = []
    now = timezone.now()
    for customer in customers.order_by("pk").iterator(chunk_size=500):
        for field, value in changes.items():
            setattr(customer, field, value)
        customer.updated_by = user
        customer.updated_at = now
        batch.append(customer)
        if len(batch) == 500:
            changed += _flush(batch, fields, user, reason)
            batch = []
    return changed + _flush(batch, fields, user, reason)


def _flush(batch: list[Customer], fields: list[str], user: User, reason: str) -> int:
    if batch:
        bulk_update_with_history(
            batch, Customer, fields, batch_size=500, default_user=user, default_change_reason=reason
        )
        customers_updated.send(sender=Customer, customer_ids=[c.pk for c in batch], user=user)
    return len(batch)


@transaction.atomic
def customers_bulk_assign_owner(
    *, customers: models.QuerySet, owner: User, user: User, request: HttpRequest | None = None
) -> BulkResult:
    customers = customers.exclude(owner=owner)
    ids = list(customers.values_list("pk", flat=True)[:1000])
    # Customers taken out of the pool this way are assignments from the pool (pool events).
    pooled = list(customers.filter(owner__isnull=True, pool__isnull=False).values_list("pk", "pool_id"))
    changed = _bulk_change(
        customers=customers, user=user, changes={"owner": owner, "team": owner.team}, reason="bulk-owner"
    )
    audit_log(
        actor=user,
        action=AuditLog.Action.OWNER_CHANGE,
        request=request,
        customers=ids,
        count=changed,
        new_owner=owner.pk,
    )
    if pooled:
        now = timezone.now()
        PoolEvent.objects.bulk_create(
            [
                PoolEvent(
                    customer_id=pk,
                    pool_id=pool_id,
                    kind=PoolEvent.Kind.ASSIGN,
                    owner=owner,
                    actor=user,
                    at=now,
                )
                for pk, pool_id in pooled
            ],
            batch_size=500,
        )
    return BulkResult(changed=changed)


@transaction.atomic
def customers_bulk_set_stage(
    *, customers: models.QuerySet, stage: str, user: User, request: HttpRequest | None = None
) -> BulkResult:
    if stage not in Customer.LifecycleStage.values:
        raise ValueError(stage)
    changed = _bulk_change(
        customers=customers.exclude(lifecycle_stage=stage),
        user=user,
        changes={"lifecycle_stage": stage, "lifecycle_stage_manual": True},
        reason="bulk-stage",
    )
    audit_log(
        actor=user,
        action=AuditLog.Action.BULK_ACTION,
        request=request,
        bulk="set_stage",
        stage=stage,
        count=changed,
    )
    return BulkResult(changed=changed)


@transaction.atomic
def customers_bulk_tag(
    *, customers: models.QuerySet, tag: Tag, add: bool, user: User, request: HttpRequest | None = None
) -> BulkResult:
    through = Customer.tags.through
    ids = list(customers.values_list("pk", flat=True))
    if add:
        existing = set(
            through.objects.filter(tag=tag, customer_id__in=ids).values_list("customer_id", flat=True)
        )
        through.objects.bulk_create([through(customer_id=i, tag=tag) for i in ids if i not in existing])
        changed = len(ids) - len(existing)
        touched = [i for i in ids if i not in existing]
    else:
        touched = list(
            through.objects.filter(tag=tag, customer_id__in=ids).values_list("customer_id", flat=True)
        )
        changed, _ = through.objects.filter(tag=tag, customer_id__in=ids).delete()
    customers_refresh_tag_names(customer_ids=touched, user=user, reason="bulk-tag")
    audit_log(
        actor=user,
        action=AuditLog.Action.BULK_ACTION,
        request=request,
        bulk="add_tag" if add else "remove_tag",
        tag=tag.name,
        count=changed,
    )
    return BulkResult(changed=changed)


@transaction.atomic
def customers_bulk_delete(
    *, customers: models.QuerySet, user: User, request: HttpRequest | None = None
) -> BulkResult:
    """Move many customers to the recycle bin at once."""
    ids = list(customers.values_list("pk", flat=True)[:1000])
    now = timezone.now()
    changed = _bulk_change(
        customers=customers, user=user, changes={"deleted_at": now, "deleted_by": user}, reason="delete"
    )
    audit_log(actor=user, action=AuditLog.Action.DELETE, request=request, customers=ids, count=changed)
    return BulkResult(changed=changed)


# --- merge ------------------------------------------------------------------------------

# Fields a person picks between when merging (the rest follow the survivor).
MERGE_FIELDS = (
    "name",
    "kind",
    "gender",
    "birthday",
    "company",
    "title",
    "industry",
    "mobile",
    "other_phone",
    "email",
    "wechat",
    "province",
    "city",
    "district",
    "street",
    "region",
    "source",
    "lifecycle_stage",
    "value_tier",
    "abc_class",
    "preferences",
    "notes",
    "owner",
)


@transaction.atomic
def customer_merge(
    *,
    survivor: Customer,
    merged: Customer,
    choices: dict[str, str],
    user: User,
    request: HttpRequest | None = None,
) -> CustomerMerge:
    """Fold `merged` into `survivor`.

    `choices` maps a field of MERGE_FIELDS to "survivor" or "merged" (missing: survivor).
    Every record pointing at `merged` (contacts, and interactions, orders, tickets... of
    the other apps, found through the model's relations) moves to `survivor`; tags are
    united; notes are kept from both. `merged` leaves the lists (soft-deleted, with
    merged_into set) and keeps its history; the merge is recorded and audited.
    """
    if survivor.pk == merged.pk:
        raise ValueError("A customer cannot be merged into itself.")
    survivor = Customer.objects.select_for_update().get(pk=survivor.pk)
    merged = Customer.objects.select_for_update().get(pk=merged.pk)
    taken = {}
    for field in MERGE_FIELDS:
        side = choices.get(field, "survivor")
        taken[field] = side
        if side == "merged":
            attname = survivor._meta.get_field(field).attname
            setattr(survivor, attname, getattr(merged, attname))
    # Custom fields: the survivor's values, and the merged customer's where the survivor has
    # none (sensitive values move encrypted as they are).
    for key, value in (merged.custom or {}).items():
        if (survivor.custom or {}).get(key) in (None, "", []):
            survivor.custom = {**(survivor.custom or {}), key: value}
    if merged.notes and choices.get("notes") != "merged" and merged.notes not in survivor.notes:
        survivor.notes = f"{survivor.notes}\n\n{merged.notes}".strip()
    # Dates that say "how long have we known them" take the earliest / latest.
    survivor.created_at = min(survivor.created_at, merged.created_at)
    contacted_before = survivor.last_contacted_at
    for field in ("last_contacted_at", "info_verified_at"):
        values = [v for v in (getattr(survivor, field), getattr(merged, field)) if v]
        setattr(survivor, field, max(values) if values else None)
    if survivor.last_contacted_at != contacted_before:
        # A more recent contact came with the merged customer: a new follow-up period.
        survivor.followup_reminded_at = survivor.followup_escalated_at = None
    if survivor.owner_id:
        survivor.team = survivor.owner.team
    consent_before = survivor.marketing_consent
    survivor.marketing_consent = survivor.marketing_consent and merged.marketing_consent
    if not survivor.marketing_consent:
        survivor.marketing_consent_at = None
        survivor.marketing_consent_channel = ""

    # Only one primary contact may survive: the survivor's, if it has one.
    if survivor.contacts.filter(is_primary=True).exists():
        merged.contacts.filter(is_primary=True).update(is_primary=False)
    moved: dict[str, int] = {}
    for relation in Customer._meta.related_objects:
        if relation.many_to_many or relation.related_model is Customer:
            continue
        if relation.related_model is CustomerMerge:
            continue
        _drop_merge_duplicates(relation, survivor=survivor, merged=merged)
        count = relation.related_model._base_manager.filter(**{relation.field.name: merged}).update(
            **{relation.field.name: survivor}
        )
        if count:
            moved[relation.related_model._meta.label_lower] = count
    survivor.tags.add(*merged.tags.all())
    survivor.tag_names = _tag_names(survivor.tags.all())

    survivor.updated_by = user
    _refresh_derived(survivor)
    survivor._change_reason = f"merge:{merged.pk}"
    survivor._history_user = user
    survivor.save()

    if survivor.marketing_consent != consent_before:
        _consent_recorded(survivor, user=user, source=ConsentRecord.Source.MERGE)

    merged.deleted_at = timezone.now()
    merged.deleted_by = user
    merged.merged_into = survivor
    merged._change_reason = f"merged-into:{survivor.pk}"
    merged._history_user = user
    merged.save(update_fields=["deleted_at", "deleted_by", "merged_into", "updated_at"])

    record = CustomerMerge.objects.create(
        survivor=survivor, merged=merged, merged_by=user, field_choices=taken, moved=moved
    )
    customers_updated.send(sender=Customer, customer_ids=[survivor.pk], user=user)
    audit_log(
        actor=user,
        action=AuditLog.Action.MERGE,
        obj=survivor,
        request=request,
        merged=merged.pk,
        moved=moved,
    )
    return record


# --- marketing consent ---------------------------------------------------------------------


def _consent_recorded(customer: Customer, *, user: User | None, source: str, note: str = "") -> ConsentRecord:
    """The history row for the consent the customer row now holds (already saved)."""
    return ConsentRecord.objects.create(
        customer=customer,
        channel=ConsentRecord.Channel.ALL,
        granted=customer.marketing_consent,
        at=customer.marketing_consent_at or timezone.now(),
        source=source or "",
        recorded_by=user,
        note=note,
    )


@transaction.atomic
def consent_record_change(
    *,
    customer: Customer,
    granted: bool,
    source: str,
    user: User | None,
    channel: str = ConsentRecord.Channel.ALL,
    note: str = "",
    at=None,
) -> ConsentRecord:
    """Record that the customer gave or withdrew marketing consent (for all marketing or one
    channel) and, for all marketing, keep Customer.marketing_consent* in step (with a change
    history entry). The only way consent changes besides the customer form, the import and a
    merge, which write the same history rows."""
    if source not in ConsentRecord.Source.values:
        raise ValidationError({"source": gettext("Say how the customer gave or withdrew consent.")})
    if channel not in ConsentRecord.Channel.values:
        raise ValidationError({"channel": gettext("Unknown channel.")})
    at = at or timezone.now()
    record = ConsentRecord(
        customer=customer, channel=channel, granted=granted, at=at, source=source, recorded_by=user, note=note
    )
    record.full_clean(exclude=["customer"])
    record.save()
    if channel == ConsentRecord.Channel.ALL:
        customer.marketing_consent = granted
        customer.marketing_consent_at = at if granted else None
        customer.marketing_consent_channel = _CONSENT_HOW.get(source, "") if granted else ""
        customer.updated_by = user
        customer._change_reason = "consent"
        customer._history_user = user
        customer.save(
            update_fields=[
                "marketing_consent",
                "marketing_consent_at",
                "marketing_consent_channel",
                "updated_by",
                "updated_at",
            ]
        )
    return record


def _drop_merge_duplicates(relation, *, survivor: Customer, merged: Customer) -> None:
    """Rows unique together with their customer (e.g. a static segment's members, declared by
    the model as MERGE_UNIQUE_WITH = ("segment",)) cannot all move: the merged customer's
    rows that the survivor already has are deleted first, the survivor's stay."""
    keys = getattr(relation.related_model, "MERGE_UNIQUE_WITH", ())
    if not keys:
        return
    manager = relation.related_model._base_manager
    name = relation.field.name
    same = Q()
    for values in manager.filter(**{name: survivor}).values_list(*keys):
        same |= Q(**dict(zip(keys, values, strict=True)))
    if same:
        manager.filter(**{name: merged}).filter(same).delete()


# How a consent source reads on the customer row ("consent given how").
_CONSENT_HOW = {
    ConsentRecord.Source.WEB_FORM: Customer.ConsentChannel.WEB_FORM,
    ConsentRecord.Source.PAPER: Customer.ConsentChannel.PAPER,
    ConsentRecord.Source.VERBAL: Customer.ConsentChannel.VERBAL,
    ConsentRecord.Source.PHONE: Customer.ConsentChannel.VERBAL,
    ConsentRecord.Source.EMAIL: Customer.ConsentChannel.EMAIL,
    ConsentRecord.Source.IMPORT: Customer.ConsentChannel.IMPORT,
}
