"""A run as one self-contained HTML file: the shared renderer, its styles and the Result, images inlined.

The file needs nothing else to open (no network, no server): images and masks are PNG ``data:`` URIs,
videos their file as a ``data:`` URI (up to :data:`MAX_INLINE_VIDEO_BYTES`), boxes and texts are inlined
as values, and a Content-Security-Policy forbids loading anything else.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from experts.protocol import PIXEL_KINDS
from orchestrator.service.assets import SCRIPTS, STYLES, asset_text
from orchestrator.service.media import video_type

__all__ = ["MAX_INLINE_VIDEO_BYTES", "render_report", "report_data", "save_report"]

MAX_INLINE_VIDEO_BYTES = 32 * 1024 * 1024
"""A longer video is left out of the report (with a note saying so)."""


class ArtifactView(Protocol):
    """What the report reads of an artifact (``orchestrator.result.ArtifactInfo`` is one)."""

    @property
    def kind(self) -> str: ...

    @property
    def path(self) -> Path | None: ...

    def load(self) -> Any: ...


class RunView(Protocol):
    """What the report reads of a run (``orchestrator.result.Result`` is one); no import of it here,
    since ``Result.save_report`` imports this module."""

    @property
    def artifacts(self) -> Mapping[str, ArtifactView]: ...

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


_POLICY = (
    "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'"
)


def _png(info: ArtifactView) -> bytes:
    if info.path is not None:
        return info.path.read_bytes()  # the store keeps images and masks as PNG already
    value = np.asarray(info.load())
    buffer = io.BytesIO()
    Image.fromarray(value.astype(np.uint8) * 255 if value.dtype == bool else value).save(buffer, format="PNG")
    return buffer.getvalue()


def _video(handle: str, info: ArtifactView) -> dict[str, str]:
    """A video's file as a ``data:`` URI, or a note saying why it is left out."""
    if info.path is not None:
        data = info.path.read_bytes()
    else:
        value = info.load()  # the file's bytes (or a VideoFile holding them)
        data = value if isinstance(value, bytes) else value.data
    if len(data) > MAX_INLINE_VIDEO_BYTES:
        return {"missing": f"{handle} ({len(data)} bytes) is too long to inline in the report"}
    return {"url": f"data:{video_type(data)};base64," + base64.b64encode(data).decode("ascii")}


def report_data(result: RunView) -> dict[str, Any]:
    """The Result as JSON for the renderer, every artifact inlined (``url`` a data: URI, or ``value``).

    An artifact whose bytes cannot be read is kept with a ``missing`` note instead of failing the report.
    Local file paths are left out: the report may be shared.
    """
    data = result.model_dump(mode="json")
    for handle, info in result.artifacts.items():
        entry = data["artifacts"][handle]
        entry.update(path=None, url="")
        try:
            if info.kind in PIXEL_KINDS:
                entry["url"] = "data:image/png;base64," + base64.b64encode(_png(info)).decode("ascii")
            elif info.kind == "video":
                entry.update(_video(handle, info))
            else:
                entry["value"] = info.load()
        except (OSError, ValueError) as err:
            entry["missing"] = f"{handle} could not be read from the artifact store: {err}"
    return data


def _script_safe(text: str) -> str:
    """JSON that cannot end its <script> element early."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(data: dict[str, Any]) -> str:
    """The HTML page for a Result's JSON (as :func:`report_data` makes it)."""
    scripts = [asset_text(name) for name in SCRIPTS]
    if any("</script" in script.lower() for script in scripts):
        raise ValueError("a renderer script contains '</script'; it cannot be inlined")
    styles = "\n".join(asset_text(name) for name in STYLES)
    payload = _script_safe(json.dumps(data, ensure_ascii=False))
    title = html.escape(f"mm-reactor · {data.get('task', '')[:80]}")
    body_scripts = "\n".join(f"<script>\n{script}</script>" for script in scripts)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_POLICY}">
<meta name="generator" content="mm-reactor">
<title>{title}</title>
<style>
{styles}</style>
</head>
<body class="mmr-page">
<main id="mmr-root" class="mmr" data-mmr-state="loading">
<noscript><p>This report draws the run with JavaScript; allow scripts for this file to see it.</p></noscript>
</main>
<script type="application/json" id="mmr-result">{payload}</script>
{body_scripts}
<script>
MMReactor.render(document.getElementById("mmr-root"),
  JSON.parse(document.getElementById("mmr-result").textContent));
</script>
</body>
</html>
"""


def save_report(result: RunView, path: str | Path) -> Path:
    """Write the self-contained HTML report of ``result`` to ``path`` (its folder is created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(report_data(result)), encoding="utf-8")
    return target
