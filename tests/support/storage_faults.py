"""Storage that runs out, for the storage-fault tests.

- :class:`FullDirectory`: a local artifact directory with ``room`` bytes left; a write that does not
  fit fails as the operating system's would (``OSError`` ENOSPC).
- ``python -m tests.support.storage_faults --data-dir D --max-file-bytes N --image-side S``: an
  orchestrator process (no Ray) whose files may not grow beyond ``N`` bytes (``RLIMIT_FSIZE``, with
  ``SIGXFSZ`` ignored, so the kernel itself fails the write with EFBIG), running one turn with an
  ``S`` by ``S`` noise image. It prints one JSON line: the result, or the error's type and message.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import signal
from pathlib import Path

import numpy as np

from orchestrator.storage.blobs import LocalDirectory

__all__ = ["FullDirectory", "main"]


class FullDirectory(LocalDirectory):
    """A local directory on a disk with ``room`` bytes free (shared by every instance on ``root``)."""

    used: dict[str, int] = {}

    def __init__(self, root: str | Path, *, room: int) -> None:
        super().__init__(root)
        self.room = room

    def write(self, key: str, data: bytes) -> None:
        used = FullDirectory.used.get(str(self.root), 0)
        if used + len(data) > self.room:
            path = self.root / key
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        super().write(key, data)
        FullDirectory.used[str(self.root)] = used + len(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one turn with a file-size limit on this process")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--max-file-bytes", type=int, required=True)
    parser.add_argument("--image-side", type=int, required=True)
    args = parser.parse_args(argv)

    from llm.scripted import ScriptedChatModel
    from orchestrator import Orchestrator, ReactorError
    from orchestrator.config import load_config
    from orchestrator.serving.runtime import ExpertRuntime

    config = load_config({"data_dir": args.data_dir, "experts": {}})
    orch = Orchestrator(config, ExpertRuntime(config.ray))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (args.max_file_bytes, args.max_file_bytes))
    noise = np.random.default_rng(0).integers(0, 255, (args.image_side, args.image_side, 3), dtype=np.uint8)
    try:
        result = orch.run(
            "describe it",
            images=[noise],
            session="limited",
            chat_model=ScriptedChatModel(["Thought: done\nFinal Answer: noise"]),
        )
        out = {"status": result.status, "failure": result.failure}
    except ReactorError as err:
        out = {"error": type(err).__name__, "message": str(err), "path": getattr(err, "path", None)}
    finally:
        orch.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
