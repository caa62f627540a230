"""Reading a learner's YAML file: every document, or one sentence that names the bad line.

`kflab check` (learner.LabTarget.yaml_docs), `kflab tune` and `kflab rules` read YAML the same
way, so that a tab, a stray colon or a file saved as latin-1 reads the same in each.
"""

from __future__ import annotations

from pathlib import Path


def read(path: str | Path, error: type[Exception], shown: str | None = None, then: str = "run the command again") -> list:
    """The non-empty documents of `path`; `error(sentence)` when it cannot be read or parsed."""
    import yaml

    path = Path(path)
    name = shown or str(path)
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except OSError as exc:
        raise error(f"cannot read {name}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise error(f"{name} is not UTF-8 text. Save it as UTF-8 and {then}.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        advice = ("Remove the character it names (is the file text?)" if isinstance(exc, yaml.reader.ReaderError)
                  else "Check the indentation there (spaces, not tabs)")
        raise error(f"{name} is not valid YAML{where}: {problem}. {advice} and {then}.") from None
