"""Render a release's long description (reST, Markdown or plain text) to safe HTML.

The description is attacker-controlled metadata, so it is rendered once, when it is
uploaded (and by migration 0006 for older rows), and the result is stored with the release
(`Release.description_html`): a page view only reads that column and never renders.

The work is bounded, since an upload runs in a request too:

- the text is cut at MAX_DESCRIPTION_CHARS;
- Markdown goes through cmarkgfm (C, linear); reST through readme_renderer (as on PyPI),
  in this process when short, else in a child process that is killed after
  RST_TIMEOUT_SECONDS (docutils is pure Python with superlinear corners, e.g. many link
  targets, and deep nesting ends in a RecursionError);
- the renderer's HTML is read by a linear tokenizer and written out again well formed,
  with every element closed explicitly and inline (formatting) elements closed before
  any block starts. More than MAX_HTML_CHARS of it or elements nested deeper than
  MAX_DEPTH and the description is shown as plain text instead. html5ever (under nh3)
  spends time proportional to the nesting depth on each tag (`"> " * 150000` took
  minutes) and re-opens formatting elements that a block closed implicitly (a few KiB
  could grow into a hundred MB); on this normalised input neither can happen;
- then one nh3 pass with an allowlist, and only that output is ever marked safe.

Whatever fails or exceeds a limit falls back to the text itself, escaped, as PyPI does
for reST that does not parse.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
from email.message import Message
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import cmarkgfm
import nh3
import readme_renderer.rst
from cmarkgfm.cmark import Options
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe
from pygments.token import STANDARD_TYPES

if TYPE_CHECKING:
    from releases.models import Release

# Bump when the output changes, so cached renderings of older code are not served.
RENDER_VERSION = "2"
MAX_DESCRIPTION_CHARS = 512 * 1024
# The renderer's HTML, before sanitising. A 512 KiB README is about as much HTML; tables
# and deep nesting multiply it (`"> " * 150000` makes 4 MB), and reading it costs time.
MAX_HTML_CHARS = 1024 * 1024
# Elements open at once. Real READMEs stay under 20 (lists in lists in a quote).
MAX_DEPTH = 64
# reST up to this size renders in this process (worst case measured well under a
# second); longer reST in a child process with a time limit.
RST_INPROCESS_CHARS = 8 * 1024
RST_TIMEOUT_SECONDS = 1.5

ALLOWED_TAGS = {
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "li", "ol", "p",
    "picture", "pre", "s", "section", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "title", "lang"},
    "a": {"href"},
    "abbr": {"title"},
    "img": {"src", "alt", "width", "height", "align"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "div": {"align", "class"},
    "p": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
    "input": {"type", "checked", "disabled"},
    # Classes only for syntax highlighting (filtered below): a README must not borrow the
    # site's own styling (a fake notice, a "Publish" button).
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Ids from a description live in their own namespace: a README must not be able to
# shadow an element of the page (e.g. the copy button's target, `pip-command`).
ID_PREFIX = "user-content-"

# Pygments' short token classes (docutils' `code` directive with syntax_highlight=short).
_TOKEN_CLASSES = frozenset(STANDARD_TYPES.values()) - {""}
# docutils: <pre class="code python literal-block">; cmark: <code class="language-python">;
# Pygments' HtmlFormatter: <div class="highlight">.
_LANGUAGE = re.compile(r"(?:language-)?[a-z0-9][a-z0-9+#._-]{0,39}")
_ALLOWED_CLASSES = {
    "span": lambda name: name in _TOKEN_CLASSES,
    "code": lambda name: name.startswith("language-") and bool(_LANGUAGE.fullmatch(name)),
    "pre": lambda name: name in ("code", "literal-block") or _is_lexer_name(name),
    "div": lambda name: name == "highlight",
}
_lexer_names: frozenset[str] | None = None


def _is_lexer_name(name: str) -> bool:
    global _lexer_names
    if _lexer_names is None:
        from pygments.lexers import LEXERS

        _lexer_names = frozenset(alias for entry in LEXERS.values() for alias in entry[2])
    return name in _lexer_names


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if value.startswith(ID_PREFIX) else ID_PREFIX + value
    if attribute == "class":
        allowed = _ALLOWED_CLASSES.get(tag)
        kept = [name for name in value.split() if allowed is not None and allowed(name)]
        return " ".join(kept) or None
    if tag == "a" and attribute == "href" and value.startswith("#") and not value.startswith("#" + ID_PREFIX):
        return "#" + ID_PREFIX + value[1:]
    if tag == "input" and attribute == "type":
        # Task-list checkboxes only, never a text field in the page.
        return value if value == "checkbox" else None
    return value


def sanitize(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer ugc",
        strip_comments=True,
    )


# --- normalising the renderer's HTML ----------------------------------------------------


class TooComplex(Exception):
    """The description exceeds a limit: it is shown as plain text."""


_VOID = frozenset({"br", "col", "hr", "img", "input"})
# Elements html5ever never closes implicitly on a start tag: they may contain one another.
# Everything else in ALLOWED_TAGS is a block, before which they are closed.
_INLINE = frozenset({
    "a", "abbr", "acronym", "b", "cite", "code", "del", "em", "i", "kbd", "picture", "s",
    "span", "strong", "sub", "sup", "tt", "var",
})  # fmt: skip
# A start tag of the key closes an open element of the value, as html5ever would, unless
# one of `_SCOPE` stands between them.
_P_CLOSERS = frozenset({
    "blockquote", "details", "div", "dl", "figcaption", "figure", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "ol", "p", "pre", "section", "summary", "table", "ul", "li", "dd", "dt",
})  # fmt: skip
_CLOSES = {
    "li": frozenset({"li"}),
    "dd": frozenset({"dd", "dt"}),
    "dt": frozenset({"dd", "dt"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"tr"}),
    "tbody": frozenset({"tbody", "thead", "tfoot"}),
    "thead": frozenset({"tbody", "thead", "tfoot"}),
    "tfoot": frozenset({"tbody", "thead", "tfoot"}),
}
_SCOPE = {
    "li": frozenset({"ul", "ol", "table", "td", "th", "caption"}),
    "dd": frozenset({"dl", "table", "td", "th", "caption"}),
    "dt": frozenset({"dl", "table", "td", "th", "caption"}),
}
_DEFAULT_SCOPE = frozenset({"table", "td", "th", "caption"})
_SAFE_ATTRIBUTE = re.compile(r"[a-z][a-z0-9_:.-]*")


class _Normaliser(HTMLParser):
    """Tokenize HTML (linear) and write it out well formed, at most MAX_DEPTH deep.

    Only allowed tags are kept (nh3 would drop the others, keeping their text), comments
    and the content of script/style are dropped, text and attributes are escaped again.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.skipping: str | None = None

    def _pop_to(self, index: int) -> None:
        while len(self.stack) > index:
            self.out.append(f"</{self.stack.pop()}>")

    def _find(self, names: frozenset[str], scope: frozenset[str]) -> int | None:
        for index in range(len(self.stack) - 1, -1, -1):
            name = self.stack[index]
            if name in names:
                return index
            if name in scope:
                return None
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            return
        if tag in ("script", "style"):
            self.skipping = tag
            return
        if tag not in ALLOWED_TAGS:
            return
        if tag not in _INLINE:
            # Close inline elements first: html5ever would close them implicitly and
            # re-open them in every block that follows.
            while self.stack and self.stack[-1] in _INLINE:
                self._pop_to(len(self.stack) - 1)
            if tag in _P_CLOSERS and (index := self._find(frozenset({"p"}), _DEFAULT_SCOPE)) is not None:
                self._pop_to(index)
            if (
                tag in _CLOSES
                and (index := self._find(_CLOSES[tag], _SCOPE.get(tag, frozenset({"table"})))) is not None
            ):
                self._pop_to(index)
        elif tag == "a" and (index := self._find(frozenset({"a"}), frozenset())) is not None:
            self._pop_to(index)
        parts = [tag]
        for name, value in attrs:
            if _SAFE_ATTRIBUTE.fullmatch(name):
                parts.append(name if value is None else f'{name}="{html.escape(value)}"')
        self.out.append("<" + " ".join(parts) + ">")
        if tag not in _VOID:
            if len(self.stack) >= MAX_DEPTH:
                raise TooComplex(f"elements nested deeper than {MAX_DEPTH}")
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping:
                self.skipping = None
            return
        if tag in self.stack:  # at most MAX_DEPTH long
            self._pop_to(len(self.stack) - 1 - self.stack[::-1].index(tag))

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def close(self) -> None:
        super().close()
        self._pop_to(0)


