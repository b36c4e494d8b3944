"""Demo customers for `manage.py seed_demo`: about 200, in Chinese and English, spread
over owners, teams, stages, tiers and tags. Deterministic (fixed seed) and idempotent."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from faker import Faker

from core.models import User
from customers.models import Contact, Customer, Tag
from customers.services import contact_save, customer_create

DEMO_COUNT = 200
TAGS = [
    ("重要客户", "danger"),
    ("价格敏感", "warning"),
    ("线上渠道", "info"),
    ("华东", "primary"),
    ("华北", "primary"),
    ("老带新", "success"),
    ("Wholesale", "dark"),
    ("Newsletter", "secondary"),
]
PLACES = [
    ("上海市", "上海市", "浦东新区", "华东"),
    ("江苏省", "南京市", "鼓楼区", "华东"),
    ("浙江省", "杭州市", "西湖区", "华东"),
    ("北京市", "北京市", "朝阳区", "华北"),
    ("天津市", "天津市", "和平区", "华北"),
    ("广东省", "广州市", "天河区", "华南"),
    ("广东省", "深圳市", "南山区", "华南"),
    ("四川省", "成都市", "武侯区", "西南"),
]
INDUSTRIES = ["零售", "制造业", "餐饮", "教育", "医疗", "物流", "软件", "Retail", "Manufacturing"]


@transaction.atomic
def seed(stdout, users: dict[str, User]) -> None:
    if Customer.objects.exists():
        stdout.write("Customers already present: demo customers not added again.")
        return
    rng = random.Random(20261123)
    zh = Faker("zh_CN")
    en = Faker("en_US")
    zh.seed_instance(1)
    en.seed_instance(2)
    tags = [Tag.objects.get_or_create(name=n, defaults={"color": c})[0] for n, c in TAGS]
    owners = [users["sales1"], users["sales2"], users["manager"]]
    now = timezone.now()
    stages = Customer.LifecycleStage.values
    tiers = Customer.ValueTier.values
    for i in range(DEMO_COUNT):
        fake = zh if i % 10 < 7 else en
        chinese = fake is zh
        company_kind = rng.random() < 0.35
        province, city, district, region = rng.choice(PLACES)
        person = fake.name()
        company = fake.company() if company_kind or rng.random() < 0.4 else ""
        owner = rng.choice(owners) if rng.random() < 0.92 else None
        stage = rng.choices(stages, weights=[25, 20, 45, 10])[0]
        tier = rng.choices(tiers, weights=[8, 30, 40, 22])[0]
        created = now - timedelta(days=rng.randint(0, 720), minutes=rng.randint(0, 1440))
        mobile = (
            f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"
            if chinese or rng.random() < 0.3
            else ""
        )
        data = {
            "kind": Customer.Kind.COMPANY if company_kind else Customer.Kind.INDIVIDUAL,
            "name": company if company_kind else person,
            "gender": "" if company_kind else rng.choice(["female", "male"]),
            "birthday": None if company_kind else fake.date_of_birth(minimum_age=20, maximum_age=70),
            "company": company,
            "title": fake.job()[:100] if not company_kind and rng.random() < 0.6 else "",
            "industry": rng.choice(INDUSTRIES),
            "mobile": mobile,
            "email": fake.email() if rng.random() < 0.7 else "",
            "wechat": f"wx_{fake.user_name()}" if chinese and rng.random() < 0.5 else "",
            "province": province if chinese else "",
            "city": city if chinese else fake.city(),
            "district": district if chinese else "",
            "street": fake.street_address(),
            "region": region if chinese else "海外",
            "source": rng.choice(Customer.Source.values),
            "lifecycle_stage": stage,
            "value_tier": tier,
            "abc_class": rng.choice(["", "A", "B", "C"]),
            "preferences": rng.choice(["", "下午联系", "只接受微信沟通", "Prefers email", "周末勿扰"]),
            "owner": owner,
            "marketing_consent": rng.random() < 0.6,
            "info_verified_at": created + timedelta(days=rng.randint(0, 200)),
            "last_contacted_at": None if rng.random() < 0.2 else now - timedelta(days=rng.randint(0, 200)),
        }
        if data["info_verified_at"] > now:
            data["info_verified_at"] = now - timedelta(days=rng.randint(0, 30))
        if data["marketing_consent"]:
            data["marketing_consent_channel"] = rng.choice(["web_form", "paper", "verbal", "email"])
        customer = customer_create(user=owner, data=data, tags=rng.sample(tags, k=rng.randint(0, 3)))
        Customer.objects.filter(pk=customer.pk).update(created_at=created)
        if company_kind:
            for n in range(rng.randint(1, 3)):
                contact_save(
                    contact=Contact(
                        customer=customer,
                        name=fake.name(),
                        title=fake.job()[:100],
                        phone=f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}",
                        email=fake.email(),
                        is_primary=n == 0,
                    ),
                    user=owner,
                )
    stdout.write(f"Added {DEMO_COUNT} demo customers.")
