"""`optimum-conformance floor BACKEND`: the unavoidable work of a suite run, timed with no harness.

For every zoo model the suite runs for the backend (the union of every clause's cases, picked by
the suite's own `conformance.engine.collect.models_of`), each step once: build the zoo folder
(cached), import the class, export, make the family's sample inputs, one forward (a causal LM:
one short `generate()`), save into a temporary folder, load the save, one forward again. The first
model's build and import steps also carry the library imports (transformers, the runtime), as a
suite worker's first check does. What a suite run costs above the floor's wall time is the
harness; `--record` prints that ratio (issue 31 aims at <= 1.5x for a full-zoo run).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module to build its parser: keep `--help` fast
    from conformance import zoo
    from conformance.spec import BackendSpec

STEPS = ("build", "import", "export", "inputs", "infer", "save", "load", "infer_loaded")


@dataclass
class ModelFloor:
    """One zoo model's step times; `error` names the step that raised, `not_run` why none ran."""

    arch: str
    task: str
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    not_run: str | None = None

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Floor:
    backend: str
    models: list[ModelFloor]
    wall_s: float
    """Wall time of the loop over the models (imports of torch and the catalogue before it excluded)."""

    def step_totals(self) -> dict[str, float]:
        return {step: sum(m.seconds.get(step, 0.0) for m in self.models) for step in STEPS}

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "wall_s": self.wall_s,
            "steps_s": self.step_totals(),
            "models": [{**asdict(m), "total_s": m.total_s} for m in self.models],
        }


@dataclass(frozen=True)
class SuiteTime:
    seconds: float
    source: str
    """Which measure of the record `seconds` is (its run wall time, or summed result durations)."""
    models: frozenset[tuple[str, str]]
    """(arch, task) of the backend's results in the record."""


def floor_models(spec: BackendSpec, archs: list[str] | None, tasks: list[str] | None) -> list[zoo.ZooModel]:
    """The zoo models, in zoo order, on which some clause of the suite does work for `spec`: cases
    of tasks the spec lacks (unsupported) and stand-ins (not applicable) do none."""
    from conformance import catalogue, zoo
    from conformance.engine.collect import models_of

    used = {
        model
        for declared in catalogue.clauses().values()
        for model, not_applicable in models_of(declared, spec, archs, tasks)
        if not_applicable is None and model.task in spec.classes
    }
    return [model for model in zoo.models(archs, tasks) if model in used]


class _Steps:
    """Times named steps once each; `current` is the step running (the one that raised, after one)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.current: str | None = None

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.current = name
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start


def measure(spec: BackendSpec, model: zoo.ZooModel) -> ModelFloor:
    """Build, export, infer, save, load and infer again, once each, timing every step."""
    from conformance import zoo
    from conformance.checks.helpers import as_torch

    row = ModelFloor(model.arch, model.task)
    row.not_run = model.missing_requirement()
    if row.not_run:
        return row
    step = _Steps()
    export = {"export": True} if spec.exports else {}
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="floor-") as scratch:
            warnings.simplefilter("ignore")  # export warnings would bury the table
            saved = Path(scratch) / "saved"  # a folder that does not exist yet, as a user's first save
            with step("build"):
                folder = zoo.build(model.arch, model.task)
            with step("import"):
                cls = spec.model_class(model.task)
            with step("export"):
                exported = cls.from_pretrained(folder, **export, **spec.load_kwargs)
            with step("inputs"):
                inputs = as_torch(zoo.sample_inputs(folder, model.task, family=model.family))
            with step("infer"):
                _infer(model, exported, inputs)
            with step("save"):
                exported.save_pretrained(saved)
            with step("load"):
                loaded = cls.from_pretrained(saved, **spec.load_kwargs)
            with step("infer_loaded"):
                _infer(model, loaded, inputs)
    except Exception as error:  # one broken model must not hide the others' times
        row.error = f"{step.current}: {type(error).__name__}: {error}"
    row.seconds = step.seconds
    return row


def _infer(model: zoo.ZooModel, instance: Any, inputs: dict[str, Any]) -> None:
    """What the suite's checks mostly run: a forward, or for a generating family one short
    `generate()` with the family's own GenerationConfig, as the gen.* checks call it."""
    if "generate" in model.capabilities:
        from conformance.families.causal_lm import generate

        generate(instance, inputs, model.family.generation_config())
    else:
        instance(**inputs)


