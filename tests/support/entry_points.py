"""Register entry points the way installing a plugin package does: its ``.dist-info`` metadata."""

from __future__ import annotations

from pathlib import Path


def write_plugin_metadata(directory: Path, name: str, entry_points: dict[str, dict[str, str]]) -> Path:
    """The metadata of distribution ``name`` registering ``entry_points`` ({group: {name: value}}),
    written into ``directory``; put ``directory`` on ``sys.path`` to "install" it."""
    dist_info = directory / f"{name.replace('-', '_')}-0.0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in entry_points.items()
    ]
    (dist_info / "entry_points.txt").write_text("\n".join(sections))
    return directory
