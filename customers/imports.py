"""Importing customers (with a contact and tags per row) from a spreadsheet.

`CustomerImporter` plugs into core.importing (registered in CustomersConfig.ready()); the web
wizard, the Celery task and `manage.py import_customers` all run it through
core.importing.import_run. Rows are validated in plain Python and written in bulk (per-row
full_clean() and save() cannot import 100k rows in reasonable time: ../PERF_NOTES); the
derived columns (blind indexes, search text and grams) come from the same helpers the
customer services use; new customers and their history rows go in with COPY (core.db.bulk_insert).
"""

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.utils import bulk_update_with_history

from core import custom_fields
from core.db import bulk_insert
from core.importing import Column, Importer, Outcome, Row, RunState, item_values
from core.models import ImportItem, ImportJob, User
from core.personal_data import normalize_email, normalize_phone
from core.spreadsheets import (
    choice_lookup,
    clean_bool,
    clean_choice,
    clean_date,
    clean_phone_text,
    clean_text,
)
from customers.forms import staff_choices
from customers.models import ConsentRecord, Contact, Customer, PrivacyRequest, Tag, pool_for_team
from customers.search import email_bidx, phone_bidx, refresh_search_fields
from customers.services import _refresh_contact_derived, _refresh_derived, _tag_names
from customers.signals import customer_created, customers_updated

TAG_SEPARATORS = str.maketrans({"，": ",", "；": ",", ";": ",", "、": ",", "|": ",", "/": ","})
# Fields an "update" may change on an existing customer (ownership never: that goes through
# reassignment, which is audited).
UPDATABLE = (
    "kind",
    "name",
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
    "marketing_consent",
    "notes",
)


def _text(field: str):
    return partial(clean_text, max_length=Customer._meta.get_field(field).max_length)


def _choice(field: str):
    choices = [(value, label) for value, label in Customer._meta.get_field(field).choices if value]
    lookup = choice_lookup(choices)

    def clean(value):
        return clean_choice(value, lookup, [str(label) for _value, label in choices])

    return clean, choices


def _phone(value) -> str:
    text = clean_phone_text(value)
    return normalize_phone(text) if text else ""


def _email(value) -> str:
    text = clean_text(value)
    return normalize_email(text) if text else ""


def _tags(value) -> list[str]:
    text = clean_text(value)
    names = []
    for name in text.translate(TAG_SEPARATORS).split(","):
        name = name.strip()
        if name and name not in names:
            if len(name) > Tag._meta.get_field("name").max_length:
                raise ValidationError(_("Tag “%(tag)s” is too long.") % {"tag": name})
            names.append(name)
    return names


