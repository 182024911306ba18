"""Great Expectations Data Docs that render with no network: the CDN assets, vendored.

GE's page templates load jQuery, Bootstrap, bootstrap-table (which draws the index and the
validation-result tables), Font Awesome and Vega from CDNs; opened offline, or from a
locked-down VPC, the index page shows an empty table. :func:`make_offline` copies the same
files, vendored in ``data_docs_assets/`` (from the npm registry, versions as GE pins them;
``data_docs_assets/SOURCES.md``), into the site's ``static/vendor/`` and points every page
at them by a relative path. Subresource-integrity and ``crossorigin`` attributes go with the
CDN addresses (a ``crossorigin`` script is a CORS request, which ``file://`` pages cannot
make). A CDN address this module does not know (a GE upgrade that adds one) is an error, so
the site never half-works offline.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "data_docs_assets"

#: GE 1.24's CDN addresses -> the vendored file (under data_docs_assets/)
VENDORED: dict[str, str] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/bootstrap-table-filter-control.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/bootstrap-datepicker.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark/bootstrap-prefers-dark.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
}

#: GE's logo and other images from its web-assets bucket: GE ships them in the site's static/images/
_GE_IMAGES = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+\.amazonaws\.com/([\w.-]+)(?:\?[^\"']*)?")
#: what a page loads: <script src>, <link href>, <img src> (anchors to other sites are links, not loads)
_LOADS = re.compile(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*[\"'](https?://[^\"']+)[\"']", re.IGNORECASE)
_SRI = re.compile(r"\s+(?:integrity|crossorigin)\s*=\s*[\"'][^\"']*[\"']", re.IGNORECASE)


class UnknownRemoteAsset(RuntimeError):
    """A Data Docs page loads something from the network that is not vendored."""


def make_offline(site: Path) -> int:
    """Vendor the assets into ``site/static/vendor`` and point every page of ``site`` at them; pages rewritten."""
    vendor = site / "static" / "vendor"
    shutil.copytree(ASSETS, vendor, dirs_exist_ok=True, ignore=shutil.ignore_patterns("licenses", "*.md"))
    rewritten = 0
    for page in sorted(site.rglob("*.html")):
        depth = len(page.relative_to(site).parts) - 1
        up = "../" * depth
        text = original = page.read_text(encoding="utf-8")

        text = re.sub(r"<(?:script|link)\b[^>]*>", lambda m: _SRI.sub("", m.group(0)), text, flags=re.IGNORECASE)
        for url, path in VENDORED.items():
            text = text.replace(url, f"{up}static/vendor/{path}")
        text = _GE_IMAGES.sub(rf"{up}static/images/\1", text)
        remote = sorted(set(_LOADS.findall(text)))
        if remote:
            raise UnknownRemoteAsset(f"{page.relative_to(site)} loads {', '.join(remote)}: not vendored")
        if text != original:
            page.write_text(text, encoding="utf-8")
            rewritten += 1
    return rewritten
