"""A static files finder for Plotly's JavaScript bundle, taken from the installed `plotly` Python package.

The bundle therefore always matches the pinned Python package and is served by the app itself (WhiteNoise), with no
CDN. Only `plotly.min.js` is published: the package directory also holds a 4.8 MB widget bundle and sample data sets
that a plain `STATICFILES_DIRS` entry would copy into every `collectstatic`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, overload

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import CheckMessage, Error
from django.core.files.storage import FileSystemStorage

PLOTLY_STATIC_PATH = "plotly/plotly.min.js"
PLOTLY_PACKAGE_DATA = Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyBundleFinder(BaseFinder):
    """Finds `plotly/plotly.min.js` in the plotly package's `package_data` directory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PLOTLY_PACKAGE_DATA))
        self.storage.prefix = "plotly"  # type: ignore[attr-defined]  # collectstatic reads this, as for STATICFILES_DIRS

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        """The bundle must exist in the installed package."""
        if not (PLOTLY_PACKAGE_DATA / "plotly.min.js").is_file():
            return [Error(f"plotly.min.js is missing from {PLOTLY_PACKAGE_DATA}", id="dashboard.E001")]
        return []

    @overload
    def find(self, path: str, find_all: Literal[False] = False) -> str | None: ...

    @overload
    def find(self, path: str, find_all: Literal[True]) -> list[str]: ...

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str] | None:
        """The absolute path of the bundle when asked for it; nothing otherwise."""
        find_all = find_all or bool(kwargs.get("all", False))  # `all=`: Django's deprecated name of find_all
        if path == PLOTLY_STATIC_PATH:
            found = str(PLOTLY_PACKAGE_DATA / "plotly.min.js")
            return [found] if find_all else found
        return [] if find_all else None

    def list(self, ignore_patterns: Iterable[str] | None) -> Iterator[tuple[str, FileSystemStorage]]:
        """The bundle, relative to its storage (collectstatic adds the `plotly/` prefix)."""
        yield "plotly.min.js", self.storage