def _columns() -> list[Column]:
    kind, kind_choices = _choice("kind")
    gender, gender_choices = _choice("gender")
    source, source_choices = _choice("source")
    stage, stage_choices = _choice("lifecycle_stage")
    tier, tier_choices = _choice("value_tier")
    abc, abc_choices = _choice("abc_class")
    label = lambda field: Customer._meta.get_field(field).verbose_name  # noqa: E731
    return [
        Column(
            "name",
            label("name"),
            (
                "姓名",
                "客户名称",
                "客户名",
                "名称",
                "客户",
                "客户姓名",
                "全名",
                "name",
                "full name",
                "customer",
                "customer name",
            ),
            _text("name"),
            note=gettext_lazy("Or map a family-name and a given-name column instead."),
            example="张伟",
        ),
        Column(
            "last_name",
            gettext_lazy("family name"),
            ("姓", "姓氏", "last name", "surname", "family name"),
            clean_text,
        ),
        Column(
            "first_name", gettext_lazy("given name"), ("名", "名字", "first name", "given name"), clean_text
        ),
        Column(
            "kind",
            label("kind"),
            ("类型", "客户类型", "type", "customer type"),
            kind,
            choices=kind_choices,
            note=gettext_lazy("Empty: individual; a row with only a company name is a company."),
        ),
        Column("gender", label("gender"), ("性别", "sex"), gender, choices=gender_choices),
        Column(
            "birthday",
            label("birthday"),
            ("生日", "出生日期", "出生年月日", "date of birth", "dob", "birth date"),
            clean_date,
            note=gettext_lazy("A date, e.g. 1990-05-20, 1990/5/20 or 1990年5月20日."),
            example="1990-05-20",
        ),
        Column(
            "company",
            label("company"),
            (
                "公司",
                "单位",
                "公司名称",
                "单位名称",
                "企业",
                "企业名称",
                "company name",
                "organisation",
                "organization",
            ),
            _text("company"),
            example="华为技术有限公司",
        ),
        Column("title", label("title"), ("职位", "职务", "岗位", "title", "position"), _text("title")),
        Column("industry", label("industry"), ("行业", "所属行业", "industry"), _text("industry")),
        Column(
            "mobile",
            label("mobile"),
            (
                "手机",
                "手机号",
                "手机号码",
                "电话",
                "电话号码",
                "联系电话",
                "联系方式",
                "移动电话",
                "mobile",
                "phone",
                "cell",
                "cellphone",
                "mobile phone",
                "tel",
                "telephone",
            ),
            _phone,
            note=gettext_lazy(
                "Chinese mobile (11 digits) or an international number with its + prefix. Format the column as text."
            ),
            example="13800138000",
        ),
        Column(
            "other_phone",
            label("other_phone"),
            (
                "其他电话",
                "座机",
                "固定电话",
                "办公电话",
                "landline",
                "office phone",
                "other phone",
                "work phone",
            ),
            _phone,
        ),
        Column(
            "email",
            label("email"),
            ("邮箱", "电子邮件", "电子邮箱", "邮件", "email", "e-mail", "mail", "email address"),
            _email,
            example="zhang.wei@example.com",
        ),
        Column("wechat", label("wechat"), ("微信", "微信号", "wechat", "weixin", "wechat id"), _text("name")),
        Column(
            "province",
            label("province"),
            ("省", "省份", "所在省份", "province", "state"),
            _text("province"),
            example="广东省",
        ),
        Column("city", label("city"), ("市", "城市", "所在城市", "city"), _text("city"), example="深圳市"),
        Column(
            "district", label("district"), ("区", "区县", "县区", "district", "county"), _text("district")
        ),
        Column(
            "street",
            label("street"),
            ("地址", "详细地址", "街道地址", "通讯地址", "联系地址", "address", "street", "street address"),
            clean_text,
        ),
        Column(
            "region", label("region"), ("区域", "销售区域", "大区", "region", "sales region"), _text("region")
        ),
        Column(
            "source",
            label("source"),
            ("来源", "客户来源", "渠道", "source", "lead source", "channel"),
            source,
            choices=source_choices,
        ),
        Column(
            "lifecycle_stage",
            label("lifecycle_stage"),
            ("阶段", "客户阶段", "生命周期", "客户状态", "stage", "lifecycle stage", "status"),
            stage,
            choices=stage_choices,
        ),
        Column(
            "value_tier",
            label("value_tier"),
            ("等级", "客户等级", "价值等级", "客户级别", "tier", "level", "value tier"),
            tier,
            choices=tier_choices,
        ),
        Column("abc_class", label("abc_class"), ("ABC", "ABC分类", "abc class"), abc, choices=abc_choices),
        Column(
            "tags",
            label("tags"),
            ("标签", "客户标签", "tags", "labels"),
            _tags,
            note=gettext_lazy("Several tags separated by commas; new tags are created."),
            example="重点客户, 展会",
        ),
        Column(
            "owner",
            label("owner"),
            (
                "负责人",
                "归属销售",
                "销售",
                "业务员",
                "所属销售",
                "客户经理",
                "owner",
                "sales rep",
                "account manager",
            ),
            clean_text,
            note=gettext_lazy(
                "User name or full name of a colleague; empty: the default owner chosen when importing."
            ),
        ),
        Column(
            "marketing_consent",
            label("marketing_consent"),
            ("营销同意", "同意营销", "接受营销", "marketing consent", "consent", "opt in"),
            clean_bool,
            note=gettext_lazy(
                "Yes / no (是/否). Only answer yes if the customer agreed; the consent is recorded as given with this import."
            ),
        ),
        Column(
            "notes", label("notes"), ("备注", "说明", "notes", "remark", "remarks", "comment"), clean_text
        ),
        Column(
            "contact_name",
            gettext_lazy("contact name"),
            ("联系人", "联系人姓名", "contact", "contact name", "contact person"),
            partial(clean_text, max_length=100),
        ),
        Column(
            "contact_title",
            gettext_lazy("contact job title"),
            ("联系人职位", "联系人职务", "contact title"),
            partial(clean_text, max_length=100),
        ),
        Column(
            "contact_phone",
            gettext_lazy("contact phone"),
            ("联系人电话", "联系人手机", "contact phone", "contact mobile"),
            _phone,
        ),
        Column("contact_email", gettext_lazy("contact email"), ("联系人邮箱", "contact email"), _email),
    ]


