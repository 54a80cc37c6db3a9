"""Front-end libraries from npm (ui/package.json), installed into ui/node_modules.

They are never committed: ``npm ci --prefix src/hangar/ui`` fetches the pinned versions
(scripts/server and scripts/test do it when missing). Without them pages still render and
work as plain forms; the server says once in its log how to install them.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("hangar.ui")

UI_DIR = Path(__file__).resolve().parent
NODE_MODULES = UI_DIR / "node_modules"
STATIC_DIR = UI_DIR / "static"
INSTALL_HINT = "npm ci --prefix src/hangar/ui"

# URL name under /ui/vendor/ -> file inside node_modules.
VENDOR_FILES: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
    "plotly.min.js": "plotly.js-dist-min/plotly.min.js",
    "tus.min.js": "tus-js-client/dist/tus.min.js",
    "xterm.js": "@xterm/xterm/lib/xterm.js",
    "xterm.css": "@xterm/xterm/css/xterm.css",
    "addon-fit.js": "@xterm/addon-fit/lib/addon-fit.js",
}


class Vendor:
    """Which vendor files are installed; answers the path of one by its URL name."""

    def __init__(self, root: Path = NODE_MODULES) -> None:
        self.root = root
        self.missing = [name for name, rel in VENDOR_FILES.items() if not (root / rel).is_file()]

    def path(self, name: str) -> Path | None:
        rel = VENDOR_FILES.get(name)
        if rel is None or name in self.missing:
            return None
        return self.root / rel

    def available(self, name: str) -> bool:
        return name in VENDOR_FILES and name not in self.missing

    def warn_if_missing(self) -> None:
        if self.missing:
            log.warning(
                "web UI: front-end libraries not installed (%s); pages work without them, "
                "live updates need them: run `%s`",
                ", ".join(self.missing),
                INSTALL_HINT,
            )
