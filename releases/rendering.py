"""Render a release's long description (reST, Markdown or plain text) to safe HTML.

The description is attacker-controlled metadata. Whatever the renderer produces goes
through one nh3 pass with an allowlist before it reaches a template, and only that
sanitised output is ever marked safe. reST goes through readme_renderer (as on PyPI);
Markdown through cmarkgfm (GitHub-flavoured or CommonMark), because readme_renderer 46
needs `comrak` for Markdown.
"""

from __future__ import annotations

import hashlib
import html
from email.message import Message

import cmarkgfm
import nh3
import readme_renderer.rst
from cmarkgfm.cmark import Options
from django.core.cache import cache
from django.utils.safestring import SafeString, mark_safe

# Bump when the output changes, so cached renderings of older code are not served.
RENDER_VERSION = "1"
MAX_DESCRIPTION_CHARS = 512 * 1024

ALLOWED_TAGS = {
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "cite", "code", "col",
    "colgroup", "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "li", "ol", "p",
    "picture", "pre", "s", "section", "span", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"id", "class", "title", "lang"},
    "a": {"href"},
    "abbr": {"title"},
    "img": {"src", "alt", "width", "height", "align"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan"},
    "ol": {"start"},
    "div": {"align"},
    "p": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
    "input": {"type", "checked", "disabled"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Ids from a description live in their own namespace: a README must not be able to
# shadow an element of the page (e.g. the copy button's target, `pip-command`).
ID_PREFIX = "user-content-"


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "id":
        return value if value.startswith(ID_PREFIX) else ID_PREFIX + value
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


def _parse_content_type(content_type: str) -> tuple[str, dict[str, str]]:
    message = Message()
    message["Content-Type"] = content_type or "text/x-rst"
    params = {key.lower(): value for key, value in message.get_params(failobj=[])[1:]}
    return message.get_content_type(), params


def _plain(text: str) -> str:
    return f'<pre class="plain">{html.escape(text)}</pre>'


def _render_unsanitised(text: str, content_type: str) -> str:
    kind, params = _parse_content_type(content_type)
    if kind == "text/markdown":
        if params.get("variant", "GFM").lower() == "commonmark":
            return cmarkgfm.markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
        return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    if kind in ("text/x-rst", "text/rst", "text/restructuredtext"):
        # None when the document does not parse (or uses a disabled directive): PyPI
        # then shows the text as it is, and so do we.
        rendered = readme_renderer.rst.render(text)
        return rendered if rendered is not None else _plain(text)
    return _plain(text)


def render_description(text: str, content_type: str = "") -> SafeString:
    """The description as sanitised HTML, safe to insert into a page."""
    if not text or not text.strip():
        return mark_safe("")
    text = text[:MAX_DESCRIPTION_CHARS]
    key = "description:" + hashlib.sha256(f"{RENDER_VERSION}\0{content_type}\0{text}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = sanitize(_render_unsanitised(text, content_type))
        cache.set(key, cached, timeout=24 * 3600)
    # Safe because it is nh3's output (with the allowlist above), never the raw metadata.
    return mark_safe(cached)  # noqa: S308
