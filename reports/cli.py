"""The `merge`, `report`, `diff` and `gate` sub-commands.

`register(subparsers)` adds them to any argparse parser (the top-level `optimum-conformance` CLI
calls it); `python -m reports` builds a parser of its own. Each command's `func(args)` returns the
exit status: 0 success, 1 regression (`gate` only), 2 unusable input (unreadable, invalid or
conflicting records), as argparse does for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .diff import POLICIES
from .model import RecordError, check_shards, load

EXIT_OK, EXIT_REGRESSION, EXIT_UNUSABLE = 0, 1, 2


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def run_merge(args: argparse.Namespace) -> int:
    try:
        record = load(args.records, args.validate)
    except RecordError as exc:
        return _fail(str(exc))
    if args.expect_shards is not None:
        problems = check_shards(record, args.expect_shards)
        if problems:
            return _fail("; ".join(problems))
    _warn(record.warnings)
    record.write(args.output)
    print(
        f"merged {len(record.runs)} run(s), {record.result_count} results from {len(args.records)} file(s) into {args.output}"
    )
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from .render import load_history, render_site  # jinja2 only for this command

    started = time.perf_counter()
    if args.history and not args.history.is_dir():
        return _fail(f"--history {args.history} is not a directory")
    try:
        record = load(args.records, args.validate)
        baseline = load([args.baseline], args.validate) if args.baseline else None
        points, history_warnings = load_history(args.history) if args.history else ([], [])
        summary = render_site(
            record,
            args.output,
            history=points,
            history_warnings=history_warnings,
            baseline=baseline,
            baseline_label=str(args.baseline or ""),
            markdown=args.markdown,
            title=args.title,
        )
    except RecordError as exc:
        return _fail(str(exc))
    _warn(record.warnings + history_warnings)
    elapsed = time.perf_counter() - started
    print(
        f"wrote {summary.pages} pages for {record.result_count} results to {summary.out} in {elapsed:.1f} s"
    )
    print(f"open {Path(summary.out).resolve() / 'index.html'}")
    return EXIT_OK


def _compare(base: Path, new: Path, validate: bool):
    from .diff import compare

    return compare(load([base], validate), load([new], validate))


def run_diff(args: argparse.Namespace) -> int:
    from .diff import format_text

    try:
        comparison = _compare(args.base, args.new, args.validate)
    except RecordError as exc:
        return _fail(str(exc))
    print(format_text(comparison, "any", args.limit))
    return EXIT_OK


def _gate_comparison(args: argparse.Namespace):
    """OLD and NEW (`gate OLD NEW` or `gate --baseline OLD NEW`), whole records or, with --backend,
    two versions of one backend (from two records, or both from one release-matrix record)."""
    from .diff import compare, version_rows

    if (args.baseline is None) != (len(args.records) == 2) or len(args.records) > 2:
        raise RecordError("give OLD NEW, or --baseline OLD NEW")
    old, new = (args.baseline, args.records[0]) if args.baseline else args.records
    if args.backend is None:
        if args.old_version or args.new_version:
            raise RecordError("--old-version and --new-version need --backend NAME")
        return compare(load([old], args.validate), load([new], args.validate))
    base = load([old], args.validate)
    record = base if new == old else load([new], args.validate)
    old_rows = version_rows(base, args.backend, args.old_version)
    new_rows = version_rows(record, args.backend, args.new_version)
    print(f"gate: {args.backend} {old_rows[0].key.version} -> {new_rows[0].key.version}")
    # Each release of the version matrix runs in its own environment (peers-oo0.0.3, then main): `compare`
    # then matches tests by (backend, test id), as "changed between versions" does.
    return compare(base, record, old_rows, new_rows)


def run_gate(args: argparse.Namespace) -> int:
    from .diff import format_text, write_junit

    try:
        comparison = _gate_comparison(args)
    except RecordError as exc:
        return _fail(str(exc))
    print(format_text(comparison, args.policy, args.limit))
    if args.junit:
        write_junit(comparison, args.policy, args.junit)
    regressions = comparison.regressions(args.policy)
    if comparison.new.missing_shards() or any(not run.complete for run in comparison.new.runs.values()):
        print("gate: NEW is incomplete (missing shards or a killed run): tests it lacks are not judged")
    if regressions:
        print(f"gate (policy {args.policy}): FAILED, {len(regressions)} regression(s)")
        return EXIT_REGRESSION
    print(f"gate (policy {args.policy}): passed, no regression")
    return EXIT_OK


def _add_validate(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--validate",
        action="store_true",
        help="check every line against reports/schema.json (needs jsonschema; a structural check always runs)",
    )
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add merge, report, diff and gate; each sets `func` to a callable returning the exit status."""
    merge = subparsers.add_parser(
        "merge",
        help="combine shards and runs of several environments into one record",
        description="Combine record files (shards, environments) into one. Refuses conflicting input "
        "(one test with two results in one run, different suite versions); a missing shard is reported "
        "and shows as no data in reports.",
    )
    merge.add_argument("records", nargs="+", metavar="RECORD", help="run record files (JSON Lines)")
    merge.add_argument("-o", "--output", required=True, type=Path, help="merged record to write")
    merge.add_argument(
        "--expect-shards",
        type=int,
        metavar="N",
        help="every run must be one of N shards; missing ones are reported",
    )
    _add_validate(merge)
    merge.set_defaults(func=run_merge)

    report = subparsers.add_parser(
        "report",
        help="render records as a static HTML site (opens from disk, no network)",
        description="Render the compatibility matrix, a page per backend and per task, a drill-down "
        "per backend and clause, the backend-specific failures, a diff and the history as a static site.",
    )
    report.add_argument(
        "records", nargs="+", metavar="RECORD", help="run record files (merged as by `merge`)"
    )
    report.add_argument(
        "-o", "--output", required=True, type=Path, metavar="SITE_DIR", help="site folder to write"
    )
    report.add_argument(
        "--history", type=Path, metavar="DIR", help="folder of earlier record files (*.jsonl)"
    )
    report.add_argument(
        "--baseline", type=Path, metavar="RECORD", help="record for the diff page (default: latest history)"
    )
    report.add_argument(
        "--markdown",
        action="store_true",
        help="also write Markdown tables (SITE_DIR/markdown/) for documentation sites",
    )
    report.add_argument("--title", default="optimum-conformance", help="site title")
    _add_validate(report)
    report.set_defaults(func=run_report)

    diff = subparsers.add_parser(
        "diff",
        help="compare two records: regressions first, then fixes, new/removed tests, environment",
    )
    diff.add_argument("base", type=Path, metavar="BASE")
    diff.add_argument("new", type=Path, metavar="NEW")
    diff.add_argument(
        "--limit", type=int, default=20, help="entries per list beyond regressions and fixes (0: all)"
    )
    _add_validate(diff)
    diff.set_defaults(func=run_diff)

    gate = subparsers.add_parser(
        "gate",
        help="exit 1 on any regression from OLD to NEW: two records, or two versions of one backend",
        description="Exit 0 without regression, 1 with one (under --policy), 2 on unusable input. "
        "core: core-level checks going from passed to failed/crashed/timeout. strict: every check, and "
        "also passed to xfailed/unsupported and passing tests that disappeared. With --backend, only that "
        "backend is judged, version against version: `gate old.jsonl new.jsonl --backend optimum-ort`, "
        "or from one release-matrix record: `gate m.jsonl m.jsonl --backend optimum-ort "
        "--old-version 1.26.0 --new-version 1.27.0`.",
    )
    gate.add_argument(
        "records", nargs="+", type=Path, metavar="RECORD", help="OLD NEW (or NEW with --baseline)"
    )
    gate.add_argument(
        "--baseline",
        type=Path,
        metavar="OLD",
        help="the record to compare against (same as giving OLD first)",
    )
    gate.add_argument("--backend", metavar="NAME", help="judge two versions of this backend only")
    gate.add_argument(
        "--old-version", metavar="VERSION", help="OLD's version of --backend (when it holds several)"
    )
    gate.add_argument(
        "--new-version", metavar="VERSION", help="NEW's version of --backend (when it holds several)"
    )
    gate.add_argument("--policy", choices=POLICIES, default="core")
    gate.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    gate.add_argument(
        "--limit", type=int, default=20, help="entries per list beyond regressions and fixes (0: all)"
    )
    _add_validate(gate)
    gate.set_defaults(func=run_gate)


def build_parser(prog: str = "python -m reports") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run-record tools of optimum-conformance.")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
