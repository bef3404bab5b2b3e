"""The run renderer's static files: plain JS and CSS (no framework, no CDN) for the report and the web page.

A page loads :data:`STYLES` and then :data:`SCRIPTS` in this order and calls
``MMReactor.render(container, resultJson, options)``; see ``static/render.js`` for the options.
"""

from __future__ import annotations

from importlib.resources import files

__all__ = ["SCRIPTS", "STATIC", "STYLES", "asset_text"]

STATIC = files("orchestrator.service") / "static"
"""The folder of the renderer's files (package data)."""
SCRIPTS = ("dom.js", "graph.js", "artifacts.js", "lineage.js", "render.js")
"""The renderer's scripts, in the order a page must load them."""
STYLES = ("render.css",)


def asset_text(name: str) -> str:
    """The text of one of the renderer's static files."""
    if name not in SCRIPTS + STYLES:
        raise ValueError(f"{name!r} is not one of the renderer's files: {', '.join(SCRIPTS + STYLES)}")
    return (STATIC / name).read_text(encoding="utf-8")
