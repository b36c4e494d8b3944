"""Fill the configured database with a large, realistic data set for the benchmarks (issue 10).

    scripts/with-test-services.sh .venv/bin/python bench/generate.py \\
        --customers 1000000 --interactions 5000000 --orders 1000000

Database: DATABASE_URL, or under scripts/with-test-services.sh a `crm_bench` database on the
throwaway server (bench/common.py); migrated first. It refuses a database that already has
customers unless --append is given.

What it makes: staff (8 sales teams of 6 reps and a manager, customer service, an admin; all
with the password settings.DEMO_PASSWORD), tags, products; customers (≈80% Chinese: family +
1–2 character given names, companies like 上海海创科技有限公司; ≈20% English) with contacts
and tags, created over 3 years; orders with lines; interactions; tickets; opportunities with
their stage changes; tasks; tier changes over the last year. Derived columns are what the app
computes: purchase statistics from the generated orders, last_contacted_at from the
interactions, lifecycle stage by sales.services' rules, RFM score / tier / ABC class by
sales.scoring's quintiles over the last year, churn score and reason by sales.churn's
assess_churn_risk(). Personal data is encrypted with the app's Fernet keys and blind-indexed
with its keys (core.crypto); search_text / search_grams come from customers.search.

How it is fast: values come from pools (bench/pools.py), not Faker row by row; ids are
reserved up front from each table's sequence, so rows reference each other without
round trips; rows go in with COPY; the tables' secondary indexes and foreign keys are
dropped for the load and rebuilt at the end, in the same transaction (as pg_restore does: a
bulk index build and one validating join per key cost far less than maintaining every index
and checking every key row by row); customers (encryption, pinyin, churn scoring) are built in
a process pool. ANALYZE runs at the end.

Change history: one "+" (created) row per customer, as customer_create() makes, copied from
the customer rows inside the database (INSERT … SELECT), dated at the customer's creation.
Later edits have no history rows. Not generated: ticket comments and status changes, audit
log entries, notifications.
"""

import argparse
import itertools
import random
import sys
import time
from array import array
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import pools as P  # noqa: E402

DAY = 86400
HISTORY_YEARS = 3
CHUNK = 10000  # customers per process-pool task; rows per COPY statement elsewhere
CENT = Decimal("0.01")


class RefusedError(Exception):
    """The database is not one the generator may fill."""


@dataclass
class Result:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    # Plaintext of a few generated customers, to check what the database gives back.
    samples: list[dict] = field(default_factory=list)


# --- output -----------------------------------------------------------------------------------


