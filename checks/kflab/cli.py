"""`kflab`: a thin command line over the course's functions.

Each subcommand parses its arguments and calls one function; the work lives in
the modules named beside it. Help texts are written once, here.
"""

from __future__ import annotations

import argparse
import os
import sys

from kflab import __version__
from kflab.argtypes import BadArgument, count, output_file
from kflab.paths import FolderError
from kflab.registry import RegistryError

LAB_ID = "a lab id, e.g. 2.3"


def cmd_list(args) -> int:
    from kflab import progress

    print(progress.course_map())
    return 0


def cmd_status(args) -> int:
    from kflab import progress

    print(progress.status_report())
    return 0


def cmd_hint(args) -> int:
    from kflab import progress

    print(progress.hint_text(args.id, show_all=args.all))
    return 0


def cmd_reset(args) -> int:
    from kflab import reset

    try:
        backup, files = reset.reset_lab(args.id)
    except reset.ResetError as exc:
        print(f"kflab reset: {exc}", file=sys.stderr)
        return 1
    print(reset.describe(args.id, backup, files))
    return 0


def cmd_check(args) -> int:
    from kflab import checkrun, registry

    labs = registry.select(args.selector)
    extra = list(args.pytest_args)
    if args.offline:
        extra += ["-m", "offline"]
    return checkrun.check(labs, _from_here(args.target), extra)


def _from_here(target: str | None) -> str | None:
    """A folder given as --target, relative to where it was typed (pytest runs in the repository)."""
    if target in (None, "", "labs", "solutions"):
        return target
    return os.path.abspath(os.path.expanduser(target))


def cmd_dev_check(args) -> int:
    from kflab import devcheck

    problems = devcheck.dev_check(args.selector, run_checks=not args.lint_only)
    for problem in problems:
        print(f"PROBLEM  {problem}")
    if problems:
        print(f"dev check: {len(problems)} problem(s)")
    elif args.lint_only:
        print("dev check: the registry, files and hints are consistent (--lint-only: no check was run)")
    else:
        print("dev check: the course is consistent; every check tells starter from solution")
    return 1 if problems else 0


def cmd_dev_mutants(args) -> int:
    from kflab import mutants, registry

    labs = registry.select(args.selector)
    out = output_file("--out", args.out) if args.out else None  # before the run, which takes minutes
    verdicts = mutants.run(labs, [], jobs=args.jobs)
    if out:
        try:
            mutants.write(verdicts, out)
        except OSError as exc:
            print(f"kflab dev mutants: could not write {out} ({exc.strerror}); the summary follows.", file=sys.stderr)
            print(mutants.summary(verdicts))
            return 2
    print(mutants.summary(verdicts))
    return 1 if mutants.failing(verdicts) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kflab", description="The Kubeflow lab course: labs, checks, hints and grading.")
    parser.add_argument("--version", action="version", version=f"kflab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="show the course map: stages, labs, tiers, points").set_defaults(func=cmd_list)
    sub.add_parser("status", help="show your progress per stage, from your last check runs").set_defaults(func=cmd_status)

    p = sub.add_parser("hint", help="reveal the next hint for a lab (one more per call)")
    p.add_argument("id", help=LAB_ID)
    p.add_argument("--all", action="store_true", help="reveal every hint at once")
    p.set_defaults(func=cmd_hint)

    p = sub.add_parser("reset", help="put a lab's starter files back (your files are copied to .kflab/backups first)")
    p.add_argument("id", help=LAB_ID)
    p.set_defaults(func=cmd_reset)

    p = sub.add_parser("check", help="run the checks for a stage (2) or a lab (2.3), or all of them")
    p.add_argument("selector", nargs="?", help="a stage number or a lab id; all labs when omitted")
    p.add_argument("--target", help="labs (default), solutions, or a submission folder")
    p.add_argument("--offline", action="store_true", help="only the offline tier")
    p.set_defaults(func=cmd_check, pytest_args=[])
    p.epilog = "Anything after `--` goes to pytest: kflab check 2 --offline -- -x -q"

    dev_parser = sub.add_parser("dev", help="maintainer commands")
    dev_parser.set_defaults(func=lambda _args: dev_parser.print_help() or 2)  # `kflab dev` alone: its own commands
    dev = dev_parser.add_subparsers(dest="dev_command", metavar="DEV_COMMAND")
    p = dev.add_parser("check", help="lint the course: registry, files, hints, and every check fails the starter and passes the solution")
    p.add_argument("selector", nargs="?", help="limit the check runs to a stage or lab")
    p.add_argument("--lint-only", action="store_true", help="only the file and registry rules; run no checks")
    p.set_defaults(func=cmd_dev_check)
    p = dev.add_parser("mutants", help="take back one starter change at a time in the solution: some check must fail each time")
    p.add_argument("selector", nargs="?", help="a stage number or a lab id; all labs when omitted")
    p.add_argument("--jobs", type=count("--jobs"), default=2, help="mutants judged at once (default 2)")
    p.add_argument("--out", help="also write the verdicts here as JSON (its folder is created)")
    p.set_defaults(func=cmd_dev_mutants)

    for register in _extensions():
        register(sub)
    return parser


def _extensions():
    """Subcommands defined beside their modules (doctor, tune, grade...)."""
    import importlib

    for name in ("kflab.doctor", "kflab.tune", "kflab.grading", "kflab.rules_cli"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if hasattr(module, "register_cli"):
            yield module.register_cli


# Commands whose arguments all belong to another program, `--`, --help and --version included.
WRAPPERS = ("promtool",)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in WRAPPERS:
        args = parser.parse_args(argv[:1])
        args.args = argv[1:]
        return args.func(args)
    passthrough = []
    if "--" in argv:  # options for pytest, whatever order the rest is in
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    try:
        args = parser.parse_args(argv)
    except BadArgument as exc:
        print(f"kflab: {exc}", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if hasattr(args, "pytest_args"):
        args.pytest_args = passthrough
    try:
        return args.func(args)
    except (RegistryError, BadArgument, FolderError) as exc:
        print(f"kflab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nkflab {args.command}: stopped by Ctrl-C. If it seemed stuck, code it ran may loop or wait forever: "
              "run your lab's file with python to see where it stops.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
