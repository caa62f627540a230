"""Instructor grading: `kflab grade SUBMISSIONS/`, a whole class in one command.

The modules, in the order a submission meets them: intake (folders and archives,
unpacked safely), isolate (a fresh box with only the lab folders), confine and
sandbox (limits, namespaces, the wrapper around pytest), attempt (one watched
pytest run), run (one submission, start to row), scoring (points from the
registry), store (result files, resume), outputs (CSV, JSON, JUnit, Gradescope,
feedback), progress, and grader (the whole class). This file only registers the
subcommand; nothing heavy is imported until it runs.
"""

from __future__ import annotations

from pathlib import Path

HELP = {
    "submissions": "a folder holding one folder, .zip or .tar.gz per student (shaped like labs/, or a repo root with labs/)",
    "stage": "grade only this stage's labs",
    "lab": "grade only these labs (ids, e.g. --lab 2.1 2.3)",
    "jobs": "how many submissions to grade at once (default: half the CPUs)",
    "out": "where the grades go (default: ./grades)",
    "only": "regrade only this submission, even if it has not changed",
    "timeout": "wall-time limit per lab, in seconds (default: 300)",
    "offline": "run only the offline tier of checks",
}


def register_cli(sub) -> None:
    from kflab.argtypes import count, seconds
    from kflab.grading.grader import default_jobs

    p = sub.add_parser("grade", help="grade a folder of submissions: CSV, JSON, JUnit, Gradescope results, feedback")
    p.add_argument("submissions", type=Path, help=HELP["submissions"])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--stage", type=int, help=HELP["stage"])
    which.add_argument("--lab", action="extend", nargs="+", metavar="ID", help=HELP["lab"])
    p.add_argument("--jobs", type=count("--jobs"), default=default_jobs(), metavar="N", help=HELP["jobs"])
    p.add_argument("--out", type=Path, default=Path("grades"), metavar="DIR", help=HELP["out"])
    p.add_argument("--only", metavar="NAME", help=HELP["only"])
    p.add_argument("--timeout", type=seconds("--timeout"), default=300.0, metavar="S", help=HELP["timeout"])
    p.add_argument("--offline", action="store_true", help=HELP["offline"])
    p.set_defaults(func=cmd_grade)


def cmd_grade(args) -> int:
    import sys

    from kflab import registry
    from kflab.grading import grader
    from kflab.grading.confine import Limits

    labs = [registry.get(i) for i in args.lab] if args.lab else registry.select(None if args.stage is None else str(args.stage))
    try:
        summary = grader.grade(args.submissions, labs, jobs=args.jobs, out=args.out, only=args.only,
                               limits=Limits(timeout=args.timeout), offline=args.offline)
    except grader.GradingError as exc:
        print(f"kflab grade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nkflab grade: interrupted. Every submission graded so far is saved in {args.out}/; "
              "run the same command again to grade the rest.", file=sys.stderr)
        return 130
    print(summary.text())
    return 0
