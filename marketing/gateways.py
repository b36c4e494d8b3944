"""Where campaign messages leave the CRM.

Email goes through Django's email backend (EMAIL_URL). SMS goes through the class named by
settings.SMS_BACKEND: anything with `send(*, to: str, text: str) -> None` that raises on
failure. The default backend only logs (development, tests, or a site without a gateway).
"""

import logging
from collections import deque

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsError(Exception):
    """The gateway refused or failed to send."""


class LoggingSmsBackend:
    """Sends nothing: logs that a message would go out (never the number or the text)."""

    # The last messages, for tests (like locmem's outbox); bounded, so a site running on the
    # default backend does not grow its memory.
    sent: deque = deque(maxlen=1000)

    def send(self, *, to: str, text: str) -> None:
        logger.info("SMS (logging backend): %d characters", len(text))
        LoggingSmsBackend.sent.append({"to": to, "text": text})


def sms_backend():
    return import_string(settings.SMS_BACKEND)()