@dataclass
class _Seen:
    """The first row of the file standing for a customer: its number, the customer's id (None
    until created), and what happened to it."""

    row: int
    pk: int | None
    result: str
    entry: "_Pending | None" = None


def _contact_column(column):
    """A contact custom field's import column: contact_cf_<key>, named "<label> (contact)",
    recognised as 联系人<label> / contact <label> too."""
    return dataclasses.replace(
        column,
        name=f"contact_{column.name}",
        label=format_lazy("{} ({})", column.label, gettext_lazy("contact")),
        aliases=tuple(a for alias in column.aliases for a in (f"联系人{alias}", f"contact {alias}")),
        required=False,
    )


@dataclass
class _Pending:
    """A customer about to be created in this batch, with the contacts of its rows."""

    row: Row
    customer: Customer
    contacts: list[Contact]
    seen: _Seen | None = None


def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


class CustomerImporter(Importer):
    kind = "customers"
    label = gettext_lazy("Customers")
    permission = "customers.import_customer"
    match_choices = [
        ("phone", gettext_lazy("Phone")),
        ("email", gettext_lazy("Email")),
        ("name_company", gettext_lazy("Name + company")),
    ]
    default_match_on = ["phone", "email", "name_company"]

    def __init__(self):
        self._columns: list[Column] | None = None

    @property
    def columns(self) -> list[Column]:  # built lazily: choice lookups need the apps loaded
        if self._columns is None:
            self._columns = _columns()
        # The custom fields of the moment (cf_<key>), aliases their labels in both languages.
        return [
            *self._columns,
            *custom_fields.import_columns("customer", custom_fields.definitions_cached("customer")),
            *(
                _contact_column(c)
                for c in custom_fields.import_columns("contact", custom_fields.definitions_cached("contact"))
            ),
        ]

    def owner_choices(self, user: User):
        if user.has_perm("customers.change_customer_owner"):
            return staff_choices()
        return User.objects.filter(pk=user.pk)

    def check_mapping(self, chosen: list[str]) -> list[str]:
        if (
            "name" not in chosen
            and not ({"last_name", "first_name"} & set(chosen))
            and "company" not in chosen
        ):
            return [_("Choose the column with the customer's name (or family and given name).")]
        return []

    def check_row(self, values: dict[str, Any]) -> list[tuple[str, str]]:
        if not values.get("name"):
            joined = f"{values.get('last_name', '')}{values.get('first_name', '')}".strip()
            if joined:
                values["name"] = joined[:200]
            elif values.get("company"):
                # A row with only a company is a company customer named after it.
                values["name"] = values["company"]
                values.setdefault("kind", Customer.Kind.COMPANY)
            else:
                return [("name", _("The customer's name is missing."))]
        contact_details = [
            value
            for key, value in values.items()
            if key in ("contact_phone", "contact_email")
            or key.startswith("contact_" + custom_fields.FORM_PREFIX)
        ]
        if any(value not in (None, "", []) for value in contact_details) and not values.get("contact_name"):
            return [("contact_name", _("The contact's name is missing."))]
        return []

    # --- processing ------------------------------------------------------------------------

    def process(self, job: ImportJob, rows: list[Row], state: RunState, *, dry_run: bool) -> list[Outcome]:
        user = job.created_by
        outcomes: list[Outcome] = []
        prepared: list[tuple[Row, Customer, Contact | None]] = []
        for row in rows:
            try:
                customer, contact = self._build(job, row, state)
            except ValidationError as exc:
                field = getattr(exc, "field", "")
                outcomes.append(
                    Outcome(
                        row.number, "rejected", _message(exc), field=field, value=row.values.get(field, "")
                    )
                )
                continue
            prepared.append((row, customer, contact))
        existing = self._existing(job, [customer for _row, customer, _contact in prepared])
        visible_ids = set(
            Customer.objects.visible_to(user)
            .filter(pk__in=[c.pk for c in existing.values()])
            .values_list("pk", flat=True)
        )
        pending: list[_Pending] = []
        for row, customer, contact in prepared:
            keys = self._keys(job, customer)
            if job.on_duplicate != ImportJob.OnDuplicate.CREATE:
                earlier = next((state.seen[key] for key in keys if key in state.seen), None)
                if earlier is not None:
                    outcomes.append(self._repeat(row, earlier, contact, dry_run=dry_run))
                    continue
                match = next((existing[key] for key in keys if key in existing), None)
                if match is not None:
                    if match.pk not in visible_ids:
                        outcome = Outcome(row.number, "skipped", _owned_elsewhere(match))
                    elif job.on_duplicate == ImportJob.OnDuplicate.SKIP:
                        outcome = Outcome(
                            row.number,
                            "skipped",
                            _("Already in the ledger (customer no. %(id)d).") % {"id": match.pk},
                        )
                    else:
                        outcome = self._update(job, row, match, customer, contact, dry_run=dry_run)
                    seen = _Seen(row.number, match.pk, outcome.result)
                    for key in keys:
                        state.seen[key] = seen
                    outcomes.append(outcome)
                    continue
            entry = _Pending(row, customer, [contact] if contact else [])
            pending.append(entry)
            seen = entry.seen = _Seen(row.number, None, "created", entry)
            for key in keys:
                state.seen.setdefault(key, seen)
        if pending:
            outcomes.extend(self._create(job, pending, dry_run=dry_run))
        return outcomes

    def _repeat(self, row: Row, earlier: "_Seen", contact, *, dry_run: bool) -> Outcome:
        """A row for a customer an earlier row of the file already stands for: its contact is
        added to that customer (several contacts of one company on consecutive rows, often
        with the company cell merged); otherwise the row is skipped."""
        if contact is None or earlier.result not in ("created", "updated"):
            return Outcome(
                row.number, "skipped", _("Same customer as row %(row)d of this file.") % {"row": earlier.row}
            )
        if earlier.entry is not None and earlier.pk is None:
            # Created in this same batch: the contact is created with it.
            earlier.entry.contacts.append(contact)
            return Outcome(row.number, "updated")
        if dry_run:
            return Outcome(row.number, "updated", object_id=earlier.pk)
        contact.customer_id = earlier.pk
        contact.is_primary = False
        contact.save()
        from customers.services import _refresh_customer_search

        _refresh_customer_search(Customer.objects.get(pk=earlier.pk))
        # Created by this import: undo deletes the customer and the contact with it.
        if earlier.result == "created":
            return Outcome(row.number, "updated")
        return Outcome(
            row.number, "updated", object_id=earlier.pk, before={}, after={"contacts_added": [contact.pk]}
        )

    def _build(self, job: ImportJob, row: Row, state: RunState) -> tuple[Customer, Contact | None]:
        values = dict(row.values)
        tags = values.pop("tags", [])
        owner_text = values.pop("owner", "")
        contact_values = {key[8:]: values.pop(key) for key in list(values) if key.startswith("contact_")}
        values.pop("last_name", None)
        values.pop("first_name", None)
        custom = {
            key[len(custom_fields.FORM_PREFIX) :]: values.pop(key)
            for key in list(values)
            if key.startswith(custom_fields.FORM_PREFIX)
        }
        customer = Customer(**{key: value for key, value in values.items() if value not in (None, "")})
        if custom:
            customer.custom = custom_fields.merged_storage(
                {}, custom_fields.definitions_cached("customer"), custom
            )
        if values.get("marketing_consent") is False:
            customer.marketing_consent = False
        customer.owner = self._owner(job, owner_text, state)
        # Phones and emails are already normalised by the column cleaners; the search columns
        # (pinyin: the costly part) are computed once, when the customer is created.
        customer.wechat = (customer.wechat or "").strip()
        customer.mobile_bidx = phone_bidx(customer.mobile)
        customer.other_phone_bidx = phone_bidx(customer.other_phone)
        customer.email_bidx = email_bidx(customer.email)
        customer._import_tags = tags
        contact = None
        if contact_values.get("name"):
            contact = Contact(
                name=contact_values["name"],
                title=contact_values.get("title", ""),
                phone=contact_values.get("phone", ""),
                email=contact_values.get("email", ""),
            )
            contact_custom = {
                key[len(custom_fields.FORM_PREFIX) :]: value
                for key, value in contact_values.items()
                if key.startswith(custom_fields.FORM_PREFIX)
            }
            if contact_custom:
                contact.custom = custom_fields.merged_storage(
                    {}, custom_fields.definitions_cached("contact"), contact_custom
                )
            try:
                _refresh_contact_derived(contact)
            except ValidationError as exc:
                raise ValidationError(_("Contact: %(problem)s") % {"problem": _message(exc)}) from None
        return customer, contact

    def _owner(self, job: ImportJob, text: str, state: RunState) -> User | None:
        if not text:
            if job.default_owner is None and not job.created_by.has_perm("customers.change_customer_owner"):
                return job.created_by  # a rep's imports are theirs
            return job.default_owner
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
            error = ValidationError(
                _("“%(owner)s” is not a colleague you may assign customers to.") % {"owner": text}
            )
            error.field = "owner"
            raise error from None

    def _keys(self, job: ImportJob, customer: Customer) -> list:
        keys = []
        if "phone" in job.match_on:
            keys += [("phone", key) for key in (customer.mobile_bidx, customer.other_phone_bidx) if key]
        if "email" in job.match_on and customer.email_bidx:
            keys.append(("email", customer.email_bidx))
        if "name_company" in job.match_on and customer.company:
            keys.append(("name_company", customer.name, customer.company))
        return keys

    def _existing(self, job: ImportJob, customers: list[Customer]) -> dict:
        """Live customers matching any of the batch's keys, by key (one query)."""
        phones = (
            {key for c in customers for key in (c.mobile_bidx, c.other_phone_bidx) if key}
            if "phone" in job.match_on
            else set()
        )
        emails = {c.email_bidx for c in customers if c.email_bidx} if "email" in job.match_on else set()
        names = (
            {(c.name, c.company) for c in customers if c.company} if "name_company" in job.match_on else set()
        )
        q = Q()
        if phones:
            q |= Q(mobile_bidx__in=phones) | Q(other_phone_bidx__in=phones)
        if emails:
            q |= Q(email_bidx__in=emails)
        if names:
            q |= Q(name__in={n for n, _c in names}, company__in={c for _n, c in names})
        if not q:
            return {}
        found: dict = {}
        matches = (
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
        for match in matches:
            for key in (match.mobile_bidx, match.other_phone_bidx):
                if key in phones:
                    found.setdefault(("phone", key), match)
            if match.email_bidx in emails:
                found.setdefault(("email", match.email_bidx), match)
            if (match.name, match.company) in names:
                found.setdefault(("name_company", match.name, match.company), match)
        return found

    def _create(self, job: ImportJob, entries: list["_Pending"], *, dry_run: bool) -> list[Outcome]:
        if dry_run:
            return [Outcome(entry.row.number, "created") for entry in entries]
        user = job.created_by
        now = timezone.now()
        tags_by_name = self._tags({name for entry in entries for name in entry.customer._import_tags})
        customers = []
        state_pools: dict = {}  # team id → its pool, for customers imported without owner
        for entry in entries:
            customer = entry.customer
            customer.created_by = user
            customer.updated_by = user
            customer.created_at = now
            customer.info_verified_at = now
            if customer.owner_id:
                customer.team_id = customer.owner.team_id
            elif user.team_id:
                customer.team_id = user.team_id
            if not customer.owner_id:
                if customer.team_id not in state_pools:
                    state_pools[customer.team_id] = pool_for_team(customer.team_id)
                customer.pool = state_pools[customer.team_id]
            if customer.marketing_consent:
                customer.marketing_consent_at = now
                customer.marketing_consent_channel = Customer.ConsentChannel.IMPORT
            customer.tag_names = _tag_names([tags_by_name[name] for name in customer._import_tags])
            refresh_search_fields(customer, contact_names=[contact.name for contact in entry.contacts])
            customers.append(customer)
        created = bulk_insert(Customer, customers, history_user=user, history_reason="import")
        contacts = []
        links = []
        for entry, saved in zip(entries, created, strict=True):
            entry.customer.pk = saved.pk
            entry.seen.pk = saved.pk
            # Later rows need only the id: let the customer object go (100k of them held
            # until the end of the run would cost hundreds of MB).
            entry.seen.entry = None
            for position, contact in enumerate(entry.contacts):
                contact.customer_id = saved.pk
                contact.is_primary = position == 0
                contacts.append(contact)
            links += [
                Customer.tags.through(customer_id=saved.pk, tag_id=tags_by_name[name].pk)
                for name in entry.customer._import_tags
            ]
        Contact.objects.bulk_create(contacts, batch_size=1000)
        Customer.tags.through.objects.bulk_create(links, batch_size=1000, ignore_conflicts=True)
        # The consent history starts with the import for customers imported as consenting.
        ConsentRecord.objects.bulk_create(
            [
                ConsentRecord(
                    customer_id=entry.customer.pk,
                    granted=True,
                    at=now,
                    source=ConsentRecord.Source.IMPORT,
                    recorded_by=user,
                )
                for entry in entries
                if entry.customer.marketing_consent
            ],
            batch_size=1000,
        )
        for customer in created:
            customer_created.send(sender=Customer, customer=customer, user=user)
        return [Outcome(entry.row.number, "created", object_id=entry.customer.pk) for entry in entries]

    def _tags(self, names: set[str]) -> dict[str, Tag]:
        if not names:
            return {}
        tags = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
        missing = [Tag(name=name) for name in names if name not in tags]
        if missing:
            Tag.objects.bulk_create(missing, ignore_conflicts=True)
            tags = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
        return tags

    def _update(
        self, job, row: Row, match: Customer, incoming: Customer, contact, *, dry_run: bool
    ) -> Outcome:
        """Fill the existing customer with the row's non-empty cells; remember old values."""
        user = job.created_by
        customer = Customer.objects.select_for_update().prefetch_related("tags").get(pk=match.pk)
        given = set(row.values)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for field in UPDATABLE:
            if field not in given:
                continue
            value = getattr(incoming, field)
            if value is None or value == "":
                continue
            if getattr(customer, field) != value:
                before[field] = _jsonable(getattr(customer, field))
                after[field] = _jsonable(value)
                setattr(customer, field, value)
        if incoming.custom:
            # Filled cells set their custom field; empty ones leave the stored value alone.
            merged = {**customer.custom, **incoming.custom}
            if merged != customer.custom:
                before["custom"], after["custom"] = customer.custom, merged
                customer.custom = merged
        old_tags = sorted(tag.pk for tag in customer.tags.all())
        new_tags = old_tags
        if incoming._import_tags:
            tags = self._tags(set(incoming._import_tags)) if not dry_run else {}
            new_tags = sorted(set(old_tags) | {tag.pk for tag in tags.values()})
            if dry_run and not set(incoming._import_tags) <= {tag.name for tag in customer.tags.all()}:
                new_tags = [*old_tags, -1]
        if not after and new_tags == old_tags and contact is None:
            return Outcome(
                row.number,
                "skipped",
                _("Already in the ledger with the same details (customer no. %(id)d).") % {"id": customer.pk},
            )
        if dry_run:
            return Outcome(row.number, "updated", object_id=customer.pk)
        if "marketing_consent" in after:
            before["marketing_consent_at"] = _jsonable(customer.marketing_consent_at)
            before["marketing_consent_channel"] = customer.marketing_consent_channel
            customer.marketing_consent_at = timezone.now() if customer.marketing_consent else None
            customer.marketing_consent_channel = (
                Customer.ConsentChannel.IMPORT if customer.marketing_consent else ""
            )
            after["marketing_consent_at"] = _jsonable(customer.marketing_consent_at)
            after["marketing_consent_channel"] = customer.marketing_consent_channel
        if new_tags != old_tags:
            before["tags"], after["tags"] = old_tags, new_tags
            customer.tags.set(new_tags)
            customer.tag_names = _tag_names(Tag.objects.filter(pk__in=new_tags))
        if contact is not None:
            contact.customer = customer
            contact.is_primary = not customer.contacts.filter(is_primary=True).exists()
            contact.save()
            after["contacts_added"] = [contact.pk]
        customer.updated_by = user
        _refresh_derived(customer)
        bulk_update_with_history(
            [customer],
            Customer,
            [f for f in after if f not in ("tags", "contacts_added")]
            + [
                "tag_names",
                "updated_by",
                "updated_at",
                "mobile_bidx",
                "other_phone_bidx",
                "email_bidx",
                "search_text",
                "search_grams",
            ],
            default_user=user,
            default_change_reason="import",
        )
        customers_updated.send(sender=Customer, customer_ids=[customer.pk], user=user)  # webhooks
        if "marketing_consent" in after:
            _consent_changed(customer, user=user, source=ConsentRecord.Source.IMPORT)
        return Outcome(row.number, "updated", object_id=customer.pk, before=before, after=after)

    # --- undo --------------------------------------------------------------------------------

    def undo(self, job: ImportJob, user: User) -> dict[str, int]:
        counts = {"deleted": 0, "restored": 0, "conflicts": 0, "kept": 0}
        updated = ImportItem.objects.filter(job=job, action=ImportItem.Action.UPDATED).order_by("-id")
        for item, before, after in item_values(updated.iterator(chunk_size=500)):
            restored, conflicts = _restore(item.object_id, before, after, user)
            counts["restored"] += restored
            counts["conflicts"] += conflicts
        created = ImportItem.objects.filter(job=job, action=ImportItem.Action.CREATED)
        ids = list(created.values_list("object_id", flat=True))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            deleted, kept = _delete_created(chunk)
            counts["deleted"] += deleted
            counts["kept"] += kept
        return counts


def _message(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(
            f"{Customer._meta.get_field(field).verbose_name if field != '__all__' else ''}: {' '.join(messages)}".lstrip(
                ": "
            )
            for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def _owned_elsewhere(match: Customer) -> str:
    """Exists, but the importer may not see it: say who owns it and since when, nothing else."""
    owner = str(match.owner) if match.owner_id else _("nobody (unassigned)")
    return _("A customer with these details already exists, owned by %(owner)s since %(date)s.") % {
        "owner": owner,
        "date": timezone.localtime(match.created_at).date().isoformat(),
    }


def _restore(customer_id: int, before: dict, after: dict, user: User) -> tuple[int, int]:
    """Put back the values an import changed, where nobody has changed them since."""
    customer = Customer.objects.select_for_update().filter(pk=customer_id).prefetch_related("tags").first()
    if customer is None:
        return 0, 1
    for contact_id in after.get("contacts_added", []):
        Contact.objects.filter(pk=contact_id, customer_id=customer_id).delete()
    changed = []
    conflicts = 0
    for field, old in before.items():
        if field == "tags":
            current = sorted(tag.pk for tag in customer.tags.all())
            if current == after["tags"]:
                customer.tags.set(old)
                customer.tag_names = _tag_names(Tag.objects.filter(pk__in=old))
                changed.append("tag_names")
            else:
                conflicts += 1
            continue
        model_field = Customer._meta.get_field(field)
        if json.dumps(_jsonable(getattr(customer, field)), default=str) != json.dumps(
            after.get(field), default=str
        ):
            conflicts += 1
            continue
        setattr(customer, field, model_field.to_python(old) if old is not None else None)
        changed.append(field)
    if changed or after.get("contacts_added"):
        customer.updated_by = user
        _refresh_derived(customer)
        bulk_update_with_history(
            [customer],
            Customer,
            [
                *changed,
                "updated_by",
                "updated_at",
                "mobile_bidx",
                "other_phone_bidx",
                "email_bidx",
                "search_text",
                "search_grams",
            ],
            default_user=user,
            default_change_reason="import undone",
        )
        customers_updated.send(sender=Customer, customer_ids=[customer.pk], user=user)
        if "marketing_consent" in changed:
            _consent_changed(customer, user=user, source=ConsentRecord.Source.IMPORT_UNDONE)
    return (1 if changed or after.get("contacts_added") else 0), conflicts


def _consent_changed(customer: Customer, *, user: User, source: str) -> None:
    """The consent history row for an import (or its undo) that changed the consent."""
    ConsentRecord.objects.create(
        customer=customer,
        granted=customer.marketing_consent,
        at=customer.marketing_consent_at or timezone.now(),
        source=source,
        recorded_by=user,
    )


def _delete_created(ids: list[int]) -> tuple[int, int]:
    """Delete customers an import created, unless work was recorded on them since (orders,
    interactions, tickets, merges ...): those are kept and counted rather than losing that
    work. One query per kind of related record, then one bulk delete."""
    busy: set[int] = set()
    for relation in Customer._meta.related_objects:
        model = relation.related_model
        # Contacts, tags and the import's own consent rows go with the customer; privacy
        # requests only point at it.
        if model in (Contact, Customer.tags.through, ConsentRecord, PrivacyRequest) or relation.many_to_many:
            continue
        busy.update(
            model._base_manager.filter(**{f"{relation.field.name}__in": ids}).values_list(
                relation.field.attname, flat=True
            )
        )
    deletable = [pk for pk in ids if pk not in busy]
    Customer.objects.filter(pk__in=deletable).delete()
    return len(deletable), len(ids) - len(deletable)
