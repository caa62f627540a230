"""`python -m kflab.rankprobe script.py args...`: run a training script, recording what each rank does with checkpoints.

kflab.torchrun starts each rank through this module when a check needs to know
which ranks write or read checkpoints. Each record is one JSON line, with the rank
from torchrun's environment, appended to a file in $KFLAB_PROBE_DIR:

- saves.jsonl: every torch.save call (and its path);
- loads.jsonl: every torch.load call (and its path);
- steps.jsonl: the first optimizer step, and how many parameters had optimizer state
  (momentum buffers) before it: none on a resumed run means the optimizer state was not loaded.

The script then runs as `__main__`, exactly as torchrun would run it. The checks read
the records back with `read`, and the checkpoint itself with `read_checkpoint`.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path


def _name(f) -> str:
    return str(f) if isinstance(f, (str, os.PathLike)) else repr(f)


def _probe(folder: Path) -> None:
    import torch
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    def record(kind: str, **fields) -> None:
        line = {"rank": int(os.environ.get("RANK", -1)), **fields}
        with open(folder / f"{kind}.jsonl", "a", encoding="utf-8") as log:  # O_APPEND: safe across processes
            log.write(json.dumps(line) + "\n")

    save, load, stepped = torch.save, torch.load, []

    def probed_save(obj, f, *args, **kwargs):
        record("saves", path=_name(f))
        return save(obj, f, *args, **kwargs)

    def probed_load(f, *args, **kwargs):
        record("loads", path=_name(f))
        return load(f, *args, **kwargs)

    def first_step(optimizer, args, kwargs) -> None:
        if not stepped:
            stepped.append(True)
            record("steps", state_entries=len(optimizer.state))

    torch.save, torch.load = probed_save, probed_load
    register_optimizer_step_pre_hook(first_step)


def read(folder: Path, kind: str) -> list[dict]:
    """The records of one kind ("saves", "loads" or "steps"); [] when none were written."""
    path = Path(folder) / f"{kind}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def read_checkpoint(path: Path) -> dict:
    """What the checks need from a checkpoint: the keys that carry DDP's `module.` prefix, and the optimizer state."""
    import torch

    if not path.exists():
        return {"error": "it does not exist"}
    try:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # not only tensors and numbers (a Path, a NumPy value): it is the learner's own file
            saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        return {"error": f"torch.load failed: {type(error).__name__}: {error}"}
    parts = [saved, *saved.values()] if isinstance(saved, dict) else [saved]
    dicts = [part for part in parts if isinstance(part, dict)]
    optimizer = next((d for d in dicts if {"state", "param_groups"} <= d.keys()), None)
    return {"ddp_keys": [k for d in dicts for k in d if isinstance(k, str) and k.startswith("module.")],
            "optimizer_entries": len(optimizer["state"]) if optimizer else None}


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m kflab.rankprobe SCRIPT [ARGS...]")
    folder = os.environ.get("KFLAB_PROBE_DIR")
    if folder:
        _probe(Path(folder))
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
