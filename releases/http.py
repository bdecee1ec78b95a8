"""Headers of private pages, and the validators of public ones, in one place.

Every page that shows a draft's link or token — draft previews, draft indexes and their
files, the dashboard, the maintainer API — must never be kept by a shared cache.
"""

from __future__ import annotations

from functools import lru_cache

from django.http import HttpResponse
from django.utils.crypto import salted_hmac

PRIVATE_CACHE_CONTROL = "private, no-store"


def private_headers(*, token_in_url: bool) -> dict[str, str]:
    """Headers of a private page; `token_in_url` when its own URL holds a draft token.

    Such a URL is a capability: no Referer may carry it to another site and no search
    engine may index it. Pages whose URLs hold no token (the dashboard) keep the site's
    same-origin referrer policy: under no-referrer, browsers send "Origin: null" with
    their forms and CSRF refuses them.
    """
    headers = {"Cache-Control": PRIVATE_CACHE_CONTROL}
    if token_in_url:
        headers["X-Robots-Tag"] = "noindex, nofollow"
        headers["Referrer-Policy"] = "no-referrer"
    return headers


def private(response: HttpResponse, *, token_in_url: bool) -> HttpResponse:
    """Mark `response` private (see `private_headers`) and return it."""
    for name, value in private_headers(token_in_url=token_in_url).items():
        response[name] = value
    return response


@lru_cache(maxsize=4096)
def public_validator(seed: str) -> str:
    """An opaque validator (ETag value) for `seed`: a keyed hash, so that what the seed is
    made of (a project's id, whose gaps would reveal hidden projects) never shows."""
    return salted_hmac("pypidraft.validator", seed, algorithm="sha256").hexdigest()[:32]
