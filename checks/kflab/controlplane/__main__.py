"""The command line: `scripts/controlplane build|up|down|status|env`.

One subcommand calls one function; the work happens in build.py and run.py.
"""

from __future__ import annotations

import argparse
import sys

import kflab.controlplane
from kflab.controlplane import build, run
from kflab.controlplane.api import ApiError, WaitTimeout
from kflab.controlplane.certs import CertError
from kflab.controlplane.layout import layout
from kflab.upstream import FetchError

HELP = {
    "build": "build kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok, Kueue, KServe's "
             "webhooks and SeaweedFS from Go modules into the cache (reuses what is there)",
    "up": "start the control plane on 127.0.0.1 and wait until it is ready (safe to run twice)",
    "down": "stop exactly the processes that `up` started",
    "status": "show each component's state and whether the API answers; exit 1 if one has died",
    "env": 'print `export KUBECONFIG=...` and the object store\'s KFLAB_S3_ENDPOINT; '
           'use as: eval "$(scripts/controlplane env)"',
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/controlplane", description=kflab.controlplane.__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in HELP.items():
        sub.add_parser(name, help=text, description=text)
    sub.choices["up"].add_argument("--timeout", type=float, default=120, metavar="S",
                                   help="seconds to wait for each readiness check (default 120)")
    sub.choices["down"].add_argument("--purge", action="store_true",
                                     help="also delete the runtime state (certificates, etcd data, logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "build":
            build.build()
        elif args.command == "up":
            run.up(args.timeout)
        elif args.command == "down":
            run.down(args.purge)
        elif args.command == "status":
            return run.status()
        elif args.command == "env":
            print(run.env())
    except (build.BuildError, run.UpError) as exc:
        run.print_error(exc)
        return 1
    except (ApiError, WaitTimeout, CertError, FetchError) as exc:
        # A setup step (certificates, CRDs, nodes, webhooks) failed rather than a process.
        run.print_error(f"{exc}\nTry: scripts/controlplane status; the logs are in {layout().root / 'logs'}")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
