from customers.tests.factories import CustomerFactory
from marketing import services
from marketing.models import Campaign, Channel, MessageTemplate, Segment


def consenting(owner, **kwargs):
    kwargs.setdefault("email", f"c{CustomerFactory._meta.next_sequence()}@example.com")
    kwargs.setdefault("mobile", "13800138000")
    return CustomerFactory(owner=owner, marketing_consent=True, **kwargs)


def make_template(user, channel=Channel.EMAIL, **kwargs) -> MessageTemplate:
    kwargs.setdefault("name", "春季问候")
    kwargs.setdefault("subject", "{{ name }}，您好" if channel == Channel.EMAIL else "")
    kwargs.setdefault(
        "body", "亲爱的{{ name }}：您的顾问{{ owner }}。上次购买：{{ last_product }}。等级：{{ tier }}。"
    )
    return MessageTemplate.objects.create(created_by=user, channel=channel, **kwargs)


def make_campaign(user, segment=None, template=None, **kwargs) -> Campaign:
    template = template or make_template(user)
    if segment is None and kwargs.get("kind") != Campaign.Kind.CARE:
        segment = services.segment_create(user=user, name="全部", kind=Segment.Kind.DYNAMIC, query="")
    return services.campaign_create(
        user=user,
        data={"name": kwargs.pop("name", "活动"), "segment": segment, "template": template, **kwargs},
    )
