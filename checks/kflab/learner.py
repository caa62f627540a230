"""The learner's lab folder as the checks see it: files, modules, YAML.

Everything here turns a learner mistake (a missing file, a syntax error, an
import that raises, a missing function, malformed YAML) into a CheckFailure
that says what is wrong and what to do.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import tokenize
import types
import warnings
from pathlib import Path

from kflab import paths
from kflab.failures import CheckFailure, learner_code
from kflab.registry import Lab


class LabTarget:
    """One lab of the target (labs, solutions, or a submission)."""

    def __init__(self, meta: Lab, root: Path):
        self.meta = meta
        self.root = Path(root)
        self.dir = meta.dir(root)
        self._modules: dict[str, types.ModuleType] = {}

    @property
    def id(self) -> str:
        return self.meta.id

    def shown(self, path: Path) -> str:
        """A path as the learner knows it: relative to the repo, or to the repo root a `labs/` target sits in."""
        for base in (paths.REPO, self.root.parent if self.root.name == "labs" else None):
            if base is not None and Path(path).is_relative_to(base):
                return str(Path(path).relative_to(base))
        return str(path)

    def file(self, name: str) -> Path:
        path = self.dir / name
        if not path.is_file():
            raise CheckFailure(
                f"{self.shown(path)} is missing. Create it (or restore the starter with "
                f"`git checkout -- {self.shown(path)}`) and run the check again."
            )
        return path

    def code(self, doing: str):
        """Context manager: run learner code, trimming any traceback to their files."""
        return learner_code(doing, self.dir)

    def module(self, name: str) -> types.ModuleType:
        """Import `name` (e.g. `pipeline.py`) from the lab folder, once per lab."""
        if name in self._modules:
            return self._modules[name]
        path = self.file(name)
        mod_name = f"kflab_lab_{self.id.replace('.', '_')}_{path.stem}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(self.dir))  # so sibling files import each other
        try:
            source = path.read_bytes()
            try:  # Python accepts bad bytes in comments, but kfp cannot read such a file's source
                source.decode(tokenize.detect_encoding(io.BytesIO(source).readline)[0])
            except (SyntaxError, UnicodeDecodeError, LookupError):
                raise CheckFailure(f"{self.shown(path)} is not UTF-8 text. Save it as UTF-8 and run the check again.") from None
            try:
                compile(source, str(path), "exec")
            except SyntaxError as exc:
                raise CheckFailure(
                    f"{self.shown(path)} has a syntax error on line {exc.lineno}: {exc.msg}. "
                    "Fix that line (run `python -m py_compile` on the file to see it) and run the check again."
                ) from None
            except ValueError as exc:  # e.g. NUL bytes
                raise CheckFailure(f"{self.shown(path)} is not valid Python source ({exc}). Save it as UTF-8 text.") from None
            sys.modules[mod_name] = module
            with warnings.catch_warnings(record=True) as caught, self.code(f"importing {self.shown(path)}"):
                warnings.simplefilter("always")
                spec.loader.exec_module(module)
            self._refuse_deprecated(caught, path)
        except BaseException:
            sys.modules.pop(mod_name, None)
            raise
        finally:
            sys.path.remove(str(self.dir))
        self._modules[name] = module
        return module

    def _refuse_deprecated(self, caught: list[warnings.WarningMessage], path: Path) -> None:
        """Fail on a deprecated API that the learner's own file used (the seed's `kfp.v2`, `dsl.Condition`);
        pass every other warning on, as if it had not been caught."""
        for w in caught:
            deprecated = issubclass(w.category, DeprecationWarning) or (
                issubclass(w.category, FutureWarning) and "deprecated" in str(w.message))
            if deprecated and Path(w.filename) == path:
                raise CheckFailure(f"{self.shown(path)} line {w.lineno} uses an API that is deprecated: {w.message} "
                                   "Use the current form, as the lab page shows, and run the check again.")
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def argument_parser(self, name: str) -> argparse.ArgumentParser:
        """The `build_parser()` of one of the lab's files, raising ValueError on bad arguments instead of exiting."""
        module = self.module(name)
        with self.code(f"building {self.shown(self.dir / name)}'s argument parser"):
            parser = self.attr(module, "build_parser")()
        return raising(parser)

    def attr(self, module: types.ModuleType, name: str, what: str = "function") -> object:
        """`module.name`, or a sentence saying that the file does not define it."""
        if not hasattr(module, name):
            raise CheckFailure(
                f"{Path(module.__file__).name} defines no {what} `{name}`. "
                f"Keep the name the lab page uses, so the checks can find it."
            )
        return getattr(module, name)

    def yaml_docs(self, name: str) -> list[dict]:
        """Every document of a YAML file, or a sentence naming the bad line."""
        from kflab import yamlfile

        path = self.file(name)
        docs = yamlfile.read(path, CheckFailure, shown=self.shown(path), then="run the check again")
        bad = [d for d in docs if not isinstance(d, dict)]
        if not docs:
            raise CheckFailure(f"{self.shown(path)} holds no YAML document (it is empty or all comments). Write the "
                               "objects the lab asks for, or restore the starter, and run the check again.")
        if bad:
            raise CheckFailure(f"{self.shown(path)} should hold Kubernetes objects (YAML mappings of apiVersion, kind, "
                               f"metadata...), but one document is {type(bad[0]).__name__} {bad[0]!r:.60}. Check its "
                               "indentation and the `---` lines between objects.")
        return docs

    def yaml_doc(self, name: str, kind: str) -> dict:
        """The one document of `kind` in a YAML file."""
        found = [d for d in self.yaml_docs(name) if d.get("kind") == kind]
        if len(found) != 1:
            raise CheckFailure(
                f"{name} should hold exactly one object of kind {kind}, but holds {len(found)}. "
                f"Check the `kind:` line of each document."
            )
        return found[0]


def raising(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make `parser` raise ValueError(message) where argparse would print usage and exit."""
    def error(message):
        raise ValueError(message)

    parser.error = error
    return parser