class Report:
    def __init__(self, out, result: Result):
        self.out = out
        self.result = result
        self.started = time.perf_counter()

    def say(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {message}", file=self.out, flush=True)

    def done(self, table: str, rows: int, started: float) -> None:
        seconds = time.perf_counter() - started
        self.result.rows[table] = self.result.rows.get(table, 0) + rows
        self.result.seconds[table] = self.result.seconds.get(table, 0.0) + seconds
        self.say(f"{table}: {rows:,} rows in {seconds:.1f} s")

    def progress(self, label: str, total: int):
        """A callable taking the count done so far; says something every 10%."""
        step = max(total // 10, 1)
        marks = {"next": step}

        def tick(done: int) -> None:
            if done >= marks["next"] and total:
                self.say(f"  {label}: {done:,}/{total:,}")
                marks["next"] = (done // step + 1) * step

        return tick


# --- database helpers -----------------------------------------------------------------------------


def _columns(model, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a row tuple fills, checked against the model: a new field must be given a
    value here rather than silently left to a default the app never writes."""
    expected = {f.column for f in model._meta.concrete_fields}
    given = set(columns)
    if given != expected:
        raise RuntimeError(
            f"bench/generate.py is out of date for {model.__name__}: "
            f"missing {sorted(expected - given)}, unknown {sorted(given - expected)}"
        )
    return columns


def _copy(cursor, table: str, columns, rows) -> None:
    quote = '"{}"'.format
    sql = f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def _reserve_ids(cursor, table: str, count: int) -> int:
    """Take `count` ids from the table's sequence at once; returns the first."""
    if count <= 0:
        return 0
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    (sequence,) = cursor.fetchone()
    cursor.execute("SELECT nextval(%s)", [sequence])
    (first,) = cursor.fetchone()
    cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _fix_sequence(cursor, table: str, pk: str) -> None:
    """The sequence continues after the largest id (so the app's next insert works)."""
    cursor.execute(
        f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{pk}"), 1), MAX("{pk}") IS NOT NULL) FROM "{table}"',  # noqa: S608 (names from the models)
        [table, pk],
    )


class DeferredIndexes:
    """Secondary (non-unique) indexes and foreign keys of the tables about to be filled: dropped
    now, rebuilt by restore() from their saved definitions. Unique indexes, primary keys and
    check constraints stay. Use inside the load's transaction, so a failure rolls the drops
    back too."""

    def __init__(self, cursor, tables: list[str]):
        self.cursor = cursor
        self.indexes: list[tuple[str, str]] = []
        self.foreign_keys: list[tuple[str, str, str]] = []
        for table in tables:
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                """,
                [table],
            )
            self.indexes.extend(cursor.fetchall())
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            self.foreign_keys.extend((table, name, definition) for name, definition in cursor.fetchall())
        for table, name, _definition in self.foreign_keys:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _definition in self.indexes:
            cursor.execute(f"DROP INDEX {name}")

    def restore(self, report: Report) -> None:
        started = time.perf_counter()
        timings = []
        for name, definition in self.indexes:
            index_started = time.perf_counter()
            self.cursor.execute(definition)
            timings.append((time.perf_counter() - index_started, name))
        slowest = ", ".join(f"{name} {seconds:.0f} s" for seconds, name in sorted(timings, reverse=True)[:5])
        report.say(
            f"rebuilt {len(self.indexes)} indexes in {time.perf_counter() - started:.1f} s (slowest: {slowest})"
        )
        started = time.perf_counter()
        for table, name, definition in self.foreign_keys:
            # Validates every row with one join.
            self.cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        report.say(f"checked {len(self.foreign_keys)} foreign keys in {time.perf_counter() - started:.1f} s")


# --- small value helpers ----------------------------------------------------------------------------


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _mobile(rng: random.Random) -> str:
    prefix = rng.choices(["13", "15", "18", "17", "19", "16", "14"], weights=[30, 25, 22, 10, 8, 3, 2])[0]
    return f"{prefix}{rng.randrange(10**9):09d}"


def _ascii_word(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalnum())


# --- the customers, built in worker processes ---------------------------------------------------------

# Set by _init_worker() in each worker (and in the main process for workers=0).
_W = SimpleNamespace()

CUSTOMER_COLUMNS = (
    "id", "kind", "name", "gender", "birthday", "company", "title", "industry",
    "mobile", "other_phone", "email", "wechat", "street", "mobile_bidx", "other_phone_bidx", "email_bidx",
    "province", "city", "district", "region", "source", "lifecycle_stage", "lifecycle_stage_manual",
    "value_tier", "abc_class", "abc_class_manual", "tag_names", "value_tier_manual", "rfm_score",
    "churn_risk_score", "churn_risk_reason", "churn_flagged_at", "followup_reminded_at",
    "followup_escalated_at", "care_opt_out", "preferences", "notes",
    "owner_id", "team_id", "marketing_consent", "marketing_consent_at", "marketing_consent_channel",
    "info_verified_at", "last_contacted_at", "first_purchase_at", "last_purchase_at", "order_count",
    "total_spend", "search_text", "search_grams", "created_at", "created_by_id", "updated_at",
    "updated_by_id", "deleted_at", "deleted_by_id", "merged_into_id", "anonymised_at", "pool_id", "custom",
)  # fmt: skip
CONTACT_COLUMNS = (
    "id", "customer_id", "name", "title", "phone", "email", "wechat", "phone_bidx", "email_bidx",
    "is_primary", "created_at", "custom",
)  # fmt: skip
SOURCES = ["referral", "exhibition", "web_form", "phone", "social_media", "email", "walk_in", "other", ""]
SOURCE_WEIGHTS = [18, 10, 20, 15, 15, 7, 8, 5, 2]


def _init_worker(context: dict) -> None:
    """Per process: Django, pools and caches (the process pool's initializer)."""
    if "django_ready" not in context:
        from bench.common import setup_django

        setup_django()
    from core import crypto
    from customers import search

    _W.context = context
    _W.pools = P.Pools(context["seed"])
    _W.fernet = crypto.fernet()
    _W.search = search
    _W.search_memo = {}
    from sales.models import ChurnSettings

    _W.churn_config = ChurnSettings(**context["churn_settings"])


def _encrypt(value: str) -> str:
    # What EncryptedTextField.get_prep_value() stores: "" stays "".
    return _W.fernet.encrypt(value.encode()).decode() if value else ""


def _search_fields(names: tuple[str, ...]) -> tuple[str, list[str]]:
    memo = _W.search_memo
    found = memo.get(names)
    if found is None:
        if len(memo) > 200_000:
            memo.clear()
        found = memo[names] = _W.search.search_fields_for(names)
    return found


def _person(rng: random.Random, chinese: bool) -> str:
    return rng.choice(_W.pools.cn_names if chinese else _W.pools.en_names)


def _email(rng: random.Random, name: str, chinese: bool, company: bool) -> str:
    if chinese:
        forms = _W.search._pinyin_forms(name)
        base = forms[0] if forms else _ascii_word(name)
        if company:
            return f"{rng.choice(['sales', 'info', 'service', 'contact'])}@{base[:12]}.com.cn"
        if rng.random() < 0.5:
            base = f"{base}{rng.randrange(1, 9999)}"
        return f"{base}@{rng.choice(P.MAIL_DOMAINS)}"
    word = _ascii_word(name.split(" ")[0])
    if company:
        return f"office@{word or 'mail'}{rng.randrange(10, 99)}.com"
    first, _sep, last = name.partition(" ")
    return f"{_ascii_word(first)}.{_ascii_word(last)}{rng.randrange(1, 99)}@{rng.choice(P.EN_MAIL_DOMAINS)}"


def _street(rng: random.Random, chinese: bool) -> str:
    if chinese:
        street = f"{rng.choice(P.STREETS)}{rng.choice(P.STREETS)}{rng.choice(P.STREET_SUFFIXES)}{rng.randint(1, 999)}号"
        if rng.random() < 0.4:
            street += f"{rng.randint(1, 30)}栋{rng.randint(1, 30)}0{rng.randint(1, 9)}室"
        return street
    return f"{rng.randint(1, 2000)} {rng.choice(P.EN_STREETS)}"


def build_customers(chunk_no: int, plans: list[tuple]) -> tuple[list, list, list, list]:
    """Rows for one chunk of customers: (customers, contacts, tag links, samples)."""
    from django.utils import translation

    from sales.churn import assess_churn_risk
    from sales.services import _lifecycle_after_purchases

    ctx = _W.context
    rng = random.Random(ctx["seed"] * 1_000_003 + chunk_no)
    pools = _W.pools
    users = ctx["users"]  # owner index → (user id, team id)
    reps = ctx["rep_ids"]
    tags = ctx["tags"]
    now_ts = ctx["now"]
    now = _dt(now_ts)
    today = ctx["today"]
    threshold = ctx["churn_threshold"]
    churned_by = today - timedelta(days=_W.churn_config.churned_after_days)
    customers, contacts, tag_links, samples = [], [], [], []
    for plan in plans:
        (
            customer_id, created_ts, owner_index, chinese, company_kind, contact_count, first_contact_id,
            order_count, spend, first_order, last_order, purchases, first_purchase, last_purchase,
            last_contact, recent, complaints, rfm, tier, abc, deleted_ts, team_fallback,
        ) = plan  # fmt: skip
        created = _dt(created_ts)
        if owner_index >= 0:
            owner_id, team_id = users[owner_index]
        else:
            owner_id, team_id = None, team_fallback
        creator = owner_id or reps[customer_id % len(reps)]
        person = _person(rng, chinese)
        place = rng.choices(pools.places, pools.place_weights)[0]
        if company_kind:
            name = company = rng.choice(pools.cn_companies if chinese else pools.en_companies)
            # A Chinese company's name starts with the city it is registered in.
            place = pools.place_by_city.get(pools.company_city.get(name), place)
            gender, birthday, title = "", None, ""
            industry = rng.choice(P.INDUSTRIES) if rng.random() < 0.9 else ""
        else:
            name = person
            company = (
                rng.choice(pools.cn_companies if chinese else pools.en_companies)
                if rng.random() < 0.35
                else ""
            )
            gender = rng.choices(["male", "female", ""], weights=[48, 45, 7])[0]
            birthday = (
                today.replace(
                    year=today.year - rng.randint(20, 70), month=rng.randint(1, 12), day=rng.randint(1, 28)
                )
                if rng.random() < 0.55
                else None
            )
            title = rng.choice(P.TITLES if chinese else P.EN_TITLES) if company and rng.random() < 0.7 else ""
            industry = rng.choice(P.INDUSTRIES) if company and rng.random() < 0.5 else ""
        if chinese or rng.random() < 0.5:
            province, region, city, districts = place
            district = rng.choice(districts) if districts and rng.random() < 0.8 else ""
        else:
            province, region, city, district = "", "海外", rng.choice(P.ABROAD), ""
        mobile = _mobile(rng) if rng.random() < (0.96 if chinese else 0.45) else ""
        other_phone = _mobile(rng) if rng.random() < 0.06 else ""
        email = _email(rng, name, chinese, company_kind) if rng.random() < (0.55 if chinese else 0.8) else ""
        wechat = (
            f"wxid_{''.join(rng.choices('abcdefghijklmnopqrstuvwxyz0123456789', k=12))}"
            if chinese and rng.random() < 0.4
            else ""
        )
        street = _street(rng, chinese) if rng.random() < 0.7 else ""

        # Contacts (company customers); the app's search covers their names, primary first.
        contact_names = []
        for number in range(contact_count):
            contact_name = _person(rng, chinese or rng.random() < 0.3)
            phone = _mobile(rng) if rng.random() < 0.9 else ""
            contact_email = _email(rng, contact_name, chinese, False) if rng.random() < 0.6 else ""
            contacts.append(
                (
                    first_contact_id + number,
                    customer_id,
                    contact_name,
                    rng.choice(P.TITLES if chinese else P.EN_TITLES),
                    _encrypt(phone),
                    _encrypt(contact_email),
                    _encrypt(f"wx{rng.randrange(10**8, 10**9)}" if chinese and rng.random() < 0.3 else ""),
                    _W.search.phone_bidx(phone),
                    _W.search.email_bidx(contact_email),
                    number == 0,
                    min(created + timedelta(days=number * rng.randint(0, 60)), now),
                    "{}",
                )
            )
            contact_names.append(contact_name)
        contact_names = contact_names[:1] + sorted(contact_names[1:])
        search_text, search_grams = _search_fields((name, company, *contact_names))

        # Tags: a few, the region's tag more often.
        chosen = set(rng.sample(tags, k=rng.choices([0, 1, 2, 3], weights=[50, 30, 15, 5])[0]))
        if region in ctx["region_tags"] and rng.random() < 0.3:
            chosen.add(ctx["region_tags"][region])
        tag_links.extend((customer_id, tag_id) for tag_id, _name in chosen)
        tag_names = ", ".join(sorted(tag_name for _id, tag_name in chosen))

        # Lifecycle by the order service's rules, then the churn job's.
        first_purchase_dt = _dt(first_purchase) if first_purchase else None
        last_purchase_dt = _dt(last_purchase) if last_purchase else None
        stage = _lifecycle_after_purchases(
            SimpleNamespace(lifecycle_stage="prospect", lifecycle_stage_manual=False),
            purchases,
            first_purchase_dt,
            last_purchase_dt,
        )
        churn_score, churn_reason, churn_flagged = 0, "", None
        if recent:
            assessment = assess_churn_risk(
                purchases=[(_dt(at), Decimal(cents).scaleb(-2)) for at, cents in recent],
                last_contact=_dt(last_contact or created_ts),
                open_complaints=complaints,
                today=today,
                config=_W.churn_config,
            )
            churn_score = assessment.score
            if churn_score >= threshold:
                with translation.override(ctx["language"]):
                    churn_reason = assessment.reason(_W.churn_config)
                # Flagged on some night since the last purchase, at most ~8 months ago.
                window = min(now_ts - last_purchase, 240 * DAY)
                churn_flagged = now - timedelta(seconds=rng.uniform(0.05, 1.0) * window)
                if churn_flagged.date() <= churned_by and last_purchase_dt < churn_flagged:
                    stage = "churned"

        consent = rng.random() < 0.55
        consent_at = min(created + timedelta(hours=rng.uniform(0, 240)), now) if consent else None
        age = now_ts - created_ts
        if age < 120 * DAY:
            verified = created_ts + rng.uniform(0, age)
        elif rng.random() < 0.7:
            verified = now_ts - rng.uniform(0, 120 * DAY)  # confirmed lately
        else:
            verified = created_ts + rng.uniform(0, age - 120 * DAY)  # due for re-verification
        updated = max(created_ts, verified, last_contact or 0, last_order or 0)
        deleted = _dt(deleted_ts) if deleted_ts else None
        customers.append(
            (
                customer_id,
                "company" if company_kind else "individual",
                name,
                gender,
                birthday,
                company,
                title,
                industry,
                _encrypt(mobile),
                _encrypt(other_phone),
                _encrypt(email),
                _encrypt(wechat),
                _encrypt(street),
                _W.search.phone_bidx(mobile),
                _W.search.phone_bidx(other_phone),
                _W.search.email_bidx(email),
                province,
                city,
                district,
                region,
                rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
                stage,
                False,
                tier,
                abc,
                False,
                tag_names,
                False,
                rfm,
                churn_score,
                churn_reason,
                churn_flagged,
                None,  # followup_reminded_at: the escalation job's state, none at the start
                None,  # followup_escalated_at
                rng.random() < 0.03,
                rng.choice(P.PREFERENCES) if rng.random() < 0.25 else "",
                rng.choice(P.NOTES) if rng.random() < 0.15 else "",
                owner_id,
                team_id,
                consent,
                consent_at,
                rng.choice(["web_form", "paper", "verbal", "email", "import"]) if consent else "",
                _dt(verified),
                _dt(last_contact) if last_contact else None,
                _dt(first_order) if first_order else None,
                _dt(last_order) if last_order else None,
                order_count,
                _money(spend),
                search_text,
                search_grams,
                created,
                creator,
                _dt(updated),
                creator,
                deleted,
                creator if deleted else None,
                None,
                None,
                None if owner_id else ctx["default_pool_id"],
                "{}",  # custom fields: none defined in the benchmark
            )
        )
        if len(samples) < 3 and mobile:
            samples.append(
                {"id": customer_id, "name": name, "mobile": mobile, "email": email, "company": company}
            )
    return customers, contacts, tag_links, samples


# --- the generator ---------------------------------------------------------------------------


class Generator:
    def __init__(self, *, cursor, sizes: dict[str, int], seed: int, workers: int, report: Report):
        from django.conf import settings
        from django.utils import timezone

        self.cursor = cursor
        self.sizes = sizes
        self.seed = seed
        self.workers = workers
        self.report = report
        self.rng = random.Random(seed)
        self.now = timezone.now().replace(microsecond=0)
        self.now_ts = int(self.now.timestamp())
        self.today = timezone.localdate(self.now)
        self.tz = timezone.get_current_timezone()
        self.settings = settings
        self.samples: list[dict] = []

    # -- reference data through the ORM (small) --

    def reference_data(self) -> None:
        from django.conf import settings
        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.models import Group

        from core.models import Role, Team, User
        from customers.models import Tag
        from sales.models import PipelineStage, Product

        started = time.perf_counter()
        rng = self.rng
        pools = P.Pools(self.seed)
        password = make_password(settings.DEMO_PASSWORD)  # one hash for everyone: hashing is slow
        groups = {role: Group.objects.get(name=str(role)) for role in Role}
        team_names = [
            "华东销售一部",
            "华东销售二部",
            "华北销售部",
            "华南销售部",
            "西南销售部",
            "华中销售部",
            "大客户部",
            "海外业务部",
        ]
        teams = [Team.objects.get_or_create(name=f"{name}（bench）")[0] for name in team_names]
        service_team = Team.objects.get_or_create(name="客服中心（bench）")[0]

        def person(username, role, team, superuser=False):
            full = pools.cn_names[rng.randrange(len(pools.cn_names))]
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "last_name": full[0],
                    "first_name": full[1:],
                    "email": f"{username}@bench.example.com",
                    "team": team,
                    "password": password,
                    "is_staff": superuser,
                    "is_superuser": superuser,
                },
            )
            if created:
                user.groups.add(groups[role])
            return user

        self.admin = person("bench_admin", Role.ADMIN, None, superuser=True)
        self.owners = []  # (user id, team id), reps first
        self.rep_ids = []
        managers = []
        for number, team in enumerate(teams, start=1):
            manager = person(f"bench_manager{number}", Role.SALES_MANAGER, team)
            team.managers.add(manager)
            managers.append(manager)
            for rep_number in range(1, 7):
                rep = person(f"bench_rep{number}{rep_number}", Role.SALES_REP, team)
                self.owners.append((rep.pk, team.pk))
                self.rep_ids.append(rep.pk)
        self.owners.extend((m.pk, m.team_id) for m in managers)
        # Reps carry different loads; managers own a few key accounts.
        self.owner_weights = [rng.lognormvariate(0, 0.5) for _ in self.rep_ids] + [0.3] * len(managers)
        self.service_ids = [
            person(f"bench_service{n}", Role.CUSTOMER_SERVICE, service_team).pk for n in range(1, 7)
        ]
        self.team_ids = [t.pk for t in teams]
        self.tags = [
            Tag.objects.get_or_create(name=name, defaults={"color": color})[0] for name, color in P.TAGS
        ]
        products = []
        for number, (category, names) in enumerate(P.PRODUCT_CATEGORIES.items()):
            for index, name in enumerate(names):
                price = Decimal(rng.choice([29, 99, 158, 199, 389, 880, 1299, 2480, 3650, 6800])).quantize(
                    CENT
                )
                products.append(
                    Product.objects.get_or_create(
                        sku=f"BENCH-{number + 1}{index + 1:02d}",
                        defaults={"name": name, "category": category, "unit_price": price},
                    )[0]
                )
        self.products = [(p.pk, p.unit_price) for p in products]
        stages = list(PipelineStage.objects.filter(active=True).order_by("order", "pk"))
        self.open_stages = [s for s in stages if s.kind == PipelineStage.Kind.OPEN]
        self.won_stage = next(s for s in stages if s.kind == PipelineStage.Kind.WON)
        self.lost_stage = next(s for s in stages if s.kind == PipelineStage.Kind.LOST)
        users = len(self.owners) + len(self.service_ids) + 1
        self.report.done(
            "users, teams, tags, products", users + len(teams) + 1 + len(self.tags) + len(products), started
        )

    # -- who the customers are (in memory, a few arrays) --

    def plan_customers(self) -> None:
        started = time.perf_counter()
        rng, count = self.rng, self.sizes["customers"]
        span = HISTORY_YEARS * 365 * DAY
        start = self.now_ts - span
        # More customers each month than the last: the business grows.
        self.created = array("q", sorted(int(start + span * rng.random() ** 0.7) for _ in range(count)))
        owner_count = len(self.owners)
        picks = rng.choices(range(owner_count), weights=self.owner_weights, k=count)
        self.owner = array("h", (p if rng.random() > 0.03 else -1 for p in picks))
        self.chinese = array("b", (rng.random() < 0.8 for _ in range(count)))
        self.company = array("b", (rng.random() < 0.25 for _ in range(count)))
        self.contact_count = array(
            "b", (rng.choices([1, 2, 3], weights=[50, 35, 15])[0] if c else 0 for c in self.company)
        )
        # How much each customer buys (0: never) and until when (some stopped: churn).
        self.buy_weight = array("d")
        self.stop = array("q")
        for i in range(count):
            age = (self.now_ts - self.created[i]) / span
            if rng.random() < 0.72:
                weight = min(rng.paretovariate(1.6), 40.0) * (1.8 if self.company[i] else 1.0)
                self.buy_weight.append(weight * (age**0.8 + 0.02))
            else:
                self.buy_weight.append(0.0)
            if self.buy_weight[i] and rng.random() < 0.2 and age * span > 150 * DAY:
                self.stop.append(
                    int(self.created[i] + (self.now_ts - self.created[i]) * rng.uniform(0.2, 0.85))
                )
            else:
                self.stop.append(0)
        self.deleted = array(
            "q", (self.now_ts - rng.randrange(30 * DAY) if rng.random() < 0.003 else 0 for _ in range(count))
        )
        self.customer_base = _reserve_ids(self.cursor, "customers_customer", count)
        contacts = sum(self.contact_count)
        self.contact_base = _reserve_ids(self.cursor, "customers_contact", contacts)
        self.first_contact = array("q", itertools.accumulate(self.contact_count, initial=0))
        self.report.say(
            f"planned {count:,} customers and {contacts:,} contacts in {time.perf_counter() - started:.1f} s"
        )

    def _times(self, count: int, weights, until_stop: bool, grace: int = 0, each: list[int] = ()):
        """`count` (timestamp, customer index) pairs in time order: one for each customer in
        `each`, the rest drawn by weight; times spread between their creation and now (or
        when they stopped, plus `grace`)."""
        rng = self.rng
        n = len(self.created)
        if count <= 0 or n == 0:
            return []
        cumulative = list(itertools.accumulate(weights))
        if cumulative[-1] <= 0:
            cumulative = list(range(1, n + 1))
        shift = max(n.bit_length(), 1)
        keys = array("q")
        created, stop, now = self.created, self.stop, self.now_ts
        each = list(each[:count])
        for index in itertools.chain(
            each, rng.choices(range(n), cum_weights=cumulative, k=count - len(each))
        ):
            end = min(stop[index] + grace, now) if until_stop and stop[index] else now
            at = int(created[index] + (end - created[index]) * rng.random())
            keys.append((at << shift) | index)
        mask = (1 << shift) - 1
        return [(key >> shift, key & mask) for key in sorted(keys)]

    def _customer_owner(self, index: int) -> int:
        owner = self.owner[index]
        return self.owners[owner][0] if owner >= 0 else self.rep_ids[index % len(self.rep_ids)]

    # -- orders and their lines; the purchase statistics follow --

    def orders(self) -> None:
        from sales.models import Order, OrderLine
        from sales.scoring import TierSettings

        order_columns = _columns(
            Order,
            ("id", "number", "customer_id", "ordered_at", "status", "channel", "owner_id", "notes", "total", "created_by_id", "created_at", "updated_at"),
        )  # fmt: skip
        line_columns = _columns(
            OrderLine, ("id", "order_id", "product_id", "quantity", "unit_price", "discount")
        )
        started = time.perf_counter()
        rng, count, n = self.rng, self.sizes["orders"], len(self.created)
        # Most buyers bought once or twice, a few often: each buyer gets one order (while
        # they last: at most 60% of the orders), the rest go by weight.
        buyers = [i for i in range(n) if self.buy_weight[i]]
        rng.shuffle(buyers)
        pairs = self._times(count, self.buy_weight, until_stop=True, each=buyers[: count * 3 // 5])
        base = _reserve_ids(self.cursor, "sales_order", count)
        self.order_count = array("I", bytes(4 * n))
        self.spend = array("q", bytes(8 * n))
        self.first_order = array("q", bytes(8 * n))
        self.last_order = array("q", bytes(8 * n))
        self.purchases = array("I", bytes(4 * n))
        self.first_purchase = array("q", bytes(8 * n))
        self.last_purchase = array("q", bytes(8 * n))
        self.window_count = array("I", bytes(4 * n))
        self.window_spend = array("q", bytes(8 * n))
        self.recent: dict[int, list] = {}
        tier_settings = TierSettings.current()
        self.tier_settings = tier_settings
        since_day = self.today - timedelta(days=tier_settings.window_days)
        since = int(datetime.combine(since_day, datetime.min.time(), tzinfo=self.tz).timestamp())
        line_cache: dict[tuple, int] = {}
        lines_total = 0
        products = self.products
        tick = self.report.progress("orders", count)
        excluded, purchased = {"cancelled", "refunded"}, {"paid", "shipped", "completed"}
        for chunk_start in range(0, len(pairs), CHUNK * 5):
            orders, lines = [], []
            for offset, (at, index) in enumerate(pairs[chunk_start : chunk_start + CHUNK * 5]):
                order_id = base + chunk_start + offset
                age = self.now_ts - at
                if age < 2 * DAY:
                    status = rng.choice(["pending", "pending", "paid"])
                elif age < 7 * DAY:
                    status = rng.choice(["pending", "paid", "shipped"])
                elif age < 20 * DAY:
                    status = rng.choice(["shipped", "completed", "completed"])
                else:
                    status = rng.choices(["completed", "cancelled", "refunded"], weights=[90, 6, 4])[0]
                total = 0
                for product_id, price in rng.sample(
                    products, k=rng.choices([1, 2, 3, 4], weights=[45, 30, 15, 10])[0]
                ):
                    quantity = rng.choice([1, 1, 1, 2, 2, 3, 5, 10, 20])
                    discount = rng.choices(["0", "5", "10", "12.5"], weights=[70, 12, 12, 6])[0]
                    key = (price, quantity, discount)
                    cents = line_cache.get(key)
                    if cents is None:
                        # OrderLine.line_total, then sales.models.money(): half up to the cent.
                        gross = Decimal(quantity) * price * (Decimal(100) - Decimal(discount)) / Decimal(100)
                        cents = line_cache[key] = int(gross.quantize(CENT, rounding=ROUND_HALF_UP) * 100)
                    total += cents
                    lines.append((order_id, product_id, quantity, price, discount))
                customer_id = self.customer_base + index
                owner = self._customer_owner(index)
                ordered = _dt(at)
                local = datetime.fromtimestamp(at, self.tz)
                orders.append(
                    (
                        order_id,
                        f"SO{local:%Y%m}{order_id:07d}",
                        customer_id,
                        ordered,
                        status,
                        rng.choices(
                            ["sales_rep", "online", "wechat", "phone", "store", "distributor"],
                            weights=[35, 25, 18, 10, 7, 5],
                        )[0],
                        owner,
                        "",
                        _money(total),
                        owner,
                        ordered,
                        _dt(min(at + rng.randint(0, 20) * DAY, self.now_ts)),
                    )
                )
                if status in excluded:
                    continue
                # What customers_refresh_purchase_stats() aggregates (pairs are in time order).
                self.order_count[index] += 1
                self.spend[index] += total
                if not self.first_order[index]:
                    self.first_order[index] = at
                self.last_order[index] = at
                if status in purchased:
                    self.purchases[index] += 1
                    if not self.first_purchase[index]:
                        self.first_purchase[index] = at
                    self.last_purchase[index] = at
                    recent = self.recent.setdefault(index, [])
                    recent.append((at, total))
                    if len(recent) > 25:  # sales.churn.RHYTHM_ORDERS
                        del recent[0]
                    if at >= since:
                        self.window_count[index] += 1
                        self.window_spend[index] += total
            line_base = _reserve_ids(self.cursor, "sales_orderline", len(lines))
            _copy(self.cursor, "sales_order", order_columns, orders)
            _copy(
                self.cursor,
                "sales_orderline",
                line_columns,
                ((line_base + i, *line) for i, line in enumerate(lines)),
            )
            lines_total += len(lines)
            tick(chunk_start + len(orders))
        self.report.done("sales_order", count, started)
        self.report.result.rows["sales_orderline"] = lines_total

    # -- interactions; last_contacted_at follows --

    def interactions(self) -> None:
        from interactions.models import Interaction

        columns = _columns(
            Interaction,
            ("id", "customer_id", "contact_id", "kind", "channel", "direction", "occurred_at", "summary", "details", "outcome", "satisfaction", "next_step", "ticket_id", "created_by_id", "created_at"),
        )  # fmt: skip
        started = time.perf_counter()
        rng, count, n = self.rng, self.sizes["interactions"], len(self.created)
        weights = [0.4 + min(w, 10.0) for w in self.buy_weight]
        pairs = self._times(count, weights, until_stop=True, grace=90 * DAY)
        base = _reserve_ids(self.cursor, "interactions_interaction", count)
        self.last_contact = array("q", bytes(8 * n))
        summaries = P.INTERACTION_SUMMARIES
        channels = ["phone", "wechat", "email", "visit", "meeting", "sms", "social_media", "other"]
        channel_weights = [35, 30, 12, 8, 5, 5, 3, 2]
        tick = self.report.progress("interactions", count)
        for chunk_start in range(0, len(pairs), CHUNK * 5):
            rows = []
            for offset, (at, index) in enumerate(pairs[chunk_start : chunk_start + CHUNK * 5]):
                kind = rng.choices(["contact", "feedback", "complaint"], weights=[90, 6, 4])[0]
                contacts = self.contact_count[index]
                occurred = _dt(at)
                rows.append(
                    (
                        base + chunk_start + offset,
                        self.customer_base + index,
                        self.contact_base + self.first_contact[index] + rng.randrange(contacts)
                        if contacts and rng.random() < 0.5
                        else None,
                        kind,
                        rng.choices(channels, channel_weights)[0],
                        "in" if kind != "contact" or rng.random() < 0.25 else "out",
                        occurred,
                        rng.choice(summaries[kind]),
                        "",
                        rng.choice(P.OUTCOMES),
                        rng.randint(2, 5)
                        if kind == "contact" and rng.random() < 0.2
                        else (rng.randint(1, 3) if kind == "complaint" else None),
                        rng.choice(P.NEXT_STEPS),
                        None,
                        self._customer_owner(index),
                        occurred + timedelta(minutes=rng.randint(0, 240)),
                    )
                )
                if at > self.last_contact[index]:
                    self.last_contact[index] = at
            _copy(self.cursor, "interactions_interaction", columns, rows)
            tick(chunk_start + len(rows))
        self.report.done("interactions_interaction", count, started)

    # -- tickets; open complaints feed the churn score --

    def tickets(self) -> None:
        from interactions.models import Ticket
        from interactions.services import sla_due_for

        columns = _columns(
            Ticket,
            ("id", "customer_id", "contact_id", "subject", "description", "category", "priority", "status", "assignee_id", "sla_due_at", "resolution", "satisfaction", "created_by_id", "created_at", "updated_at", "resolved_at", "closed_at"),
        )  # fmt: skip
        started = time.perf_counter()
        rng, count = self.rng, self.sizes["tickets"]
        pairs = self._times(count, [0.5 + min(w, 5.0) for w in self.buy_weight], until_stop=False)
        base = _reserve_ids(self.cursor, "interactions_ticket", count)
        self.open_complaints: dict[int, int] = {}
        categories = ["inquiry", "complaint", "after_sales", "fault", "other"]
        rows = []
        for offset, (at, index) in enumerate(pairs):
            category = rng.choices(categories, weights=[40, 15, 25, 15, 5])[0]
            priority = rng.choices([1, 2, 3, 4], weights=[20, 55, 20, 5])[0]
            opened = _dt(at)
            age = self.now_ts - at
            resolved = closed = None
            if age > 14 * DAY or rng.random() < age / (14 * DAY):
                status = (
                    rng.choices(["closed", "resolved"], weights=[80, 20])[0]
                    if rng.random() < 0.97
                    else "waiting"
                )
            else:
                status = rng.choice(["new", "assigned", "in_progress", "waiting"])
            if status in ("resolved", "closed"):
                resolved = min(opened + timedelta(hours=rng.lognormvariate(2.5, 1.2)), self.now)
                if status == "closed":
                    closed = min(resolved + timedelta(days=rng.uniform(0, 7)), self.now)
            elif category == "complaint":
                self.open_complaints[index] = self.open_complaints.get(index, 0) + 1
            assignee = rng.choice(self.service_ids) if status != "new" else None
            rows.append(
                (
                    base + offset,
                    self.customer_base + index,
                    None,
                    rng.choice(P.TICKET_SUBJECTS[category]),
                    "",
                    category,
                    priority,
                    status,
                    assignee,
                    sla_due_for(priority, opened),
                    "已处理，客户确认" if resolved else "",
                    rng.randint(1, 5) if resolved and rng.random() < 0.4 else None,
                    rng.choice(self.service_ids),
                    opened,
                    closed or resolved or opened,
                    resolved,
                    closed,
                )
            )
        _copy(self.cursor, "interactions_ticket", columns, rows)
        self.report.done("interactions_ticket", count, started)

    # -- opportunities and their stage changes --

    def opportunities(self) -> None:
        from sales.models import Opportunity, OpportunityStageChange

        columns = _columns(
            Opportunity,
            ("id", "customer_id", "title", "needs", "amount", "currency", "stage_id", "probability", "expected_close_date", "owner_id", "team_id", "source", "next_step", "lost_reason", "order_id", "stage_entered_at", "last_activity_at", "closed_at", "created_by_id", "created_at", "updated_at", "custom"),
        )  # fmt: skip
        change_columns = _columns(
            OpportunityStageChange,
            ("id", "opportunity_id", "from_stage_id", "to_stage_id", "changed_by_id", "changed_at", "seconds_in_previous"),
        )  # fmt: skip
        started = time.perf_counter()
        rng, count = self.rng, self.sizes["opportunities"]
        weights = [
            (w + 0.2) * (2.5 if c else 1.0) for w, c in zip(self.buy_weight, self.company, strict=True)
        ]
        pairs = self._times(count, weights, until_stop=True, grace=60 * DAY)
        base = _reserve_ids(self.cursor, "sales_opportunity", count)
        owner_team = dict(self.owners)
        funnel = [max(40 - 10 * k, 5) for k in range(len(self.open_stages))]
        changes_total = 0
        for chunk_start in range(0, len(pairs), CHUNK * 5):
            rows, changes = [], []
            for offset, (at, index) in enumerate(pairs[chunk_start : chunk_start + CHUNK * 5]):
                opportunity_id = base + chunk_start + offset
                owner = self._customer_owner(index)
                age = self.now_ts - at
                # Older deals are decided; recent ones are still open, mostly early in the funnel.
                if age > 120 * DAY or rng.random() < 0.2:
                    final = self.won_stage if rng.random() < 0.4 else self.lost_stage
                    reached = rng.randint(1, len(self.open_stages))
                    path = [*self.open_stages[:reached], final]
                else:
                    reached = rng.choices(range(1, len(self.open_stages) + 1), weights=funnel)[0]
                    path = self.open_stages[:reached]
                moment, previous, entered = at, None, at
                for stage in path:
                    if previous is not None:
                        moment = min(moment + int(rng.uniform(1, 25) * DAY), self.now_ts)
                    changes.append(
                        (
                            opportunity_id,
                            previous.pk if previous else None,
                            stage.pk,
                            owner,
                            _dt(moment),
                            moment - entered,
                        )
                    )
                    previous, entered = stage, moment
                stage = path[-1]
                closed = _dt(moment) if stage.is_closed else None
                amount = int(rng.lognormvariate(10.5, 1.0)) * 100
                rows.append(
                    (
                        opportunity_id,
                        self.customer_base + index,
                        rng.choice(P.OPPORTUNITY_TITLES),
                        rng.choice(P.NEEDS),
                        _money(amount),
                        "CNY"
                        if self.chinese[index] or rng.random() < 0.5
                        else rng.choice(["USD", "EUR", "HKD"]),
                        stage.pk,
                        stage.default_probability,
                        (_dt(at) + timedelta(days=rng.randint(30, 150))).date(),
                        owner,
                        owner_team.get(owner),
                        rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
                        "" if stage.is_closed else rng.choice(P.NEXT_STEPS),
                        rng.choice(P.LOST_REASONS) if stage.kind == "lost" else "",
                        None,
                        _dt(moment),
                        _dt(min(moment + int(rng.uniform(0, 10) * DAY), self.now_ts)),
                        closed,
                        owner,
                        _dt(at),
                        _dt(min(moment + DAY, self.now_ts)),
                        "{}",
                    )
                )
            change_base = _reserve_ids(self.cursor, "sales_opportunitystagechange", len(changes))
            _copy(self.cursor, "sales_opportunity", columns, rows)
            _copy(
                self.cursor,
                "sales_opportunitystagechange",
                change_columns,
                ((change_base + i, *c) for i, c in enumerate(changes)),
            )
            changes_total += len(changes)
        self.report.done("sales_opportunity", count, started)
        self.report.result.rows["sales_opportunitystagechange"] = changes_total

    # -- follow-up tasks --

    def tasks(self) -> None:
        from interactions.models import Task

        columns = _columns(
            Task,
            ("id", "customer_id", "subject_type_id", "subject_id", "title", "notes", "due_at", "remind_at", "assignee_id", "priority", "status", "origin", "rule", "rule_key", "created_by_id", "created_at", "completed_at", "completed_by_id"),
        )  # fmt: skip
        started = time.perf_counter()
        rng, count = self.rng, self.sizes["tasks"]
        pairs = self._times(count, [0.5 + min(w, 10.0) for w in self.buy_weight], until_stop=False)
        base = _reserve_ids(self.cursor, "interactions_task", count)
        rules = ["info_update", "churn_win_back", "stale_opportunity", "care_birthday"]
        rows = []
        for offset, (at, index) in enumerate(pairs):
            task_id = base + offset
            assignee = self._customer_owner(index)
            due = at + rng.randint(1, 14) * DAY  # up to two weeks after it was made
            created = _dt(at)
            if due > self.now_ts:
                status = "open"
            else:
                status = rng.choices(["done", "open", "cancelled"], weights=[85, 10, 5])[0]
            done = status == "done"
            automatic = rng.random() < 0.15
            rule = rng.choice(rules) if automatic else ""
            rows.append(
                (
                    task_id,
                    self.customer_base + index,
                    None,
                    None,
                    rng.choice(P.TASK_TITLES),
                    "",
                    _dt(due),
                    _dt(due - 3600) if rng.random() < 0.3 else None,
                    assignee,
                    rng.choices([1, 2, 3, 4], weights=[20, 60, 15, 5])[0],
                    status,
                    "automatic" if automatic else "manual",
                    rule,
                    f"{rule}:bench:{task_id}" if automatic else "",
                    None if automatic else assignee,
                    created,
                    _dt(min(due + rng.randint(-DAY, DAY), self.now_ts)) if done else None,
                    assignee if done else None,
                )
            )
        _copy(self.cursor, "interactions_task", columns, rows)
        self.report.done("interactions_task", count, started)

    # -- RFM score, tier and ABC class, as the nightly job computes them --

    def score(self) -> None:
        from sales.scoring import AbcLines, Quintiles, tier_for

        started = time.perf_counter()
        n = len(self.created)
        live_buyers = [i for i in range(n) if self.window_count[i] and not self.deleted[i]]
        recency = {i: datetime.fromtimestamp(self.last_purchase[i], self.tz).toordinal() for i in live_buyers}
        r = Quintiles(len(live_buyers))
        f = Quintiles(len(live_buyers))
        m = Quintiles(len(live_buyers))
        abc = AbcLines(
            sum(self.window_spend[i] for i in live_buyers),
            self.tier_settings.abc_a_percent,
            self.tier_settings.abc_b_percent,
        )
        for value in sorted(recency.values()):
            r.add(value)
        for value in sorted(self.window_count[i] for i in live_buyers):
            f.add(value)
        for value in sorted(self.window_spend[i] for i in live_buyers):
            m.add(value)
            abc.add(value)
        self.rfm = [""] * n
        self.tier = ["dormant"] * n
        self.abc = [""] * n
        for i in live_buyers:
            scores = (r.score(recency[i]), f.score(self.window_count[i]), m.score(self.window_spend[i]))
            self.rfm[i] = "".join(map(str, scores))
            self.tier[i] = tier_for(scores, self.tier_settings)
            self.abc[i] = abc.classify(self.window_spend[i])
        self.report.say(
            f"scored {len(live_buyers):,} buyers of the last year in {time.perf_counter() - started:.1f} s"
        )

    # -- customers, their contacts and tags (process pool) --

    def customers(self) -> None:
        from django.conf import settings
        from django.forms.models import model_to_dict

        from customers.models import Contact, Customer, pool_for_team
        from sales.models import ChurnSettings

        _columns(Customer, CUSTOMER_COLUMNS)
        _columns(Contact, CONTACT_COLUMNS)
        started = time.perf_counter()
        count = len(self.created)
        churn = ChurnSettings.current()
        churn_settings = {k: v for k, v in model_to_dict(churn).items() if k != "id"}
        region_tags = {t.name: (t.pk, t.name) for t in self.tags if t.name in ("华东", "华北", "华南")}
        context = {
            "seed": self.seed,
            "now": self.now_ts,
            "today": self.today,
            "users": self.owners,
            "rep_ids": self.rep_ids,
            "tags": [(t.pk, t.name) for t in self.tags],
            "region_tags": region_tags,
            "churn_settings": churn_settings,
            "churn_threshold": churn.threshold,
            "language": settings.LANGUAGE_CODE,
            # Customers without an owner wait in the pool (公海); the generated teams have no
            # pool of their own, so that is the company-wide default pool.
            "default_pool_id": pool_for_team(None).pk,
        }

        def plans(chunk_start: int) -> list[tuple]:
            rows = []
            for i in range(chunk_start, min(chunk_start + CHUNK, count)):
                rows.append(
                    (
                        self.customer_base + i, self.created[i], self.owner[i], bool(self.chinese[i]),
                        bool(self.company[i]), self.contact_count[i], self.contact_base + self.first_contact[i],
                        self.order_count[i], self.spend[i], self.first_order[i], self.last_order[i],
                        self.purchases[i], self.first_purchase[i], self.last_purchase[i], self.last_contact[i],
                        self.recent.get(i), self.open_complaints.get(i, 0), self.rfm[i], self.tier[i], self.abc[i],
                        self.deleted[i], self.team_ids[i % len(self.team_ids)],
                    )
                )  # fmt: skip
            return rows

        chunks = range(0, count, CHUNK)
        customers_written = contacts_written = tags_written = 0
        tick = self.report.progress("customers", count)

        def write(result) -> None:
            nonlocal customers_written, contacts_written, tags_written
            customer_rows, contact_rows, tag_rows, samples = result
            _copy(self.cursor, "customers_customer", CUSTOMER_COLUMNS, customer_rows)
            _copy(self.cursor, "customers_contact", CONTACT_COLUMNS, contact_rows)
            _copy(self.cursor, "customers_customer_tags", ("customer_id", "tag_id"), tag_rows)
            customers_written += len(customer_rows)
            contacts_written += len(contact_rows)
            tags_written += len(tag_rows)
            if len(self.samples) < 60:
                self.samples.extend(samples)
            tick(customers_written)

        if self.workers <= 0:
            _init_worker({**context, "django_ready": True})
            for number, chunk_start in enumerate(chunks):
                write(build_customers(number, plans(chunk_start)))
        else:
            import multiprocessing

            # Fresh interpreters (not fork): the children must not inherit this process's
            # database connection.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                self.workers, mp_context=spawn, initializer=_init_worker, initargs=(context,)
            ) as pool:
                pending = deque()
                for number, chunk_start in enumerate(chunks):
                    pending.append(pool.submit(build_customers, number, plans(chunk_start)))
                    if len(pending) >= self.workers * 2:
                        write(pending.popleft().result())
                while pending:
                    write(pending.popleft().result())
        self.report.done("customers_customer", customers_written, started)
        self.report.result.rows["customers_contact"] = contacts_written
        self.report.result.rows["customers_customer_tags"] = tags_written

    def history(self) -> None:
        """One "created" history row per customer, copied inside the database."""
        from customers.models import Customer

        started = time.perf_counter()
        history = Customer.history.model
        customer_columns = {f.column for f in Customer._meta.concrete_fields}
        extra = {
            "history_date": "c.created_at",
            "history_change_reason": "'create'",
            "history_type": "'+'",
            "history_user_id": "c.created_by_id",
        }
        columns, values = [], []
        for f in history._meta.concrete_fields:
            if f.primary_key:
                continue
            if f.column in customer_columns:
                columns.append(f'"{f.column}"')
                values.append(f'c."{f.column}"')
            elif f.column in extra:
                columns.append(f'"{f.column}"')
                values.append(extra[f.column])
            else:
                raise RuntimeError(f"bench/generate.py does not know how to fill {history.__name__}.{f.name}")
        self.cursor.execute(
            f'INSERT INTO "{history._meta.db_table}" ({", ".join(columns)}) '  # noqa: S608 (names from the models)
            f'SELECT {", ".join(values)} FROM "customers_customer" c WHERE c.id BETWEEN %s AND %s ORDER BY c.id',
            [self.customer_base, self.customer_base + len(self.created) - 1],
        )
        self.report.done(history._meta.db_table, self.cursor.rowcount, started)

    def tier_changes(self) -> None:
        """Tier moves over the last year that end in each customer's current tier."""
        from customers.models import TierChange

        columns = ("customer_id", "changed_on", "from_tier", "to_tier", "source")
        _columns(TierChange, ("id", *columns))
        started = time.perf_counter()
        rng = self.rng
        neighbours = {
            "vip": ["active", "potential"],
            "active": ["vip", "potential", "dormant"],
            "potential": ["active", "dormant"],
            "dormant": ["active", "potential", "vip"],
        }
        year_ago = self.now_ts - 365 * DAY
        rows = []
        for i, tier in enumerate(self.tier):
            created = self.created[i]
            if self.deleted[i]:
                continue
            moves = []
            if created > year_ago and rng.random() < 0.3:
                moves.append(("", created + DAY))
            if self.purchases[i] and rng.random() < 0.2:
                for _ in range(rng.choice([1, 1, 2])):
                    moves.append(
                        (
                            None,
                            max(created, year_ago)
                            + int(rng.random() * (self.now_ts - max(created, year_ago))),
                        )
                    )
            if not moves:
                continue
            moves.sort(key=lambda m: m[1])
            # Walk backwards from the current tier.
            to_tier = tier
            chain = []
            for kind, at in reversed(moves):
                from_tier = "" if kind == "" else rng.choice(neighbours[to_tier])
                chain.append(
                    (
                        self.customer_base + i,
                        datetime.fromtimestamp(min(at, self.now_ts), self.tz).date(),
                        from_tier,
                        to_tier,
                        "job",
                    )
                )
                if from_tier == "":
                    break
                to_tier = from_tier
            rows.extend(reversed(chain))
        _copy(self.cursor, "customers_tierchange", columns, rows)
        self.report.done("customers_tierchange", len(rows), started)


TABLES = [
    "customers_customer",
    "customers_historicalcustomer",  # primary key history_id
    "customers_contact",
    "customers_customer_tags",
    "customers_tierchange",
    "interactions_interaction",
    "interactions_ticket",
    "interactions_task",
    "sales_order",
    "sales_orderline",
    "sales_opportunity",
    "sales_opportunitystagechange",
]


def generate(
    *,
    customers: int,
    interactions: int,
    orders: int,
    opportunities: int | None = None,
    tickets: int | None = None,
    tasks: int | None = None,
    seed: int = 1,
    workers: int = 2,
    append: bool = False,
    out=sys.stdout,
) -> Result:
    """Fill the database (Django set up) in one transaction; then ANALYZE. Raises RefusedError
    when customers exist and `append` is false."""
    from django.db import connection, transaction

    from customers.models import Customer

    if connection.vendor != "postgresql":
        raise RefusedError("bench/generate.py needs PostgreSQL (set DATABASE_URL).")
    existing = Customer._base_manager.count()
    if existing and not append:
        raise RefusedError(
            f"The database already holds {existing:,} customers. bench/generate.py fills a freshly "
            "migrated database; pass --append to add to this one anyway."
        )
    sizes = {
        "customers": customers,
        "interactions": interactions,
        "orders": orders,
        "opportunities": customers // 5 if opportunities is None else opportunities,
        "tickets": customers // 10 if tickets is None else tickets,
        "tasks": customers // 4 if tasks is None else tasks,
    }
    result = Result()
    report = Report(out, result)
    report.say("generating " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()))
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        generator = Generator(cursor=cursor, sizes=sizes, seed=seed, workers=workers, report=report)
        generator.reference_data()
        # Check the reference rows' deferred keys now: a table with pending checks cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        deferred = DeferredIndexes(cursor, TABLES)
        report.say(
            f"dropped {len(deferred.indexes)} indexes and {len(deferred.foreign_keys)} foreign keys for the load"
        )
        generator.plan_customers()
        generator.orders()
        generator.interactions()
        generator.tickets()
        generator.opportunities()
        generator.tasks()
        generator.score()
        generator.customers()
        generator.history()
        generator.tier_changes()
        started = time.perf_counter()
        deferred.restore(report)
        for table in TABLES:
            _fix_sequence(cursor, table, "history_id" if table == "customers_historicalcustomer" else "id")
        result.seconds["indexes and foreign keys"] = time.perf_counter() - started
        started = time.perf_counter()
    report.say(f"committed in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with connection.cursor() as django_cursor:
        django_cursor.execute("ANALYZE")
    result.seconds["ANALYZE"] = time.perf_counter() - started
    report.say(f"ANALYZE in {result.seconds['ANALYZE']:.1f} s")
    result.samples = generator.samples
    result.total_seconds = time.perf_counter() - report.started
    return result


# Tables filled in the same pass as another one (their time is counted there).
WRITTEN_WITH = {
    "customers_contact": "customers_customer",
    "customers_customer_tags": "customers_customer",
    "sales_orderline": "sales_order",
    "sales_opportunitystagechange": "sales_opportunity",
}


def _summary(result: Result, out) -> None:
    from django.db import connection

    print("\n| table | rows | seconds |\n|---|---:|---:|", file=out)
    for table in sorted(set(result.rows) | set(result.seconds)):
        rows = result.rows.get(table)
        seconds = result.seconds.get(table)
        if seconds is not None:
            seconds = f"{seconds:.1f}"
        else:
            seconds = f"with {WRITTEN_WITH[table]}" if table in WRITTEN_WITH else ""
        print(f"| {table} | {'' if rows is None else f'{rows:,}'} | {seconds} |", file=out)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        (size,) = cursor.fetchone()
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)), pg_size_pretty(pg_indexes_size(oid)) "
            "FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
            "ORDER BY pg_total_relation_size(oid) DESC LIMIT 8"
        )
        largest = cursor.fetchall()
    print(
        f"\nTotal: {result.total_seconds:.0f} s; database size {size}. Largest tables (with indexes):",
        file=out,
    )
    for table, total, indexes in largest:
        print(f"  {table}: {total} (indexes {indexes})", file=out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--interactions", type=int, default=100000)
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--opportunities", type=int, help="default: customers / 5")
    parser.add_argument("--tickets", type=int, help="default: customers / 10")
    parser.add_argument("--tasks", type=int, help="default: customers / 4")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes that build customers (0: none)")
    parser.add_argument("--append", action="store_true", help="add to a database that has customers")
    args = parser.parse_args()
    from bench.common import setup_django

    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        result = generate(
            customers=args.customers,
            interactions=args.interactions,
            orders=args.orders,
            opportunities=args.opportunities,
            tickets=args.tickets,
            tasks=args.tasks,
            seed=args.seed,
            workers=args.workers,
            append=args.append,
        )
    except RefusedError as exc:
        sys.exit(str(exc))
    _summary(result, sys.stdout)


if __name__ == "__main__":
    main()
