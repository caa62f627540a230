"""The lab registry, labs/labs.toml: the one list of labs, in course order.

Only facts live in the file. Every path (starter, solution, check module, docs
page) is derived here from a lab's stage, number and slug.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from kflab import paths, tomlfile

TIERS = ("offline", "cluster", "gpu")
# Programs outside the venv that a lab's checks run (`tools` in labs/labs.toml), and the
# function that installs each ("module:function"); the grader calls it before grading.
TOOLS = {"promtool": "kflab.promtool:ensure", "kserve-runtime": "kflab.kserve_runtime:ensure"}


class RegistryError(ValueError):
    """labs.toml is malformed or names an unknown lab."""


@dataclasses.dataclass(frozen=True)
class Lab:
    id: str
    slug: str
    stage: int
    title: str
    hints: tuple[str, ...]
    points: int
    tiers: tuple[str, ...]
    docs: str
    weights: tuple[tuple[str, float], ...] = ()
    equivalent_lines: tuple[str, ...] = ()  # starter lines no check can see alone (`kflab dev mutants`)
    tools: tuple[str, ...] = ()  # programs outside the venv that its checks run, installed before grading

    @property
    def number(self) -> int:
        return int(self.id.split(".")[1])

    @property
    def folder(self) -> str:
        """`stage2/03_control_flow`: the same under labs/, solutions/ and a submission."""
        return f"stage{self.stage}/{self.number:02d}_{self.slug}"

    def dir(self, root: Path) -> Path:
        return Path(root) / self.folder

    @property
    def check_file(self) -> Path:
        return paths.CHECKS / f"stage{self.stage}" / f"test_{self.number:02d}_{self.slug}.py"

    def checks_module(self):
        """The check file loaded as a module, for harness tests and benchmarks that reuse its scenarios."""
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"kflab_checks_{self.stage}_{self.number:02d}", self.check_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    @property
    def docs_file(self) -> Path:
        return paths.DOCS / self.docs

    def weight(self, check_name: str) -> float:
        """A checkpoint's weight for partial credit (1 unless the registry says)."""
        return dict(self.weights).get(check_name, 1.0)


@dataclasses.dataclass(frozen=True)
class Stage:
    number: int
    title: str
    summary: str
    docs: str


def _lab(raw: dict) -> Lab:
    missing = {"id", "slug", "stage", "title", "hints", "points", "tiers", "docs"} - raw.keys()
    if missing:
        raise RegistryError(f"lab {raw.get('id', '?')} lacks {', '.join(sorted(missing))}")
    unknown = set(raw.get("tiers", ())) - set(TIERS)
    if unknown:
        raise RegistryError(f"lab {raw['id']} names unknown tiers {sorted(unknown)}; use {TIERS}")
    unknown = set(raw.get("tools", ())) - set(TOOLS)
    if unknown:
        raise RegistryError(f"lab {raw['id']} names unknown tools {sorted(unknown)}; known: {sorted(TOOLS)}")
    return Lab(
        id=str(raw["id"]),
        slug=raw["slug"],
        stage=int(raw["stage"]),
        title=raw["title"],
        hints=tuple(raw["hints"]),
        points=int(raw["points"]),
        tiers=tuple(raw["tiers"]),
        docs=raw["docs"],
        weights=tuple(sorted(raw.get("weights", {}).items())),
        equivalent_lines=tuple(line.strip() for line in raw.get("equivalent_lines", ())),
        tools=tuple(raw.get("tools", ())),
    )


@functools.cache
def _load(path: Path) -> tuple[tuple[Stage, ...], tuple[Lab, ...]]:
    data = tomlfile.load(path)
    stages = tuple(
        Stage(int(n), s["title"], s["summary"], s["docs"]) for n, s in sorted(data.get("stages", {}).items())
    )
    return stages, tuple(_lab(raw) for raw in data.get("lab", []))


def labs(path: Path = paths.REGISTRY) -> tuple[Lab, ...]:
    return _load(Path(path))[1]


def stages(path: Path = paths.REGISTRY) -> tuple[Stage, ...]:
    return _load(Path(path))[0]


def get(lab_id: str) -> Lab:
    for lab in labs():
        if lab.id == lab_id:
            return lab
    raise RegistryError(f"there is no lab {lab_id!r}; `kflab list` shows them all")


def select(selector: str | None = None) -> list[Lab]:
    """Labs matching `2` (a stage), `2.3` (a lab) or None (all)."""
    if selector is None:
        return list(labs())
    if not selector.strip():  # `kflab check ""`, from a shell variable that was never set
        raise RegistryError("the stage or lab is empty. Give a stage (2), a lab id (2.3), or nothing for all labs")
    if "." in selector:
        return [get(selector)]
    if not (selector.isascii() and selector.isdigit()):  # "²" is a digit to str.isdigit, not to int()
        raise RegistryError(f"{selector!r} is neither a stage (2) nor a lab id (2.3)")
    chosen = [lab for lab in labs() if lab.stage == int(selector)]
    if not chosen:
        raise RegistryError(f"there is no stage {selector}; `kflab list` shows them all")
    return chosen


def for_check_file(path: str | Path) -> Lab | None:
    """The lab a check module belongs to, from its derived file name."""
    resolved = Path(path).resolve()
    for lab in labs():
        if lab.check_file.resolve() == resolved:
            return lab
    return None
