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


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="check backends against the contract (the suite; same as pytest --pyargs conformance --backend NAME)",
        description="Extra pytest arguments go after `--`, e.g. `run reference-ort -- -k parity -x`.",
    )
    run.add_argument(
        "backends", nargs="+", metavar="NAME", help="backend name, entry point, module:attr or module"
    )
    run.add_argument(
        "--results", type=Path, help="run record (JSON lines); default results/<first NAME>.jsonl"
    )
    run.add_argument(
        "-n", "--workers", default="auto", help="pytest-xdist workers: isolates crashes (default auto)"
    )


def run_suite(args: argparse.Namespace) -> int:
    """Run the checks in pytest-xdist workers: a crashing runtime takes down a worker, not the run."""
    import pytest

    results = (
        args.results or Path("results") / f"{args.backends[0].replace(':', '_').replace('/', '_')}.jsonl"
    )
    argv = ["--pyargs", "conformance", "-p", "no:cacheprovider", "-q", "--results", str(results)]
    for name in args.backends:
        argv += ["--backend", name]
    if args.workers not in ("0", "none"):
        argv += ["-n", str(args.workers), "--dist", "loadgroup"]
    return int(pytest.main(argv + list(args.pytest_args)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optimum-conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_hub(sub)
    _add_smoke(sub)
    from conformance.floor import add_parser as add_floor

    add_floor(sub)
    from reports.cli import register

    register(sub)  # merge, report, diff, gate
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after `--` goes to pytest untouched
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = build_parser().parse_args(argv)
    args.pytest_args = extra
    if args.command == "run":
        return run_suite(args)
    if args.command == "smoke":
        from conformance import smoke
        from conformance.backends import builtin

        return smoke.main(args.backend or [n for n in builtin() if n.startswith("reference-")], args.output)
    if args.command == "hub":
        from conformance.hub.cli import run

        return run(args)
    if hasattr(args, "func"):
        return int(args.func(args))
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
