"""The notification centre: how any app tells a user that something needs them.

Apps call `notify()` from their services and scheduled jobs (task assigned, ticket SLA about
to breach, reminders, ...); the user sees the notification behind the bell in the navigation
and, when enabled, also by email. Notification kinds are free codes owned by the sending app.
"""

import logging
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from core.models import Notification, User

logger = logging.getLogger(__name__)

TITLE_MAX_LENGTH = Notification._meta.get_field("title").max_length


def notify(
    *,
    recipient: User,
    kind: str,
    title: str,
    url: str = "",
    body: str = "",
    dedupe_key: str = "",
    email: bool | None = None,
) -> Notification | None:
    """Create a notification for `recipient` and return it.

    `title` and `body` must already be in the recipient's language (wrap the call in
    `translation.override(recipient.language or settings.LANGUAGE_CODE)`); a title longer
    than the column is shortened with an ellipsis. `url` is a local path ("/customers/5/").

    Returns None, creating nothing, when the recipient is inactive or already has a
    notification with the same non-empty `dedupe_key` — also when two processes race: the
    insert runs in its own savepoint against a unique constraint, so exactly one wins and the
    caller's transaction stays usable. Safe to call inside the caller's transaction; the
    notification (and its email) disappears if that transaction rolls back.

    Email: sent when `email` is True, or when it is None and NOTIFICATION_EMAIL_ENABLED is
    on; only for a newly created notification, only if the recipient has an address, and only
    after the surrounding transaction commits (a failing mail server is logged, not raised).
    """
    if not recipient.is_active:
        return None
    notification = Notification(
        recipient=recipient,
        kind=kind,
        title=Truncator(title).chars(TITLE_MAX_LENGTH),
        url=url,
        body=body,
        dedupe_key=dedupe_key,
    )
    # Field checks only: the database enforces the dedupe constraint without a race, and the
    # recipient is a saved user (checking it would cost a query).
    notification.full_clean(exclude=["recipient"], validate_unique=False, validate_constraints=False)
    duplicates = Notification.objects.filter(recipient=recipient, dedupe_key=dedupe_key)
    # A job running again finds its notifications here, without a failed INSERT each time.
    if dedupe_key and duplicates.exists():
        return None
    try:
        with transaction.atomic():
            notification.save(force_insert=True)
    except IntegrityError:
        # Another process inserted the same key between our check and our insert.
        if dedupe_key and duplicates.exists():
            return None
        raise
    if email is None:
        email = settings.NOTIFICATION_EMAIL_ENABLED
    if email and recipient.email:
        _email_on_commit(notification)
    return notification


def _email_on_commit(notification: Notification) -> None:
    recipient = notification.recipient
    # The title and body are already translated; the link line follows the same language.
    with translation.override(recipient.language or settings.LANGUAGE_CODE):
        lines = [notification.body or notification.title]
        if notification.url:
            lines.append(_("Open it in the CRM: %(url)s") % {"url": notification.url})
    subject = " ".join(notification.title.split())  # a header: no line breaks
    send = partial(send_mail, subject, "\n\n".join(lines), None, [recipient.email])
    transaction.on_commit(send, robust=True)


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark `user`'s unread notifications read: those in `ids`, or all when `ids` is None.

    One UPDATE, so atomic on its own. Ids of other users' or already-read notifications are
    ignored. Returns how many notifications changed.
    """
    unread = Notification.objects.filter(recipient=user).unread()
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


def unread_count(user: User, *, limit: int | None = None) -> int:
    """How many unread notifications `user` has; with `limit`, counts at most that many
    (one query over a LIMIT subquery, for badges that show "99+")."""
    unread = Notification.objects.filter(recipient=user).unread().order_by()
    if limit is None:
        return unread.count()
    return unread.values("pk")[:limit].count()
