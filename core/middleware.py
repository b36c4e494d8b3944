from django.utils import translation


class UserLanguageMiddleware:
    """Activate the signed-in user's saved language, whatever the browser asks for.

    LocaleMiddleware (earlier in the chain) has already picked a language from the cookie
    or Accept-Language; a saved choice on the user overrides it so the choice follows the
    user to every browser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class AuditRequestMiddleware:
    """Keep the current request where audit signal handlers can find it (core.audit).

    Role, team and permission changes are recorded by model signals (core/signals.py), which
    see every way of making them (admin, shell, commands) but are not given the request; this
    tells them who made the change and from where. Must come after AuthenticationMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from core.audit import request_context

        with request_context(request):
            return self.get_response(request)


class TwoFactorMiddleware:
    """Hold a session at the second login step until it is done (core/twofactor.py).

    A session flagged at login as owing a code (the account has an authenticator app) reaches
    only the code page, logout and the language switch until a code is accepted; one flagged as
    owing an enrolment (REQUIRE_2FA_ROLES) reaches only the enrolment pages. Every other
    request, unknown URLs and the Django admin included, is sent there with `next` kept. The
    flags live in the session, so sessions without them cost nothing here. Must come after
    django-otp's OTPMiddleware.
    """

    OPEN_TO_ALL = frozenset({"logout", "core:set_language", "core:health"})
    OPEN_WHILE_PENDING = OPEN_TO_ALL | {"core:two_factor_verify"}
    OPEN_WHILE_ENROLLING = OPEN_TO_ALL | {"core:two_factor_enrol", "core:two_factor_recovery_codes"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from core import twofactor

        session = getattr(request, "session", None)
        if session is None or not request.user.is_authenticated:
            return self.get_response(request)
        if session.get(twofactor.SESSION_PENDING) and not request.user.is_verified():
            return self._hold(request, "core:two_factor_verify", self.OPEN_WHILE_PENDING)
        if session.get(twofactor.SESSION_ENROL_REQUIRED):
            return self._hold(request, "core:two_factor_enrol", self.OPEN_WHILE_ENROLLING)
        return self.get_response(request)

    def _hold(self, request, target: str, open_views: frozenset):
        from django.http import HttpResponseRedirect
        from django.urls import Resolver404, resolve, reverse
        from django.utils.http import urlencode

        try:
            view_name = resolve(request.path_info).view_name
        except Resolver404:
            view_name = ""
        if view_name in open_views:
            return self.get_response(request)
        url = reverse(target)
        if request.method == "GET" and view_name not in ("login", "core:home"):
            url += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(url)
