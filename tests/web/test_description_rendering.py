"""Descriptions render like PyPI's (reST, Markdown, plain) and always come out sanitised."""

from __future__ import annotations

import pytest

from releases.rendering import render_description


def test_markdown_gfm():
    html = render_description("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n", "text/markdown")
    assert "<h1>Title</h1>" in html and "<table>" in html
    assert '<input type="checkbox" checked="" disabled="">' in html


def test_markdown_commonmark_variant_has_no_tables():
    html = render_description("| a | b |\n|---|---|\n| 1 | 2 |\n", "text/markdown; variant=CommonMark")
    assert "<table>" not in html


def test_restructuredtext_is_the_default():
    html = render_description("Title\n=====\n\nSome *emphasis*.\n", "")
    assert "<em>emphasis</em>" in html and "Title" in html


def test_broken_restructuredtext_falls_back_to_plain_text():
    html = render_description(".. raw:: html\n\n   <b>bold</b>\n", "text/x-rst")
    assert html.startswith('<pre class="plain">') and "&lt;b&gt;bold&lt;/b&gt;" in html


@pytest.mark.parametrize("content_type", ["text/plain", "text/html", "application/x-unknown"])
def test_plain_and_unknown_types_are_escaped_text(content_type):
    html = render_description("<b>bold</b> & more", content_type)
    assert html == '<pre class="plain">&lt;b&gt;bold&lt;/b&gt; &amp; more</pre>'


def test_empty_description_renders_nothing():
    assert render_description("", "text/markdown") == ""
    assert render_description("   \n", "") == ""


@pytest.mark.parametrize("content_type", ["text/markdown", "text/markdown; variant=CommonMark"])
def test_markdown_raw_html_is_sanitised(content_type):
    html = render_description(
        '<script>alert(1)</script><img src="x" onerror="alert(1)"><a href="javascript:alert(1)">x</a>'
        '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
        '<p style="position:fixed" onclick="alert(1)">hi</p><form action="/x"><input name="q"></form>',
        content_type,
    )
    lowered = html.lower()
    for needle in ("<script", "onerror", "javascript:", "<iframe", "<style", "style=", "onclick", "<form", 'name="q"'):
        assert needle not in lowered, needle


def test_restructuredtext_links_are_checked():
    html = render_description("`bad <javascript:alert(1)>`_ and `good <https://example.org>`_\n", "text/x-rst")
    assert "javascript:" not in html
    assert 'href="https://example.org"' in html


def test_links_get_rel_nofollow():
    html = render_description("[x](https://example.org)", "text/markdown")
    assert 'rel="nofollow noopener noreferrer ugc"' in html


def test_ids_cannot_shadow_elements_of_the_page():
    html = render_description('<span id="pip-command">x</span> [a](#pip-command)', "text/markdown")
    assert 'id="pip-command"' not in html
    assert 'id="user-content-pip-command"' in html and 'href="#user-content-pip-command"' in html


def test_only_checkbox_inputs_survive():
    html = render_description('<input type="text" value="x"><input type="checkbox">', "text/markdown")
    assert 'type="text"' not in html and 'type="checkbox"' in html


# --- classes: only what syntax highlighting needs (issue #14, item 8) ----------------------


@pytest.mark.parametrize("content_type", ["text/markdown", "text/markdown; variant=CommonMark"])
def test_a_readme_cannot_borrow_the_sites_classes(content_type):
    html = render_description(
        '<p class="notice">This release is a draft</p>'
        '<a class="button primary" href="https://evil.example/publish">Publish…</a>'
        '<div class="draft-box panel">x</div><span class="badge badge-draft">draft</span>'
        '<pre class="plain">p</pre><code class="danger">c</code><table class="files"><tr><td>t</td></tr></table>',
        content_type,
    )
    assert "class=" not in html
    assert "Publish…" in html and "This release is a draft" in html


def test_highlighting_classes_survive():
    rst = render_description(".. code:: python\n\n   import os\n", "text/x-rst")
    assert '<pre class="code python literal-block">' in rst and '<span class="kn">import</span>' in rst
    md = render_description("```python\nx = 1\n```\n", "text/markdown; variant=CommonMark")
    assert '<code class="language-python">' in md
    mixed = render_description('<span class="k notice">a</span><div class="highlight button">b</div>', "text/markdown")
    assert '<span class="k">a</span>' in mixed and '<div class="highlight">b</div>' in mixed


def test_malformed_html_is_closed_and_kept():
    html = render_description("<p><b>bold<div>block</div>tail <i>open", "text/markdown")
    assert "<b>bold</b>" in html and "<div>block</div>" in html and "<i>open\n</i>" in html
