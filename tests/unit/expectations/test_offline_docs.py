"""expectations/offline_docs.py: every CDN load of a Data Docs page becomes a vendored file; unknown ones fail.

What could fail: a vendored file missing from the folder (the page then 404s offline), a
relative path wrong for a page's depth, an integrity/crossorigin attribute left on a local
file (Chromium refuses a CORS script from file://), an anchor to a web site taken for a load,
and a new CDN address (a GE upgrade) passing silently.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expectations.offline_docs import ASSETS, VENDORED, UnknownRemoteAsset, make_offline

pytestmark = pytest.mark.unit

PAGE = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js"
 integrity="sha384-x" crossorigin="anonymous"></script>
</head><body>
<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1" />
<a href="https://greatexpectations.io">GX</a>
</body></html>
"""


def test_every_vendored_file_is_there() -> None:
    for url, path in VENDORED.items():
        assert (ASSETS / path).is_file(), (url, path)
    assert (ASSETS / "fontawesome" / "webfonts" / "fa-solid-900.woff2").is_file()  # all.min.css points there


def test_pages_point_at_the_vendored_files_by_their_depth(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(PAGE)
    deep = tmp_path / "validations" / "warehouse" / "transactions" / "run" / "page.html"
    deep.parent.mkdir(parents=True)
    deep.write_text(PAGE)
    assert make_offline(tmp_path) == 2
    index, page = (tmp_path / "index.html").read_text(), deep.read_text()
    assert 'href="static/vendor/bootstrap/bootstrap.min.css"' in index
    assert 'src="../../../../static/vendor/bootstrap/bootstrap.min.js">' in page  # no integrity nor crossorigin
    assert 'src="../../../../static/images/logo-long.png"' in page
    assert 'href="https://greatexpectations.io"' in page  # a link, not something the page loads
    assert (tmp_path / "static" / "vendor" / "bootstrap" / "bootstrap.min.js").is_file()
    assert not (tmp_path / "static" / "vendor" / "licenses").exists()


def test_an_unknown_remote_asset_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script src="https://cdn.example.com/new-widget.js"></script>')
    with pytest.raises(UnknownRemoteAsset, match=r"new-widget\.js"):
        make_offline(tmp_path)
