"""Tokens never reach the logs: Django's log records and gunicorn's access lines are scrubbed."""

import logging
from datetime import timedelta
from types import SimpleNamespace

from pypidraft.logscrub import ScrubbingGunicornLogger, ScrubSecretsFilter, scrub

TOKEN = "2bim3et3ywvv5ryj2bkwnof6ca6ddnfdpycmr2tanrt6ahrdesea"


def test_scrub_removes_draft_and_api_tokens():
    text = (
        f"GET /simple/draft/{TOKEN}/acme/ /project/acme/1.0--draft--{TOKEN}/ "
        "pypd-AbC_12-xyz Authorization: Basic X190b2tlbl9fOnB5cGQ="
    )
    cleaned = scrub(text)
    assert TOKEN not in cleaned
    assert "pypd-AbC" not in cleaned
    assert "X190b2tlbl9f" not in cleaned
    assert "/simple/draft/[redacted]/acme/" in cleaned


def test_django_log_records_are_scrubbed(caplog):
    logger = logging.getLogger("tests.scrub")
    logger.addFilter(ScrubSecretsFilter())
    with caplog.at_level(logging.WARNING, logger="tests.scrub"):
        logger.warning("Not Found: %s", f"/simple/draft/{TOKEN}/")
    assert TOKEN not in caplog.text
    assert "/simple/draft/[redacted]/" in caplog.text


def test_gunicorn_access_lines_are_scrubbed(tmp_path):
    from gunicorn.config import Config

    log = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(log))
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" %({authorization}i)s')
    logger = ScrubbingGunicornLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/simple/draft/{TOKEN}/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": f"/simple/draft/{TOKEN}/",
        "QUERY_STRING": "",
        "HTTP_REFERER": f"http://x/project/a/1--draft--{TOKEN}/",
        "REMOTE_ADDR": "127.0.0.1",
    }
    request = SimpleNamespace(headers=[("AUTHORIZATION", "Bearer pypd-secretsecret")])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    logger.access(response, request, environ, timedelta(seconds=0))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = log.read_text()
    assert "/simple/draft/[redacted]/" in line
    assert TOKEN not in line
    assert "secretsecret" not in line
