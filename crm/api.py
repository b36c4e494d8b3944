"""The REST API's URLs (/api/v1/): each app's viewsets on one router, the OpenAPI schema and
the browsable docs (Swagger UI served from our own static files by drf-spectacular-sidecar,
as a page plus a separate script: no inline code for the Content-Security-Policy to block)."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from customers.api import ContactViewSet, CustomerViewSet
from interactions.api import InteractionViewSet, TaskViewSet
from sales.api import OpportunityViewSet, OrderViewSet

app_name = "api"


class SignedIntConverter:
    """Record ids in API paths: any integer, so /customers/-1/ is the API's JSON 404 (the
    schema says "integer"), not the HTML page of a URL that does not exist."""

    regex = "-?[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(value)


register_converter(SignedIntConverter, "signedint")

router = SimpleRouter(use_regex_path=False)
router.register("customers", CustomerViewSet, basename="customer")
router.register("contacts", ContactViewSet, basename="contact")
router.register("interactions", InteractionViewSet, basename="interaction")
router.register("tasks", TaskViewSet, basename="task")
router.register("orders", OrderViewSet, basename="order")
router.register("opportunities", OpportunityViewSet, basename="opportunity")

# DRF authenticates API requests itself (token or session) and answers 401/403 in JSON;
# the site-wide LoginRequiredMiddleware would redirect token clients to the login page.
urlpatterns = [
    *[path(str(p.pattern), login_not_required(p.callback), name=p.name) for p in router.urls],
    # The schema: for a token or a signed-in session (401 otherwise). The docs page is for
    # people: the login page first, as everywhere else.
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path(
        "docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
        ),
        name="docs",
    ),
]
