"""The course book builds offline and reads right in a real browser.

``tools/run_tests.py`` runs this file right after the chapters of one backend
(JAX), in the same process: ``tools/build_book.py --fast`` then finds every
chapter in the cache the chapter tests just filled and only builds the HTML.
The browser test opens a chapter from ``file://`` in Debian's headless
Chromium with the network off (``make test`` installs it,
``tools/install_system.sh``) and saves a screenshot to
``test-results/book/``.
"""

import glob
import html.parser
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "book", "_ext"))

import build_book  # noqa: E402
import check_links  # noqa: E402
import kcv_book  # noqa: E402

CHAPTERS = sorted(
    os.path.splitext(os.path.basename(p))[0]
    for p in glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))
)
ARTIFACTS = os.path.join(ROOT, "test-results", "book")
CHROMIUM = "/usr/bin/chromium"
# The chapter the browser test reads: equations, and figures drawn by the chapter.
SHOWN = "04_senet_squeeze_excitation"


@pytest.fixture(scope="module")
def html_dir():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    result = build_book.build(backend, fast=True, log=lambda line: print(line, flush=True))
    assert os.path.exists(result["index"])
    return os.path.dirname(result["index"])


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _repository_url():
    """``kcv_repository_url`` of ``book/_config.yml`` (empty: no Colab links)."""
    import yaml

    with open(os.path.join(ROOT, "book", "_config.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)["sphinx"]["config"]["kcv_repository_url"] or ""


@pytest.mark.slow
def test_every_chapter_and_reference_page_is_in_the_html(html_dir):
    colab = bool(_repository_url())
    for chapter in CHAPTERS:
        page = _read(os.path.join(html_dir, "chapters", f"{chapter}.html"))
        assert "kcv-download" in page and ("kcv-colab" in page) == colab, chapter
        assert os.path.exists(os.path.join(html_dir, "notebooks", f"{chapter}.ipynb")), chapter
        assert "Traceback (most recent call last)" not in page, chapter
    layers = _read(os.path.join(html_dir, "api", "layers.html"))
    for name in (
        "SqueezeExcite",
        "InceptionModule",
        "ASPP",
        "Encoding",
        "StripPooling",
        "InvertedResidual",
        "MSDDenseLayer",
    ):
        assert re.search(rf'id="kcv\.layers\.\w+\.{name}"', layers), name
    models = _read(os.path.join(html_dir, "api", "models.html"))
    for name in (
        "GoogLeNet",
        "SEResNet50",
        "MobileNetV2",
        "DeepLabV3Plus",
        "EncNet",
        "SPNet",
        "MSDNet",
    ):
        assert re.search(rf'id="kcv\.models\.\w+\.{name}"', models), name
    bibliography = _read(os.path.join(html_dir, "bibliography.html")).lower()
    assert "squeeze-and-excitation networks" in bibliography
    assert "multi-scale dense networks" in bibliography
    zoo = _read(os.path.join(html_dir, "zoo.html"))
    assert "ResNet(18)" in zoo and "11,689,512" in zoo and "<table" in zoo
    matrix = _read(os.path.join(html_dir, "matrix.html"))
    assert "11_msdnet_anytime_budgeted.ipynb" in matrix and "<table" in matrix
    assert os.path.exists(os.path.join(html_dir, "search.html"))
    assert os.path.exists(os.path.join(html_dir, "searchindex.js"))


@pytest.mark.slow
def test_chapters_cite_the_bibliography_and_number_their_equations(html_dir):
    page = _read(os.path.join(html_dir, "chapters", f"{SHOWN}.html"))
    assert "bibliography.html#id" in page, "the chapter cites no paper of references.bib"
    assert re.search(r'<span class="eqno">\(\d+\)', page), "no numbered equation"
    assert re.search(r'class="caption-number">Fig\. \d+', page), "no numbered figure"
    assert 'href="#fig-' in page or 'href="#id' in page


@pytest.mark.slow
def test_every_internal_link_and_anchor_resolves(html_dir):
    report = check_links.check_links(html_dir)
    assert report.broken == [], "broken internal links:\n" + "\n".join(map(str, report.broken))
    assert len(report.pages) > len(CHAPTERS) and report.internal > 1000
    print(f"{len(report.external)} external addresses, not fetched:")
    for address in sorted(report.external):
        print(f"  {address}")


class _Assets(html.parser.HTMLParser):
    """Collects the addresses a page loads by itself (scripts, styles, images, frames)."""

    def __init__(self):
        super().__init__()
        self.loaded = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "video", "audio") and attrs.get("src"):
            self.loaded.append(attrs["src"])
        if (
            tag == "link"
            and attrs.get("href")
            and not {"canonical", "alternate"} & set((attrs.get("rel") or "").split())
        ):
            self.loaded.append(attrs["href"])


@pytest.mark.slow
def test_no_page_loads_anything_from_the_network(html_dir):
    remote = {}
    for path in glob.glob(os.path.join(html_dir, "**", "*.html"), recursive=True):
        parser = _Assets()
        parser.feed(_read(path))
        external = [url for url in parser.loaded if re.match(r"(https?:)?//", url)]
        if external:
            remote[os.path.relpath(path, html_dir)] = external
    assert not remote, f"pages load assets from the network: {remote}"
    assert os.path.exists(os.path.join(html_dir, "_static", "mathjax", "tex-chtml.js"))


@pytest.mark.slow
def test_a_chapter_renders_offline_in_chromium(html_dir):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run tools/install_system.sh (make test does)")
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    url = "file://" + os.path.join(html_dir, "chapters", f"{SHOWN}.html")
    requested = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 1600})
            page = context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(url, wait_until="load")
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("MathJax.startup.promise")
            rendered = page.eval_on_selector_all("mjx-container", "nodes => nodes.length")
            displayed = page.eval_on_selector_all(
                "mjx-container[display='true']", "nodes => nodes.length"
            )
            text = page.inner_text("main")
            images = page.eval_on_selector_all(
                "main img",
                "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])",
            )
            figure = page.locator("figure").first
            figure.scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, -700)")
            page.screenshot(path=os.path.join(ARTIFACTS, f"{SHOWN}.png"))
            page.screenshot(path=os.path.join(ARTIFACTS, f"{SHOWN}-full.png"), full_page=True)
        finally:
            browser.close()
    remote = [u for u in requested if not u.startswith(("file://", "data:", "blob:"))]
    assert not remote, f"the page asked the network for {remote}"
    assert displayed >= 3 and rendered > displayed, (rendered, displayed)
    assert "$$" not in text and "\\frac" not in text, "raw TeX left on the page"
    assert len(images) >= 2, images
    broken = [src for src, loaded in images if not loaded]
    assert not broken, f"images that did not load: {broken}"


