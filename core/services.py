from django.contrib.auth.models import Group
from django.db import transaction

from core.models import Role, Team, User


@transaction.atomic
def user_ensure(
    *,
    username: str,
    password: str,
    role: Role,
    team: Team | None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_superuser: bool = False,
) -> tuple[User, bool]:
    """Create a user with one role, or leave an existing one as it is (its password too).

    Returns (user, created). Used by `seed_demo`; safe to run repeatedly.
    """
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": email,
            "team": team,
            "is_staff": role == Role.ADMIN or is_superuser,
            "is_superuser": is_superuser,
        },
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=str(role)))
    return user, created
