from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from core.models import Notification, User
from core.notifications import notifications_mark_read
from core.pagination import SortOption, keyset_page
from core.workspace import workspace_panels

NOTIFICATIONS_PER_PAGE = 30


def home(request: HttpRequest) -> HttpResponse:
    """My workspace (我的工作台): the signed-in user's starting page."""
    ctx = {
        "team": request.user.team,
        "roles": request.user.role_labels,
        "panels": workspace_panels(request),
    }
    return render(request, "core/home.html", ctx)


@login_not_required
def health(request: HttpRequest) -> HttpResponse:
    """For load balancers and the container healthcheck: the app answers and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the UI language; remembered on the user (all browsers) and in a cookie."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or request.META.get("HTTP_REFERER") or "/"
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if language not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated and request.user.language != language:
        request.user.language = language
        request.user.save(update_fields=["language"])
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out login attempt gets (django-axes' AXES_LOCKOUT_CALLABLE): the lockout
    page, with 429 Too Many Requests. Says how long to wait, never whether the account exists."""
    cooloff = settings.AXES_COOLOFF_TIME
    ctx = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": int(cooloff.total_seconds() // 60) if cooloff else None,
    }
    return render(request, "registration/lockout.html", ctx, status=429)


# --- notifications -----------------------------------------------------------------------


def _get_notification_for_user(user: User, pk: int) -> Notification:
    """The user's own notification; anyone else's answers 404."""
    return get_object_or_404(Notification.objects.filter(recipient=user), pk=pk)


def notification_list(request: HttpRequest) -> HttpResponse:
    """The notification centre: my notifications, newest first, unread ones highlighted."""
    qs = Notification.objects.filter(recipient=request.user)
    page = keyset_page(
        qs,
        SortOption("created_at", descending=True),
        request.GET.get("cursor"),
        NOTIFICATIONS_PER_PAGE,
    )
    ctx = {"page": page}
    return render(request, "core/notifications.html", ctx)


# A GET on purpose although it marks read: it is what a link does (middle-click opens a new
# tab), it is idempotent, and a forged request could only mark one's own notification read.
@require_GET
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the notification read and go to the record it is about."""
    notification = _get_notification_for_user(request.user, pk)
    if not notification.is_read:
        notifications_mark_read(user=request.user, ids=[notification.pk])
    url = notification.url
    # Only local links: a notification must never send anyone to another site.
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("core:notifications")
    return HttpResponseRedirect(url)


@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_read(user=request.user)
    if count:
        messages.success(
            request,
            ngettext(
                "%(count)d notification marked as read.",
                "%(count)d notifications marked as read.",
                count,
            )
            % {"count": count},
        )
    return redirect("core:notifications")
