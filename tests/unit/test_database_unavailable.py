"""A lost database answers 503 with a message, not a 500."""

from django.db import OperationalError
from django.test import RequestFactory

from pypidraft.unavailable import DatabaseUnavailableMiddleware


def test_operational_error_becomes_503():
    def view(request):
        raise OperationalError("connection refused")

    response = DatabaseUnavailableMiddleware(view)(RequestFactory().get("/simple/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert b"database is unavailable" in response.content


def test_other_errors_are_not_swallowed():
    def view(request):
        raise ValueError("a bug")

    try:
        DatabaseUnavailableMiddleware(view)(RequestFactory().get("/"))
    except ValueError:
        pass
    else:
        raise AssertionError("ValueError should propagate")
