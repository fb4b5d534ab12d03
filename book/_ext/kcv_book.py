"""Sphinx extension of the kcv book: the links at the top of every chapter.

Each page under ``chapters/`` gets, under its title, a line of links:

* **Open in Colab**: the committed notebook (``notebooks/<name>.ipynb``) of
  the repository named by ``kcv_repository_url`` / ``kcv_repository_branch``,
  only when ``kcv_repository_url`` is set;
* **Download notebook**: the same notebook, without outputs, served by the
  book itself (``tools/build_book.py`` stages it under ``notebooks/``, an
  ``html_extra_path``);
* the executed copy is the theme's own download button (``.ipynb``).

Colab has no kcv installed; the links line says what to run first: the
exact ``%pip install`` line when the repository's address is set, and the
same line with a placeholder for the address when it is not (empty, the
committed default), so that the book never links to an address that is
not the project's.

Sphinx's own ``html_extra_path`` copies the notebooks; this extension only
writes the links, as a raw HTML node, so that the search index and the
cross-references are not affected.
"""

import html
import posixpath

from docutils import nodes

CHAPTER_FOLDER = "chapters"
COLAB = "https://colab.research.google.com/github"


def colab_url(repository_url, branch, notebook):
    """The Colab address of ``notebooks/<notebook>`` in a GitHub repository.

    Args:
        repository_url: ``https://github.com/<owner>/<name>``.
        branch: the branch (or tag) Colab should open.
        notebook: the file name, e.g. ``04_senet_squeeze_excitation.ipynb``.

    Returns:
        ``https://colab.research.google.com/github/<owner>/<name>/blob/<branch>/notebooks/<notebook>``.

    Raises:
        ValueError: when ``repository_url`` is not a GitHub repository address.
    """
    prefix = "https://github.com/"
    path = repository_url.rstrip("/")
    if not path.startswith(prefix) or path[len(prefix) :].count("/") != 1:
        raise ValueError(
            f"kcv_repository_url must be https://github.com/<owner>/<name>, got {repository_url!r}"
        )
    return f"{COLAB}/{path[len(prefix) :]}/blob/{branch}/notebooks/{notebook}"


def links_html(config, docname):
    """The HTML line of links for the chapter page ``docname``.

    Args:
        config: the Sphinx config; reads ``kcv_repository_url`` (empty or
            None: no Colab link) and ``kcv_repository_branch``.
        docname: the page's document name, e.g. ``chapters/04_senet``.

    Returns:
        The ``<p class="kcv-chapter-links">`` element as a string.

    Example:

    >>> from types import SimpleNamespace
    >>> config = SimpleNamespace(kcv_repository_url="", kcv_repository_branch="main")
    >>> "kcv-colab" in links_html(config, "chapters/04_senet")
    False
    """
    notebook = posixpath.basename(docname) + ".ipynb"
    repository = (config.kcv_repository_url or "").strip()
    depth = docname.count("/")
    download = "../" * depth + f"notebooks/{notebook}"
    # Colab has JAX, TensorFlow and PyTorch (GPU builds) already: no extra,
    # which would pull the CPU builds over them.
    install = f"%pip install 'kcv @ git+{repository or '<address of the kcv repository>'}'"
    download_link = (
        f'<a class="kcv-download" href="{html.escape(download)}" download>Download notebook</a>'
    )
    if repository:
        colab = colab_url(repository, config.kcv_repository_branch, notebook)
        links = (
            f'<a class="kcv-colab" href="{html.escape(colab)}">Open in Colab</a> · {download_link}'
        )
        where = "on Colab, run"
    else:
        links = download_link
        where = "on Colab (upload the notebook) or any Jupyter without kcv, run"
    return (
        f'<p class="kcv-chapter-links">{links} (without outputs) · {where} '
        f"<code>{html.escape(install)}</code> in a first cell</p>"
    )


def add_chapter_links(app, doctree):
    """``doctree-read`` handler: inserts the links under a chapter's title."""
    docname = app.env.docname
    if not docname.startswith(CHAPTER_FOLDER + "/"):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not isinstance(section[0], nodes.title):
        return
    section.insert(1, nodes.raw("", links_html(app.config, docname), format="html"))


def setup(app):
    app.add_config_value("kcv_repository_url", "", "html")
    app.add_config_value("kcv_repository_branch", "main", "html")
    app.connect("doctree-read", add_chapter_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