def normalise(fragment: str) -> str:
    """`fragment` well formed and shallow, or TooComplex."""
    if len(fragment) > MAX_HTML_CHARS:
        raise TooComplex(f"more than {MAX_HTML_CHARS} characters of HTML")
    parser = _Normaliser()
    parser.feed(fragment)
    parser.close()
    return "".join(parser.out)


# --- rendering ---------------------------------------------------------------------------


def _parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = content_type or "text/x-rst"
    params = {key.lower(): value for key, value in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params


def _plain(text: str) -> str:
    return f'<pre class="plain">{html.escape(text)}</pre>'


# The child process: reST on stdin, HTML on stdout; exit status 3 when it does not render.
_RST_CHILD = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import readme_renderer.rst
text = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
try:
    rendered = readme_renderer.rst.render(text)
except (RecursionError, MemoryError):
    rendered = None
if rendered is None:
    sys.exit(3)
sys.stdout.buffer.write(rendered.encode("utf-8", "surrogatepass"))
"""


def _render_rst(text: str) -> str | None:
    """readme_renderer's HTML, or None when the text does not render within the limits."""
    if len(text) <= RST_INPROCESS_CHARS:
        try:
            return readme_renderer.rst.render(text)
        except RecursionError:
            return None
    try:
        child = subprocess.run(  # noqa: S603 - our own interpreter and code, text on stdin
            [sys.executable, "-I", "-c", _RST_CHILD],
            input=text.encode("utf-8", "surrogatepass"),
            capture_output=True,
            timeout=RST_TIMEOUT_SECONDS,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return None
    if child.returncode != 0:
        return None
    return child.stdout.decode("utf-8", "surrogatepass")


def _render_unsanitised(text: str, content_type: str) -> str | None:
    kind, params = _parse_content_type(content_type)
    if kind == "text/markdown":
        if params.get("variant", "GFM").lower() == "commonmark":
            return cmarkgfm.markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
        return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    if kind in ("text/x-rst", "text/rst", "text/restructuredtext"):
        # None when the document does not parse (or uses a disabled directive): PyPI
        # then shows the text as it is, and so do we.
        return _render_rst(text)
    return None


def _render(text: str, content_type: str) -> str:
    rendered = _render_unsanitised(text, content_type)
    if rendered is None:
        return _plain(text)
    try:
        return sanitize(normalise(rendered))
    except TooComplex:
        return _plain(text)


def render_description(text: str, content_type: str = "") -> SafeString:
    """The description as sanitised HTML, safe to insert into a page; bounded work.

    For the upload (and the migration) only: pages show `stored_description`.
    """
    if not text or not text.strip():
        return mark_safe("")
    text = text[:MAX_DESCRIPTION_CHARS]
    key = "description:" + hashlib.sha256(f"{RENDER_VERSION}\0{content_type}\0{text}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = _render(text, content_type)
        cache.set(key, cached, timeout=24 * 3600)
    # Safe because it is nh3's output (with the allowlist above) or escaped text, never
    # the raw metadata.
    return mark_safe(cached)  # noqa: S308


def stored_description(release: Release) -> SafeString:
    """The release's description as rendered when it was uploaded; never renders."""
    # Safe: the column holds only render_description's output (uploads, migration 0006).
    return mark_safe(release.description_html)  # noqa: S308
