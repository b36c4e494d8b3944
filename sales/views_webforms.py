"""The public page of a web form (/f/<token>/): no login, in the visitor's language (the
browser's Accept-Language, zh-hans or en), embeddable in an iframe on the form's allowed
sites only. The flow and the checks are in sales/webforms.py."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.audit import client_ip
from sales.forms_webforms import HONEYPOT_FIELD, WebFormForm
from sales.models import WebForm, WebFormSubmission
from sales.webforms import (
    webform_ip_hash,
    webform_issue_token,
    webform_rate_limited,
    webform_record_spam,
    webform_spam_verdict,
    webform_submit,
    webform_token_use,
)


def _get_active_webform(token: str) -> WebForm:
    """An inactive or unknown form answers 404, like an address that never existed."""
    return get_object_or_404(WebForm.objects.select_related("team"), token=token, active=True)


def _framed(response: HttpResponse, webform: WebForm) -> HttpResponse:
    """Only the form's allowed sites may show it in a frame (CSP frame-ancestors); without
    any, the page keeps the site's default (frame-ancestors 'none', X-Frame-Options DENY)."""
    origins = webform.origin_list
    if origins:
        response._csp_replace = {"frame-ancestors": origins}
        # The CSP directive says who may frame the page; X-Frame-Options cannot list sites.
        response.xframe_options_exempt = True
    return response


def _page(
    request: HttpRequest, webform: WebForm, template: str, ctx: dict, status: int = 200
) -> HttpResponse:
    language = translation.get_language()
    ctx = {
        "webform": webform,
        "title": webform.in_language("title", language),
        **ctx,
    }
    return _framed(render(request, template, ctx, status=status), webform)


# No CSRF cookie check: the page is anonymous and shown in other sites' frames, where the
# browser does not send our cookies. The signed, single-use token in the form stands in.
@csrf_exempt
@login_not_required
@require_http_methods(["GET", "POST"])
def webform_public(request: HttpRequest, token: str) -> HttpResponse:
    webform = _get_active_webform(token)
    language = translation.get_language()
    if request.method == "GET":
        form = WebFormForm(
            initial={"token": webform_issue_token(form=webform)}, webform=webform, language=language
        )
        return _page(
            request,
            webform,
            "sales/webform_public.html",
            {"form": form, "intro": webform.in_language("intro", language)},
        )

    ip_hash = webform_ip_hash(client_ip(request))
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    if webform_rate_limited(form=webform, ip_hash=ip_hash):
        return _page(request, webform, "sales/webform_rate_limited.html", {}, status=429)
    signed = request.POST.get("token", "")
    verdict = webform_spam_verdict(form=webform, token=signed, honeypot=request.POST.get(HONEYPOT_FIELD, ""))
    form = WebFormForm(request.POST, webform=webform, language=language)
    if verdict is None:
        if not form.is_valid():
            ctx = {"form": form, "intro": webform.in_language("intro", language)}
            return _page(request, webform, "sales/webform_public.html", ctx)
        if not webform_token_use(signed):
            verdict = WebFormSubmission.Verdict.REPLAY
    if verdict is not None:
        # Spam is thanked like anyone else (nothing tells a bot which trap caught it).
        webform_record_spam(form=webform, verdict=verdict, ip_hash=ip_hash, user_agent=user_agent)
    else:
        webform_submit(
            form=webform,
            data=form.customer_data(),
            consent=bool(form.cleaned_data.get("consent")),
            language=language,
            ip_hash=ip_hash,
            user_agent=user_agent,
        )
    return _page(
        request, webform, "sales/webform_thanks.html", {"thanks": webform.in_language("thanks", language)}
    )
