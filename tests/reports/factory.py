"""Build run records for the report tests; every record written here is validated against the schema."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "reports" / "schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
_ids = count()


def validate(lines: list[dict[str, Any]]) -> None:
    for line in lines:
        VALIDATOR.validate(line)


@dataclass
class RunBuilder:
    """One run: its `run` line, results added with `result`, and an optional `end` line."""

    header: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    end_line: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return self.header["run_id"]

    @property
    def default_backend(self) -> str:
        return self.header["backends"][0]["name"] if self.header["backends"] else "reference-ort"

    def result(
        self,
        check: str = "parity.pytorch",
        outcome: str = "passed",
        *,
        task: str | None = "text-classification",
        arch: str | None = "bert",
        backend: str | None = None,
        level: str = "core",
        test_id: str | None = None,
        stage: str | None = None,
        message: str = "",
        metrics: dict[str, Any] | None = None,
        duration_s: float = 0.25,
        expectation: dict[str, Any] | None = None,
        precision: str | None = None,
    ) -> RunBuilder:
        backend = backend or self.default_backend
        family, name = check.split(".", 1)
        if test_id is None:
            params = "-".join(p for p in (backend, task, arch) if p)
            test_id = f"checks/test_{family}.py::test_{name}[{params}]"
        if stage is None and outcome in ("failed", "crashed", "timeout"):
            stage = "parity" if family == "parity" else "load"
        line = {
            "type": "result",
            "run_id": self.run_id,
            "test_id": test_id,
            "check": check,
            "level": level,
            "backend": backend,
            "task": task,
            "arch": arch,
            "outcome": outcome,
            "stage": stage,
            "duration_s": duration_s,
            "message": message,
            "repro": f"pytest --pyargs conformance --backend {backend} -k '{test_id.rpartition('::')[2]}'",
            "metrics": metrics if metrics is not None else {},
        }
        if expectation is not None:
            line["expectation"] = expectation
        if precision is not None:
            line["precision"] = precision
        self.results.append(line)
        return self

    def end(self, ended_at: str | None = None, exit_status: int | None = 0) -> RunBuilder:
        self.end_line = {
            "type": "end",
            "run_id": self.run_id,
            "ended_at": ended_at or self.header["started_at"].replace("T10", "T11"),
            "counts": dict(Counter(r["outcome"] for r in self.results)),
            "exit_status": exit_status,
        }
        return self

    def lines(self) -> list[dict[str, Any]]:
        return [self.header, *self.results, *([self.end_line] if self.end_line else [])]


def run(
    run_id: str | None = None,
    *,
    env: str | None = "main",
    backends: tuple[tuple[str, str | None], ...] = (("reference-ort", "0.1.0"),),
    shard: tuple[int, int] = (0, 1),
    suite_version: str = "0.1.0",
    git_sha: str | None = "0123abcd",
    started_at: str = "2026-11-28T10:00:00+00:00",
    packages: dict[str, str | None] | None = None,
    runtime: dict[str, str | None] | None = None,
    tasks: list[str] | None = None,
    clauses: list[dict[str, str]] | None = None,
) -> RunBuilder:
    builder = RunBuilder(
        {
            "type": "run",
            "schema_version": 1,
            "run_id": run_id or f"run{next(_ids)}",
            "suite": {"name": "optimum-conformance", "version": suite_version, "git_sha": git_sha},
            "backends": [
                {"name": name, "version": version, "runtime": runtime or {"onnxruntime": "1.22.0"}}
                for name, version in backends
            ],
            "environment": {
                "name": env,
                "python": "3.11.7",
                "os": "Linux-6.1-x86_64",
                "machine": "x86_64",
                "cpu": {"model": "Test CPU", "count": 2, "flags": ["avx2", "fma"]},
                "packages": packages or {"torch": "2.13.0", "transformers": "4.57.6"},
            },
            "shard": {"id": shard[0], "count": shard[1]},
            "started_at": started_at,
            "argv": ["optimum-conformance", "run", backends[0][0] if backends else "none"],
        }
    )
    if tasks is not None:  # the suite's task order; records from before the field have none
        builder.header["tasks"] = tasks
    if clauses is not None:  # the suite's catalogue; likewise
        builder.header["clauses"] = clauses
    return builder


def minimal(run_id: str = "minimal") -> RunBuilder:
    """A run line with the schema's required fields only (no env name, CPU, argv, runtime, suite name)."""
    return RunBuilder(
        {
            "type": "run",
            "schema_version": 1,
            "run_id": run_id,
            "suite": {"version": "0.1.0"},
            "backends": [{"name": "bare", "version": None}],
            "environment": {"python": "3.11.7", "os": "Linux", "packages": {}},
            "shard": {"id": 0, "count": 1},
            "started_at": "2026-11-28T10:00:00Z",
        }
    )


