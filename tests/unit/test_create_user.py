"""`manage.py create_user USERNAME [--email E] [--staff]` (and `make user`)."""

import io
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def create_user(*args: str) -> str:
    out = io.StringIO()
    call_command("create_user", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_without_a_terminal_a_generated_password_is_printed_once_and_works():
    output = create_user("alice", "--email", "alice@example.org")
    match = re.search(r"Created account 'alice' with password: (\S+)\nThis password is shown only once.", output)
    assert match, output
    user = authenticate(username="alice", password=match.group(1))
    assert user is not None
    assert user.email == "alice@example.org"
    assert not user.is_staff and not user.is_superuser


def test_staff_may_sign_in_to_admin_but_is_no_superuser():
    assert "Created staff account 'mod'" in create_user("mod", "--staff")
    user = get_user_model().objects.get(username="mod")
    assert user.is_staff and not user.is_superuser


def test_an_existing_user_is_refused_and_left_alone():
    create_user("alice")
    before = get_user_model().objects.get(username="alice").password
    with pytest.raises(CommandError, match="already exists"):
        create_user("alice")
    assert get_user_model().objects.get(username="alice").password == before


@pytest.mark.parametrize("args", [["not a name!"], ["bob", "--email", "not-an-address"]])
def test_invalid_input_creates_nothing(args):
    with pytest.raises(CommandError):
        create_user(*args)
    assert not get_user_model().objects.exists()


def test_at_a_terminal_the_password_is_asked_for_twice_and_validated(monkeypatch):
    answers = iter(
        ["short", "short", "a long enough passphrase", "a typo", "a long enough passphrase", "a long enough passphrase"]
    )
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    output = create_user("carol")
    assert output.strip() == "Created account 'carol'."
    assert authenticate(username="carol", password="a long enough passphrase") is not None


def test_at_a_terminal_an_empty_password_is_generated(monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "")
    assert "with password:" in create_user("dave")
