from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """Which top-level sections the navigation shows the current user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_show_admin": user.is_staff}
