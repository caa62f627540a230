"""`python -m kflab.rankprobe script.py args...`: run a training script, recording who calls torch.save.

kflab.torchrun starts each rank through this module when a check needs to know
which ranks write checkpoints. Every torch.save call appends one line (the rank
from torchrun's environment and the path) to $KFLAB_PROBE_DIR/saves.jsonl; the
script then runs as `__main__`, exactly as torchrun would run it.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path


def _record_saves(folder: Path) -> None:
    import torch

    original = torch.save

    def save(obj, f, *args, **kwargs):
        line = {"rank": int(os.environ.get("RANK", -1)), "path": str(f) if isinstance(f, (str, os.PathLike)) else repr(f)}
        with open(folder / "saves.jsonl", "a", encoding="utf-8") as log:  # O_APPEND: safe across processes
            log.write(json.dumps(line) + "\n")
        return original(obj, f, *args, **kwargs)

    torch.save = save


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m kflab.rankprobe SCRIPT [ARGS...]")
    folder = os.environ.get("KFLAB_PROBE_DIR")
    if folder:
        _record_saves(Path(folder))
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
