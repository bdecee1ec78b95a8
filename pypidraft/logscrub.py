"""Keep secrets out of logs: draft tokens travel in URL paths, API tokens in headers.

Used by Django's logging (a filter on every handler) and by gunicorn's access log (a
logger class), so neither a 404 warning nor an access line ever carries a working URL.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

REDACTED = "[redacted]"
PATTERNS = [
    (re.compile(r"(/simple/draft/)[^/\s\"?]+"), r"\1" + REDACTED),
    (re.compile(r"(--draft--)[^/\s\"?]+"), r"\1" + REDACTED),
    (re.compile(r"pypd-[A-Za-z0-9_\-]+"), "pypd-" + REDACTED),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(basic|bearer)\s+[A-Za-z0-9+/=._\-]+"), r"\1\2 " + REDACTED),
]


# Cheap substring tests first: nearly every log line and access atom has no secret.
MARKERS = ("draft", "pypd-", "uthorization", "UTHORIZATION")


def scrub(text: str) -> str:
    if not any(marker in text for marker in MARKERS):
        return text
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class ScrubSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks repeat the request path in exception messages; render and scrub them.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class ScrubbingGunicornLogger(GunicornLogger):
    """gunicorn's logger with the secret filter on its access log: one pass over the
    formatted line (the request line, referer and any logged header), not over each atom."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.access_log.addFilter(ScrubSecretsFilter())
