"""tools/check_links.py: the offline link check of the built book, on hand-written pages.

``tests/test_book.py`` runs the same check on the real build.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import check_links  # noqa: E402

pytestmark = pytest.mark.backend_independent


def _site(tmp_path, pages):
    for name, body in pages.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")
    return str(tmp_path)


GOOD = {
    "index.html": '<meta http-equiv="Refresh" content="0; url=intro.html" />',
    "intro.html": (
        '<h1 id="top">Intro</h1><a href="#top">here</a> <a href="chapters/one.html#eq-1">eq</a>'
        ' <a href="https://example.org/paper">paper</a> <a href="mailto:a@b.c">mail</a>'
        ' <img src="_static/logo%20small.png"> <a href="javascript:void(0)">menu</a>'
    ),
    "chapters/one.html": (
        '<span id="eq-1"></span><a name="old"></a><a href="../intro.html">back</a>'
        ' <a href="one.html#old">self</a> <a href="../notebooks/one.ipynb" download>nb</a>'
        ' <a href="../api/">api</a> <a href="https://example.org/paper">again</a>'
    ),
    "api/index.html": '<a href="../intro.html#top">intro</a>',
    "notebooks/one.ipynb": "{}",
    "_static/logo small.png": "",
    # Linked from nowhere (a page left by an older build): not read.
    "chapters/stale.html": '<a href="gone.html">gone</a>',
}


def test_every_link_of_a_good_site_resolves_and_external_ones_are_only_listed(tmp_path):
    report = check_links.check_links(_site(tmp_path, GOOD))
    assert report.broken == []
    assert report.pages == ["index.html", "intro.html", "chapters/one.html", "api/index.html"]
    assert report.external == {
        "https://example.org/paper": ["intro.html", "chapters/one.html"],
        "mailto:a@b.c": ["intro.html"],
    }
    assert report.internal == 9
    assert check_links.main([str(tmp_path)]) == 0


def test_a_missing_file_and_a_missing_anchor_are_named(tmp_path, capsys):
    pages = dict(GOOD)
    pages["chapters/one.html"] += (
        ' <a href="two.html">next</a> <a href="../intro.html#bottom">end</a>'
        ' <a href="#nowhere">here</a> <a href="../../outside.html">out</a>'
    )
    report = check_links.check_links(_site(tmp_path, pages))
    assert [str(link) for link in report.broken] == [
        "chapters/one.html: 'two.html': no file chapters/two.html",
        "chapters/one.html: '../intro.html#bottom': intro.html has no id 'bottom'",
        "chapters/one.html: '#nowhere': chapters/one.html has no id 'nowhere'",
        "chapters/one.html: '../../outside.html': ../outside.html lies outside the site",
    ]
    assert check_links.main([str(tmp_path)]) == 1
    assert "BROKEN chapters/one.html: 'two.html': no file chapters/two.html" in (
        capsys.readouterr().err
    )


def test_the_start_page_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no page index.html"):
        check_links.check_links(str(tmp_path))