@pytest.mark.backend_independent
def test_colab_links_point_at_the_committed_notebook():
    assert kcv_book.colab_url("https://github.com/someone/kcv/", "main", "02_x.ipynb") == (
        "https://colab.research.google.com/github/someone/kcv/blob/main/notebooks/02_x.ipynb"
    )
    with pytest.raises(ValueError, match="kcv_repository_url"):
        kcv_book.colab_url("https://gitlab.com/a/b", "main", "x.ipynb")


@pytest.mark.backend_independent
def test_chapter_links_follow_the_one_repository_setting():
    from types import SimpleNamespace

    unset = kcv_book.links_html(
        SimpleNamespace(kcv_repository_url="", kcv_repository_branch="main"), "chapters/02_x"
    )
    assert "kcv-colab" not in unset and "github.com" not in unset
    assert 'href="../notebooks/02_x.ipynb" download' in unset
    assert "git+&lt;address of the kcv repository&gt;" in unset
    configured = kcv_book.links_html(
        SimpleNamespace(
            kcv_repository_url="https://github.com/someone/kcv", kcv_repository_branch="v1"
        ),
        "chapters/02_x",
    )
    colab = "https://colab.research.google.com/github/someone/kcv/blob/v1/notebooks/02_x.ipynb"
    assert f'class="kcv-colab" href="{colab}"' in configured
    assert "%pip install &#x27;kcv @ git+https://github.com/someone/kcv&#x27;" in configured


@pytest.mark.backend_independent
def test_known_warnings_need_a_reason(tmp_path):
    listed = tmp_path / "known_warnings.txt"
    listed.write_text("# comment\n\nWARNING: .*duplicate label  # two outputs of one cell\n")
    known = build_book.read_known_warnings(str(listed))
    warnings = ["x.md:3: WARNING: duplicate label fig-a", "y.md:1: WARNING: undefined label: eq-b"]
    assert build_book.unexplained(warnings, known) == [warnings[1]]
    listed.write_text("WARNING: undefined label\n")
    with pytest.raises(build_book.BookError, match="needs a reason"):
        build_book.read_known_warnings(str(listed))


