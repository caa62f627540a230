"""kflab: the harness behind the course's checks, CLI and grader.

This package must stay importable with the standard library alone, so that
scripts/controlplane and scripts/cluster run before any virtualenv exists.
Heavy imports (kfp, torch, yaml) live inside the modules that need them.
"""

__version__ = "0.1.0"