def run_floor(spec: BackendSpec, archs: list[str] | None = None, tasks: list[str] | None = None) -> Floor:
    models = floor_models(spec, archs, tasks)
    start = time.perf_counter()
    rows = [measure(spec, model) for model in models]
    return Floor(spec.name, rows, time.perf_counter() - start)


def suite_time(record_path: str | Path, backend: str) -> SuiteTime:
    """The backend's suite time in a run record: the runs' wall time (started_at to ended_at, to the
    second) when every run holding it is complete and checks it alone, else the sum of its
    results' durations (a run of several backends has no per-backend wall time)."""
    from reports.model import load, timestamp_key

    runs = [run for run in load([record_path]).ordered_runs() if backend in run.backends]
    if not runs:
        raise ValueError(f"{record_path} holds no run of backend {backend!r}")
    results = [r for run in runs for r in run.results.values() if r.backend == backend]
    # Models on which some check did work: unsupported and not-run results cost nothing.
    models = frozenset(
        (r.arch, r.task) for r in results if r.arch and r.task and r.outcome not in ("unsupported", "not_run")
    )
    if all(run.complete and set(run.backends) == {backend} for run in runs):
        wall = sum(
            (timestamp_key(run.ended_at) - timestamp_key(run.started_at)).total_seconds() for run in runs
        )
        if wall > 0:
            return SuiteTime(wall, "wall time of the run, started_at to ended_at", models)
    return SuiteTime(sum(r.duration_s for r in results), "sum of its result durations", models)


def format_table(floor: Floor) -> str:
    width = max([len("all models"), *(len(f"{m.task}-{m.arch}") for m in floor.models)])
    lines = [f"{'model':{width}} " + " ".join(f"{s:>12}" for s in (*STEPS, "total"))]
    for m in floor.models:
        cells = [f"{m.seconds[s]:12.4f}" if s in m.seconds else f"{'-':>12}" for s in STEPS]
        note = f"  not run: {m.not_run}" if m.not_run else f"  FAILED at {m.error}" if m.error else ""
        lines.append(f"{m.task + '-' + m.arch:{width}} " + " ".join(cells) + f" {m.total_s:12.4f}{note}")
    totals = floor.step_totals()
    lines.append(
        f"{'all models':{width}} "
        + " ".join(f"{totals[s]:12.4f}" for s in STEPS)
        + f" {sum(totals.values()):12.4f}"
    )
    lines.append(f"floor of {floor.backend}: {len(floor.models)} zoo models, wall {floor.wall_s:.2f} s")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "floor",
        help="time build + export + infer + save + load once per zoo model of a backend, with no harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("backend", metavar="NAME", help="backend name, entry point, module:attr or module")
    parser.add_argument("--arch", action="append", help="only these zoo architectures (repeatable)")
    parser.add_argument("--task", action="append", help="only these tasks (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the floor (and ratio) as JSON here")
    parser.add_argument(
        "--record",
        type=Path,
        help="run record (JSON lines) of `optimum-conformance run ... --results`: print its suite time "
        "for the backend as a ratio to the floor",
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from conformance.backends import BackendError, resolve
    from reports.model import RecordError

    try:
        spec = resolve(args.backend)
        suite = suite_time(args.record, spec.name) if args.record else None  # before the long part
    except (BackendError, RecordError, ValueError) as error:
        print(f"error: {error}")
        return 2
    floor = run_floor(spec, args.arch, args.task)
    print(format_table(floor))
    report = floor.as_json()
    if suite is not None:
        ratio = suite.seconds / floor.wall_s
        report["suite"] = {"record": str(args.record), "seconds": suite.seconds, "source": suite.source}
        report["ratio"] = ratio
        print(
            f"suite time {suite.seconds:.2f} s ({suite.source}) / floor {floor.wall_s:.2f} s = {ratio:.2f}x"
        )
        measured = {(m.arch, m.task) for m in floor.models if not m.not_run}
        if suite.models != measured:
            print(
                f"note: the record has results on {len(suite.models)} zoo models, the floor ran "
                f"{len(measured)}: pass the run's --arch/--task filters to compare like with like"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if any(m.error for m in floor.models) else 0
