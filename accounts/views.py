from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import SignUpForm, TokenCreateForm
from accounts.models import ApiToken


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if not settings.CALCQUEUE_SIGNUP_ENABLED:
        raise Http404("Sign-up is closed.")
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Logging in adopts the calculations of this anonymous session (accounts.apps).
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}.")
        return redirect(settings.LOGIN_REDIRECT_URL)
    status = 400 if form.errors else 200
    return render(request, "accounts/sign_up.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's API tokens, and a form for a new one; a new token is shown once, on the
    page that answers its creation (never in a URL, a message or a log)."""
    form = TokenCreateForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            created = services.api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                callback_url=form.cleaned_data["callback_url"],
            )
        except ValidationError as error:
            # The callback is checked as a submission's would be (public addresses only).
            form.add_error("callback_url", error)
        else:
            form = TokenCreateForm()
    context = {
        "form": form,
        "created": created,
        "tokens": selectors.api_tokens_of(user=request.user),
    }
    response = render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = services.api_token_revoke(user=request.user, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No token with this id.") from None
    messages.success(request, f"Revoked {token.prefix}… ({token.name}).")
    return redirect("accounts:tokens")
