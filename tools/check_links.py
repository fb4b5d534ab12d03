"""Checks the links of a built HTML site offline: internal ones must resolve.

    python tools/check_links.py build/book-fast/_build/html [--start index.html] [--external]

From the start page, every page reachable through internal links (and
redirects, ``<meta http-equiv="refresh">``) is read.
Each internal reference (``<a href>``, ``<link href>``, the ``src`` of
images, scripts and frames) must name a file inside the site, and each
fragment (``page.html#id``, ``#id``) an ``id`` (or ``<a name>``) of that
page. External links (``https://...``, ``//host/...``, ``mailto:``) are
collected and listed, never fetched: the check needs no network. Pages that
nothing links to (a build folder keeps the pages of deleted sources) are not
read. Exits with status 1, naming each broken link, when any is broken.
"""

import argparse
import dataclasses
import html.parser
import os
import posixpath
import sys
from urllib.parse import unquote
from urllib.parse import urlsplit

# Attributes that reference another file, per tag.
REFERENCES = {
    "a": "href",
    "area": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "iframe": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
    "embed": "src",
}
# Addresses that name no file: nothing to check, nothing to list.
IGNORED_SCHEMES = ("javascript", "data", "blob", "about")


@dataclasses.dataclass(frozen=True)
class BrokenLink:
    """An internal reference that does not resolve.

    Attributes:
        page: the page that holds it, relative to the site's root.
        target: the address as written in the page.
        reason: what is missing.
    """

    page: str
    target: str
    reason: str

    def __str__(self):
        return f"{self.page}: {self.target!r}: {self.reason}"


@dataclasses.dataclass
class LinkReport:
    """What :func:`check_links` found.

    Attributes:
        pages: the pages read, relative to the root, in the order read.
        internal: the number of internal references checked.
        broken: the :class:`BrokenLink` s, in the order found.
        external: ``{address: [pages that link to it]}``, not fetched.
    """

    pages: list
    internal: int
    broken: list
    external: dict


class _Page(html.parser.HTMLParser):
    """The ids of one page and the addresses it references, in order."""

    def __init__(self):
        super().__init__()
        self.ids = set()
        self.references = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        attribute = REFERENCES.get(tag)
        if attribute and attrs.get(attribute) is not None:
            self.references.append((tag, attrs[attribute].strip()))
        # A redirect page (Jupyter Book's index.html): <meta http-equiv="refresh"
        # content="0; url=intro.html">, followed like a link.
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            _, found, address = (attrs.get("content") or "").partition("url=")
            if found:
                self.references.append(("a", address.strip().strip("'\"")))


def _parse(path):
    page = _Page()
    with open(path, encoding="utf-8", errors="replace") as f:
        page.feed(f.read())
    page.close()
    return page


def check_links(root, start="index.html"):
    """Checks every internal link of the pages reachable from ``start``.

    Args:
        root: str. The site's folder (e.g. ``build/book/_build/html``).
        start: str. The first page, relative to ``root``.

    Returns:
        A :class:`LinkReport`; ``report.broken`` is empty when every internal
        reference resolves to a file in ``root`` and every fragment to an id
        of its page.

    Raises:
        FileNotFoundError: when ``root/start`` does not exist.

    Example:

    >>> report = check_links("build/book/_build/html")  # doctest: +SKIP
    >>> [str(link) for link in report.broken]  # doctest: +SKIP
    ["intro.html: 'chapters/99_x.html': no file chapters/99_x.html"]
    """
    root = os.path.abspath(root)
    first = posixpath.normpath(start)
    if not os.path.isfile(os.path.join(root, first)):
        raise FileNotFoundError(f"no page {first} in {root}")
    parsed = {}

    def page_of(relative):
        if relative not in parsed:
            parsed[relative] = _parse(os.path.join(root, relative))
        return parsed[relative]

    report = LinkReport(pages=[], internal=0, broken=[], external={})
    queue, queued = [first], {first}
    while queue:
        current = queue.pop(0)
        report.pages.append(current)
        for tag, address in page_of(current).references:
            parts = urlsplit(address)
            if parts.scheme in IGNORED_SCHEMES or not address:
                continue
            if parts.scheme or parts.netloc:
                report.external.setdefault(address, []).append(current)
                continue
            report.internal += 1
            target, reason = _resolve(root, current, unquote(parts.path))
            if reason is None and parts.fragment and target.endswith(".html"):
                fragment = unquote(parts.fragment)
                if fragment not in page_of(target).ids:
                    reason = f"{target} has no id {fragment!r}"
            if reason is not None:
                report.broken.append(BrokenLink(current, address, reason))
            elif tag in ("a", "area") and target.endswith(".html") and target not in queued:
                queued.add(target)
                queue.append(target)
    return report


def _resolve(root, page, path):
    """``(target relative to root, None)``, or ``(None, reason)`` when it is missing."""
    if not path:
        return page, None
    if path.startswith("/"):
        return None, "an absolute path, which does not resolve in a copied or file:// site"
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
    if target == ".." or target.startswith("../"):
        return None, f"{target} lies outside the site"
    if os.path.isdir(os.path.join(root, target)):
        target = posixpath.join(target, "index.html")
    if not os.path.isfile(os.path.join(root, target)):
        return None, f"no file {target}"
    return target, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="the site's folder, e.g. build/book/_build/html")
    parser.add_argument("--start", default="index.html", help="first page (default index.html)")
    parser.add_argument("--external", action="store_true", help="list the external links")
    args = parser.parse_args(argv)
    report = check_links(args.root, args.start)
    print(
        f"{len(report.pages)} pages, {report.internal} internal references, "
        f"{len(report.external)} external addresses (not fetched)"
    )
    if args.external:
        for address, pages in sorted(report.external.items()):
            print(f"  {address}  ({len(pages)} link(s), first on {pages[0]})")
    for link in report.broken:
        print(f"BROKEN {link}", file=sys.stderr)
    return 1 if report.broken else 0


if __name__ == "__main__":
    sys.exit(main())
