"""The default pipeline stages and a stale-opportunity rule; admins change them later."""

from django.db import migrations

STAGES = [
    # name, English name, kind, order, probability, follow-up days, follow-up title
    ("初步接洽", "Qualification", "open", 10, 10, 3, "首次跟进：确认客户需求"),
    ("需求确认", "Needs analysis", "open", 20, 25, 5, "整理需求，准备方案"),
    ("方案报价", "Proposal", "open", 30, 50, 3, "跟进报价反馈"),
    ("谈判", "Negotiation", "open", 40, 75, 2, "推进合同谈判"),
    ("赢单", "Won", "won", 50, 100, None, ""),
    ("输单", "Lost", "lost", 60, 0, None, ""),
]


def create_defaults(apps, schema_editor):
    Stage = apps.get_model("sales", "PipelineStage")
    for name, name_en, kind, order, probability, days, title in STAGES:
        Stage.objects.get_or_create(
            name=name,
            defaults={
                "name_en": name_en,
                "kind": kind,
                "order": order,
                "default_probability": probability,
                "follow_up_days": days,
                "follow_up_title": title,
            },
        )
    apps.get_model("sales", "StaleOpportunityRule").objects.get_or_create(
        name="14 天无进展提醒", defaults={"days": 14, "task_title": "商机 14 天没有进展，请跟进", "due_in_days": 1}
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("sales", "PipelineStage").objects.filter(name__in=[s[0] for s in STAGES]).delete()
    apps.get_model("sales", "StaleOpportunityRule").objects.filter(name="14 天无进展提醒").delete()


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_orders_pipeline")]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
