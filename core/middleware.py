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