def write(path: Path, *runs: RunBuilder | dict[str, Any], validated: int | None = None) -> Path:
    """Write runs (or raw lines) as JSON Lines after validating every line against the schema (the
    first `validated` lines only, when given: for records of tens of thousands of lines)."""
    lines: list[dict[str, Any]] = []
    for item in runs:
        lines.extend(item.lines() if isinstance(item, RunBuilder) else [item])
    validate(lines[:validated])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def standard(path: Path, **kwargs: Any) -> Path:
    """A small healthy record: two backends, two tasks, every outcome kind somewhere."""
    builder = run(backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0")), **kwargs)
    for backend in ("reference-ort", "reference-ov"):
        for arch in ("bert", "roberta"):
            builder.result(
                "parity.pytorch",
                backend=backend,
                arch=arch,
                metrics={"max_abs_err": 2e-6, "mean_abs_err": 1e-7, "atol": 1e-4, "rtol": 1e-4},
            )
            builder.result("load.local_dir", backend=backend, arch=arch)
            builder.result("save.reload_equal", backend=backend, arch=arch, task="feature-extraction")
        builder.result("push.single_commit", level="strict", backend=backend, arch="bert")
    builder.result(
        "parity.return_dict_false",
        "failed",
        level="strict",
        backend="reference-ov",
        message="tuple outputs differ",
    )
    builder.result("input.unknown_kwarg", "unsupported", backend="reference-ov", task=None, arch=None)
    builder.result(
        "gen.greedy",
        "not_run",
        backend="reference-ort",
        task="text-generation",
        arch="gpt2",
        message="slow tier deselected",
    )
    return write(path, builder.end())


BIG_BACKENDS = (
    ("reference-ort", "0.1.0"),
    ("reference-ov", "0.1.0"),
    ("optimum-ort", "2.1.0"),
    ("optimum-ov", "1.27.0"),
    ("reference-ipex", "0.1.0"),
)
BIG_CHECKS = (
    "parity.pytorch",
    "load.local_dir",
    "load.hub",
    "save.reload_equal",
    "push.manifest",
    "input.unknown_kwarg",
    "gen.greedy",
    "parity.batch_padding",
    "load.hub_subfolder",
    "save.manifest",
)
BIG_TASKS = (
    "feature-extraction",
    "text-classification",
    "token-classification",
    "question-answering",
    "fill-mask",
    "multiple-choice",
    "image-classification",
    "text-generation",
)
BIG_ARCHS = (
    "bert",
    "roberta",
    "albert",
    "electra",
    "deberta-v2",
    "xlm-roberta",
    "mpnet",
    "distilbert",
    "vit",
    "resnet",
    "convnext",
    "gpt2",
    "llama",
)
BIG_OUTCOMES = ("passed",) * 12 + (
    "failed",
    "xfailed",
    "unsupported",
    "not_run",
    "crashed",
    "timeout",
    "error",
    "xpassed",
)


def big(path: Path, n: int = 5000) -> Path:
    """A record of `n` results over 5 backends x 10 checks x 8 tasks x 13 architectures."""
    builder = run(backends=BIG_BACKENDS)
    for i in range(n):
        backend = BIG_BACKENDS[i % 5][0]
        check, task = BIG_CHECKS[(i // 5) % 10], BIG_TASKS[(i // 50) % 8]
        arch = BIG_ARCHS[(i // 400) % 13]
        outcome = BIG_OUTCOMES[(i * 7) % len(BIG_OUTCOMES)]
        builder.result(
            check,
            outcome,
            backend=backend,
            task=task,
            arch=arch,
            level="strict" if i % 3 == 0 else "core",
            test_id=f"checks/test_{check.split('.')[0]}.py::test_{check.split('.')[1]}[{backend}-{task}-{arch}-v{i // 5200}-{i}]",
            message="" if outcome == "passed" else f"{outcome}: details for result {i}",
            metrics={"max_abs_err": 1e-5 * (i % 20), "mean_abs_err": 1e-6, "atol": 1e-4, "rtol": 1e-4},
        )
    return write(path, builder.end())


# --- a matrix of releases, for scale ------------------------------------------------------------

MATRIX_BACKENDS = tuple(
    f"{kind}-{runtime}" for kind in ("reference", "optimum") for runtime in ("ort", "ov", "ipex")
)
MATRIX_ENVS = ("main", "latest")
# (family, task, arch) in zoo order: the encoder archs on the six text tasks, then image, then causal LM
ZOO_CASES = (
    *(("encoder", task, arch) for task in BIG_TASKS[:6] for arch in BIG_ARCHS[:8]),
    *(("image", "image-classification", arch) for arch in ("vit", "resnet", "convnext")),
    *(("causal_lm", "text-generation", arch) for arch in ("gpt2", "llama")),
)


# A catalogue in the suite's proportions (about 1 clause in 5 runs on every zoo model): (id, level,
# sample, requires). The benchmark uses the suite's own catalogue.
MATRIX_CLAUSES = (
    *(
        (f"load.{name}", "core", "representative", frozenset())
        for name in (
            "local_dir",
            "hub",
            "hub_subfolder",
            "revision_branch",
            "offline_env",
            "export",
            "file_name",
            "pipeline",
        )
    ),
    *(
        (f"load.{name}", "strict", "representative", frozenset())
        for name in ("revision_sha", "force_download", "subfolder_isolation")
    ),
    *(
        (f"parity.{name}", "core", "arch", frozenset({"forward"}))
        for name in ("pytorch", "output_type", "tensor_type", "dynamic_shapes")
    ),
    ("parity.batch_padding", "core", "arch", frozenset({"forward", "tokenizer"})),
    ("parity.determinism", "strict", "arch", frozenset({"forward"})),
    ("parity.threads", "core", "family", frozenset({"forward"})),
    *(
        (f"gen.{name}", "core", "arch", frozenset({"generate"}))
        for name in ("greedy", "beam", "sampling", "left_padding")
    ),
    *((f"save.{name}", "core", "family", frozenset()) for name in ("manifest", "preprocessors")),
    ("save.reload_equal", "core", "arch", frozenset({"forward"})),
    *(
        (f"save.{name}", "strict", "representative", frozenset())
        for name in ("atomic", "into_source_dir", "overwrite")
    ),
    *(
        (f"push.{name}", "core", "representative", frozenset())
        for name in ("reload_equal", "manifest", "private_token")
    ),
    *(
        (f"push.{name}", "strict", "representative", frozenset())
        for name in ("single_commit", "paths_preserved")
    ),
    *(
        (f"input.{name}", "core", "representative", frozenset())
        for name in ("unknown_repo", "unknown_kwarg", "corrupt_artifact", "hub_faults")
    ),
)
Plan = tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]  # (clause, level, its (task, arch) cases)


def plan(clauses: tuple[tuple[str, str, str, frozenset[str]], ...], cases=ZOO_CASES) -> Plan:
    """What each clause ((id, level, sample, requires)) runs on, as the suite samples the zoo's
    ((family, task, arch)) cases: every case, one per family or task, or one; gen.* clauses need a
    model that generates, clauses requiring a tokenizer skip the image models."""
    planned = []
    for clause, level, sample, requires in clauses:
        generates, tokenizes = clause.startswith("gen."), "tokenizer" in requires
        eligible = [
            case
            for case in cases
            if (case[0] == "causal_lm" or not generates) and not (tokenizes and case[0] == "image")
        ]
        position = {"family": 0, "task": 1}.get(sample)
        if sample == "arch":
            chosen = eligible
        elif position is not None:
            chosen = list({case[position]: case for case in reversed(eligible)}.values())[::-1]
        else:
            chosen = eligible[:1]
        planned.append((clause, level, tuple((task, arch) for _, task, arch in chosen)))
    return tuple(planned)


def _matrix_outcome(b: int, v: int, c: int, k: int, clause: str) -> tuple[str, str]:
    """A deterministic, realistic mix: mostly passes; some clauses fail the same way on every case of
    a backend until a release fixes them; declared gaps, policy skips, expectations, rare one-offs."""
    family = clause.split(".")[0]
    if family == "push" and MATRIX_BACKENDS[b].endswith("ipex"):
        return "unsupported", "the backend spec declares push absent: no push_to_hub"
    if family == "gen" and b == 5:
        return "not_run", "slow tier deselected (--slow not given)"
    if (c * 7 + b) % 19 == 0 and v <= c % 4:
        return "failed", (
            f"AssertionError: {clause} does not hold: token_type_ids is not filled in as transformers "
            "would when the graph needs it, so the outputs differ from PyTorch on the padded rows "
            f"(max abs err 0.41 > atol 1e-4)\nat case {k}: see the drill-down for the tensors compared"
        )
    if (c * 5 + b) % 31 == 0:
        return "xfailed", "expected: the upstream class returns float64 logits on this backend"
    one_off = (b * 7919 + v * 104729 + c * 1299709 + k * 15485863) % 997
    if one_off < 9:
        return (
            "failed",
            f"AssertionError: outputs differ from PyTorch: max abs err {0.0001 + one_off / 1e4:.6g}",
        )
    if one_off == 9:
        return "crashed", "worker died: SIGSEGV in libonnxruntime.so while running the session"
    return "passed", ""


def matrix(
    path: Path,
    planned: Plan,
    *,
    backends: tuple[str, ...] = MATRIX_BACKENDS,
    versions: int = 4,
    envs: tuple[str, ...] = MATRIX_ENVS,
    validated: int = 2000,
    docs: dict[str, str] | None = None,
) -> Path:
    """A release matrix: each backend at `versions` releases in each env, each running the `planned`
    clauses on their cases (`plan`), one run per env and release. The run lines carry the catalogue:
    each planned clause with its definition from `docs` (default: a sentence of its own).
    Only the first `validated` lines go through the JSON Schema (slow); the rest have the same shape."""
    runs = []
    for env in envs:
        for v in range(versions):
            builder = run(
                f"{env}-release{v}",
                env=env,
                backends=tuple((name, f"1.{20 + v}.0") for name in backends),
                started_at=f"2026-11-{v + 1:02d}T10:00:00+00:00",
                clauses=[
                    {"id": c, "level": level, "doc": (docs or {}).get(c, f"what {c} promises, in one line")}
                    for c, level, _ in planned
                ],
            )
            for b, backend in enumerate(backends):
                for c, (clause, level, cases) in enumerate(planned):
                    family, name = clause.split(".", 1)
                    for k, (task, arch) in enumerate(cases):
                        outcome, message = _matrix_outcome(b, v, c, k, clause)
                        builder.result(
                            clause,
                            outcome,
                            backend=backend,
                            task=task,
                            arch=arch,
                            level=level,
                            test_id=f"checks/test_{family}.py::test_{family}_{name}[{backend}-{task}-{arch}]",
                            message=message,
                            duration_s=0.05 + (k % 13) / 10,
                            expectation=(
                                {"outcome": "failed", "reason": message, "link": "https://example.invalid/1"}
                                if outcome == "xfailed"
                                else None
                            ),
                            metrics=(
                                {
                                    "max_abs_err": 2e-6 * (k % 7 + 1),
                                    "mean_abs_err": 1e-7,
                                    "atol": 1e-4,
                                    "rtol": 1e-4,
                                }
                                if family == "parity"
                                else {"export_cache_hit": 1}
                            ),
                        )
            runs.append(builder.end())
    return write(path, *runs, validated=validated)
