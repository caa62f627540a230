"""Run a learner's Jupyter notebook top to bottom, as `pytest --nbval-lax` would.

The notebook runs with nbclient in a kernel of this environment (the `python3`
kernelspec, whatever the file's metadata names), in a folder of the check's
choosing, with environment variables as its parameters. A cell that raises
becomes a CheckFailure that names the cell and shows the learner's error.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from kflab.failures import CheckFailure

ANSI = re.compile(r"\x1b\[[0-9;]*m")
KERNEL = "python3"


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set variables for the kernel (it inherits our environment), then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def read(path: Path, shown: str):
    """The notebook as nbformat 4, or a sentence saying why it cannot be read."""
    import nbformat

    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as exc:  # bad JSON, a wrong nbformat, an empty file...
        raise CheckFailure(f"{shown} is not a Jupyter notebook that can be read ({type(exc).__name__}: {exc}). "
                           "Restore it with `git checkout -- <file>` or save it again from Jupyter.") from None


def failed_cell(nb) -> tuple[int, dict] | None:
    """The (1-based) number and error output of the first code cell that raised."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return number, output
    return None


def trimmed(traceback: list[str]) -> list[str]:
    """An error output's traceback cut to the learner's cell frame and the error line, without library frames.

    IPython gives one entry per frame; a learner's own frame reads `Cell In[N], line M`.
    Without one (the error came from the kernel itself), the last three entries are kept.
    """
    frames = [ANSI.sub("", frame) for frame in traceback]
    mine = [frame for frame in frames if frame.lstrip().startswith("Cell In[")]
    if not mine:
        return frames[-3:]
    return mine[-1:] + [frame for frame in frames[-1:] if frame != mine[-1]]


def execute(path: Path, workdir: Path, env: dict[str, str], shown: str, timeout_s: int = 120):
    """Execute every cell in order with `workdir` as the current folder; return the executed notebook."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = read(path, shown)
    # The kernel's own warnings (plain TCP on localhost) are noise under a learner's failure: errors only.
    client = NotebookClient(nb, timeout=timeout_s, kernel_name=KERNEL, extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(workdir)}})
    try:
        with environment(env):
            client.execute()
    except CellExecutionError:
        found = failed_cell(nb)
        number, output = found if found else (0, {"ename": "Error", "evalue": "", "traceback": []})
        last = "\n".join(trimmed(output.get("traceback", []))).strip()
        raise CheckFailure(
            f"Code cell {number} of {shown} raised {output.get('ename')}: {output.get('evalue')}. "
            "Run the notebook top to bottom in Jupyter (Restart Kernel and Run All), fix that cell, and check again."
            + (f"\n{last}" if last else "")) from None
    except CellTimeoutError:
        raise CheckFailure(f"A cell of {shown} ran longer than {timeout_s}s. Look for a loop that never ends "
                           "or a read from a service that does not answer.") from None
    except DeadKernelError as exc:
        raise CheckFailure(f"The kernel running {shown} died ({exc}). A cell may use too much memory.") from None
    return nb
