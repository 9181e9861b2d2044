"""`optimum-conformance` command line.

Each sub-command imports what it needs lazily so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _add_hub(sub: argparse._SubParsersAction) -> None:
    hub = sub.add_parser("hub", help="the embedded Hub-compatible server")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    serve = hub_sub.add_parser("serve", help="run the embedded Hub until Ctrl-C")
    from conformance.hub.cli import add_arguments

    add_arguments(serve)


def _add_smoke(sub: argparse._SubParsersAction) -> None:
    smoke = sub.add_parser(
        "smoke", help="export, compare and save every zoo model with the reference backends"
    )
    smoke.add_argument(
        "--backend", action="append", help="backend name (default: all built-in reference backends)"
    )
    smoke.add_argument("--output", type=Path, help="write the rows as JSON here")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimum-conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_hub(sub)
    _add_smoke(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "smoke":
        from conformance import smoke
        from conformance.backends import BUILTIN

        return smoke.main(args.backend or [n for n in BUILTIN if n.startswith("reference-")], args.output)
    if args.command == "hub":
        from conformance.hub.cli import run

        return run(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