@pytest.mark.backend_independent
def test_staging_merges_cached_outputs_into_the_current_text(tmp_path):
    import nbformat

    source = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("old text"),
            nbformat.v4.new_code_cell("FAST = False"),
            nbformat.v4.new_code_cell("print(FAST)"),
        ]
    )
    source.cells[1].metadata["tags"] = ["parameters"]
    executed = nbformat.from_dict(source)
    build_book.execute_chapters.inject_parameters(executed, "FAST = True")
    executed.cells[3].outputs = [nbformat.v4.new_output("stream", text="True\n")]
    nbformat.write(executed, str(tmp_path / "executed.ipynb"))
    source.cells[0].source = "new text"
    nbformat.write(source, str(tmp_path / "source.ipynb"))
    target = tmp_path / "src" / "chapter.ipynb"

    assert build_book.stage_chapter(
        str(tmp_path / "source.ipynb"), str(tmp_path / "executed.ipynb"), str(target), fast=True
    )
    staged = nbformat.read(str(target), as_version=4)
    assert staged.cells[0].source == "new text"
    assert staged.cells[2].metadata["tags"] == ["injected-parameters", "remove-cell"]
    assert staged.cells[3].outputs[0]["text"] == "True\n"
    assert not build_book.stage_chapter(
        str(tmp_path / "source.ipynb"), str(tmp_path / "executed.ipynb"), str(target), fast=True
    ), "unchanged, yet written again"
    source.cells[2].source = "print(not FAST)"
    nbformat.write(source, str(tmp_path / "source.ipynb"))
    with pytest.raises(build_book.BookError, match="other code"):
        build_book.stage_chapter(
            str(tmp_path / "source.ipynb"), str(tmp_path / "executed.ipynb"), str(target), fast=True
        )


@pytest.mark.backend_independent
def test_cache_key_follows_code_kcv_sources_backend_and_mode(tmp_path, monkeypatch):
    import nbformat

    chapter = tmp_path / "01_x.ipynb"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("text"), nbformat.v4.new_code_cell("x = 1")]
    )
    nbformat.write(notebook, str(chapter))
    execute_chapters = build_book.execute_chapters
    (tmp_path / "kcv").mkdir()
    (tmp_path / "kcv" / "layers.py").write_text("A = 1\n")
    monkeypatch.setattr(execute_chapters, "ROOT", str(tmp_path))
    key = execute_chapters.cache_key(str(chapter), "jax", True)
    assert key == execute_chapters.cache_key(str(chapter), "jax", True)
    assert key != execute_chapters.cache_key(str(chapter), "torch", True)
    assert key != execute_chapters.cache_key(str(chapter), "jax", False)
    (tmp_path / "kcv" / "layers.py").write_text("A = 2\n")
    changed_kcv = execute_chapters.cache_key(str(chapter), "jax", True)
    assert changed_kcv != key
    notebook.cells[0].source = "other text"
    nbformat.write(notebook, str(chapter))
    assert execute_chapters.cache_key(str(chapter), "jax", True) == changed_kcv, "text is not code"
    notebook.cells[1].source = "x = 2"
    nbformat.write(notebook, str(chapter))
    assert execute_chapters.cache_key(str(chapter), "jax", True) not in (key, changed_kcv)


@pytest.mark.backend_independent
def test_store_replaces_older_executions_of_the_same_chapter(tmp_path):
    import nbformat

    execute_chapters = build_book.execute_chapters
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    old = tmp_path / "jax" / "fast" / "01_x-aaaa.ipynb"
    other = tmp_path / "jax" / "fast" / "02_y-bbbb.ipynb"
    for path in (old, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    new = tmp_path / "jax" / "fast" / "01_x-cccc.ipynb"
    assert execute_chapters.store(str(new), notebook) == str(new)
    assert sorted(p.name for p in new.parent.iterdir()) == ["01_x-cccc.ipynb", "02_y-bbbb.ipynb"]
    assert nbformat.read(str(new), as_version=4).cells[0].source == "x = 1"
