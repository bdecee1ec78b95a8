"""Sign-in forms for the web login and the admin login, rate limited like uploads.

Both forms consult releases/accounts/ratelimit.py before the password hasher runs (the
rule is in its docstring) and count a wrong password; `throttled` turns a refusal into
HTTP 429 with Retry-After, on the same form with the limiter's message.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from releases.accounts import ratelimit
from releases.services.actors import client_ip


class RateLimitedLoginMixin:
    """For AuthenticationForm subclasses: the limit before the password, failures counted."""

    rate_limited: ratelimit.RateLimited | None = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # nothing to verify, nothing to count
        address = client_ip(self.request) if self.request is not None else None
        try:
            ratelimit.check_password(address, username)
        except ratelimit.RateLimited as exc:
            self.rate_limited = exc
            raise forms.ValidationError(str(exc), code="rate_limited") from None
        try:
            return super().clean()
        except forms.ValidationError:
            if self.user_cache is None:  # a wrong password, not a refused (e.g. non-staff) account
                ratelimit.record_failure(address, username)
            raise


class RateLimitedAuthenticationForm(RateLimitedLoginMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass


def throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login view whose rate-limited answers are 429 with Retry-After."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        limited = getattr(form, "rate_limited", None)
        if limited is not None:
            response.status_code = 429
            response["Retry-After"] = str(limited.retry_after)
        return response

    return wrapper
