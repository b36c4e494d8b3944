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
