"""My account: two-factor authentication (enrol, recovery codes, disable) and the second login
step. The rules live in core/twofactor.py; the middleware that holds a session at the second
step is core.middleware.TwoFactorMiddleware."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core import twofactor
from core.forms import TwoFactorCodeForm

# Fewer recovery codes than this left: the pages suggest making new ones.
RECOVERY_CODES_LOW = 3


def _safe_next(request: HttpRequest, default: str = "core:home") -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return default


def account(request: HttpRequest) -> HttpResponse:
    """My account: password, and two-factor authentication on or off."""
    user = request.user
    ctx = {
        "enabled": twofactor.two_factor_enabled(user),
        "required": twofactor.two_factor_required(user),
        "codes_left": twofactor.recovery_codes_left(user),
        "codes_low": RECOVERY_CODES_LOW,
        "form": TwoFactorCodeForm(),
    }
    return render(request, "core/account.html", ctx)


@never_cache
def two_factor_enrol(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the secret) into an authenticator app, confirm with a code."""
    if twofactor.two_factor_enabled(request.user):
        messages.info(request, _("Two-factor authentication is already on."))
        return redirect("core:account")
    enrolment = twofactor.enrolment_for(request)
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.two_factor_enable(
            user=request.user, key=enrolment.key, code=form.cleaned_data["code"], request=request
        )
        if codes is None:
            form.add_error(
                "code", _("That code is not right. Scan the QR code again and type the code it shows now.")
            )
        else:
            twofactor.session_verified(request)
            request.session.pop(twofactor.SESSION_ENROL_KEY, None)
            request.session[twofactor.SESSION_NEW_CODES] = codes
            messages.success(request, _("Two-factor authentication is on."))
            return redirect("core:two_factor_recovery_codes")
    ctx = {
        "enrolment": enrolment,
        "form": form,
        "forced": bool(request.session.get(twofactor.SESSION_ENROL_REQUIRED)),
        "hide_navigation": bool(request.session.get(twofactor.SESSION_ENROL_REQUIRED)),
    }
    return render(request, "core/two_factor_enrol.html", ctx)


@never_cache
def two_factor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes just made, shown this once; afterwards only how many are left."""
    ctx = {
        "codes": request.session.pop(twofactor.SESSION_NEW_CODES, None),
        "enabled": twofactor.two_factor_enabled(request.user),
        "codes_left": twofactor.recovery_codes_left(request.user),
        "form": TwoFactorCodeForm(),
    }
    return render(request, "core/two_factor_recovery_codes.html", ctx)


@require_POST
def two_factor_recovery_regenerate(request: HttpRequest) -> HttpResponse:
    """New recovery codes (the old ones stop working), confirmed with a current code."""
    form = TwoFactorCodeForm(request.POST)
    if not twofactor.two_factor_enabled(request.user):
        return redirect("core:account")
    if not form.is_valid():
        messages.error(request, _("Type a code from your authenticator app."))
        return redirect("core:two_factor_recovery_codes")
    check = twofactor.two_factor_check(
        user=request.user, code=form.cleaned_data["code"], request=request, purpose="new_codes"
    )
    if not check.ok:
        messages.error(request, check.error)
        return redirect("core:two_factor_recovery_codes")
    request.session[twofactor.SESSION_NEW_CODES] = twofactor.recovery_codes_regenerate(
        user=request.user, request=request
    )
    messages.success(request, _("New recovery codes made. The old ones no longer work."))
    return redirect("core:two_factor_recovery_codes")


@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor authentication off, with a code from the app or a recovery code (so an
    unattended signed-in browser is not enough)."""
    form = TwoFactorCodeForm(request.POST)
    if not twofactor.two_factor_enabled(request.user):
        return redirect("core:account")
    if not form.is_valid():
        messages.error(request, _("Type a code from your authenticator app."))
        return redirect("core:account")
    check = twofactor.two_factor_check(
        user=request.user, code=form.cleaned_data["code"], request=request, purpose="disable"
    )
    if not check.ok:
        messages.error(request, check.error)
        return redirect("core:account")
    twofactor.two_factor_disable(user=request.user, request=request)
    if twofactor.two_factor_required(request.user):
        request.session[twofactor.SESSION_ENROL_REQUIRED] = True
        messages.warning(
            request, _("Two-factor authentication is off. Your role requires it: set it up again.")
        )
        return redirect("core:two_factor_enrol")
    messages.success(request, _("Two-factor authentication is off."))
    return redirect("core:account")


@never_cache
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second login step: a code from the app, or a recovery code."""
    if not request.session.get(twofactor.SESSION_PENDING) or request.user.is_verified():
        return redirect(_safe_next(request))
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = twofactor.two_factor_check(
            user=request.user, code=form.cleaned_data["code"], request=request, purpose="login"
        )
        if check.ok:
            # A new session key for the fully signed-in session, as after the password.
            request.session.cycle_key()
            twofactor.session_verified(request)
            if check.recovery_code_used:
                left = twofactor.recovery_codes_left(request.user)
                messages.warning(
                    request,
                    ngettext(
                        "You signed in with a recovery code. %(count)d recovery code is left.",
                        "You signed in with a recovery code. %(count)d recovery codes are left.",
                        left,
                    )
                    % {"count": left},
                )
            return redirect(_safe_next(request))
        form.add_error("code", check.error)
    ctx = {"form": form, "next": _safe_next(request, default=""), "hide_navigation": True}
    return render(request, "core/two_factor_verify.html", ctx)


# --- API tokens (core/api_auth.py) ------------------------------------------------------------


@never_cache
def api_tokens(request: HttpRequest) -> HttpResponse:
    """My API tokens: make one (shown once, on this answer only), see when each was last used,
    revoke. Queries: session, user, the tokens."""
    from core.api_auth import api_token_create
    from core.forms import ApiTokenForm

    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _token, new_token = api_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_at=form.expires_at(),
            request=request,
        )
        messages.success(request, _("Token created. Copy it now: it is not shown again."))
        form = ApiTokenForm()
    ctx = {"form": form, "new_token": new_token, "tokens": list(request.user.api_tokens.all())}
    return render(request, "core/api_tokens.html", ctx)


@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    from django.shortcuts import get_object_or_404

    from core.api_auth import api_token_revoke as revoke

    token = get_object_or_404(request.user.api_tokens, pk=pk)
    revoke(token=token, actor=request.user, request=request)
    messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("core:api_tokens")
