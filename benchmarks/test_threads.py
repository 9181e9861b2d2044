"""One OpenVINO model shared by 8 threads, 20 calls each (BERT-base, batch 1, sequence 128).

Run: `python -m pytest benchmarks/test_threads.py -p no:cacheprovider --benchmark-only`. An
`InferRequest` serves one call at a time, so threads sharing a `CompiledModel` need one of:
- `per_thread`: each thread makes its own request on its first call (what `reference.openvino` does);
- `pool`: a queue of requests, as many as the compiled model's OPTIMAL_NUMBER_OF_INFER_REQUESTS,
  taken and given back around each call;
- `lock`: one request behind a lock.
Every case checks that each thread's logits equal the serial ones, and reports calls per second
(`calls_per_s`); `reference` is the reference class itself under the same load.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from reference.openvino import OVModelForSequenceClassification  # noqa: E402

THREADS, CALLS = 8, 20
OV_CONFIG = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
Call = Callable[[dict[str, np.ndarray]], np.ndarray]


def per_thread(compiled: Any) -> Call:
    local = threading.local()

    def call(feed: dict[str, np.ndarray]) -> np.ndarray:
        if not hasattr(local, "request"):
            local.request = compiled.create_infer_request()
        return local.request.infer(feed, share_outputs=False)[0]

    return call


def pool(compiled: Any) -> Call:
    requests: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))):
        requests.put(compiled.create_infer_request())

    def call(feed: dict[str, np.ndarray]) -> np.ndarray:
        request = requests.get()
        try:
            return request.infer(feed, share_outputs=False)[0]
        finally:
            requests.put(request)

    return call


def lock(compiled: Any) -> Call:
    request, held = compiled.create_infer_request(), threading.Lock()

    def call(feed: dict[str, np.ndarray]) -> np.ndarray:
        with held:
            return request.infer(feed, share_outputs=False)[0]

    return call


STRATEGIES = {"per_thread": per_thread, "pool": pool, "lock": lock}


@pytest.fixture(scope="module")
def ov_folder(bert_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("threads") / "bert-base"
    OVModelForSequenceClassification.from_pretrained(bert_base, export=True).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def feeds(make_text_inputs: Any) -> list[dict[str, np.ndarray]]:
    """One input per thread, each unlike the others, so a mix-up between threads shows."""
    base = make_text_inputs(1)
    return [{**base, "input_ids": (base["input_ids"] + i) % 100 + 5} for i in range(THREADS)]


def hammer(
    benchmark: Any, call: Call, feeds: list[dict[str, np.ndarray]], expected: list[np.ndarray]
) -> None:
    """THREADS threads, CALLS calls each, all started together; each result checked against `expected`."""
    wrong: list[str] = []

    def worker(index: int, start: threading.Barrier) -> None:
        start.wait()
        for _ in range(CALLS):
            got = call(feeds[index])
            if not np.allclose(got, expected[index], atol=1e-5):
                wrong.append(f"thread {index}: max error {np.abs(got - expected[index]).max():.2e}")

    def round_() -> None:
        start = threading.Barrier(THREADS)
        threads = [threading.Thread(target=worker, args=(i, start)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    benchmark.group = f"bert-base batch1, {THREADS} threads x {CALLS} calls"
    benchmark.pedantic(round_, rounds=3, warmup_rounds=1)
    assert not wrong, wrong[:5]
    benchmark.extra_info["calls_per_s"] = round(THREADS * CALLS / benchmark.stats.stats.median, 1)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_strategy(benchmark: Any, ov_folder: Path, feeds: list, strategy: str) -> None:
    compiled = ov.Core().compile_model(ov_folder / "openvino_model.xml", "CPU", OV_CONFIG)
    serial = compiled.create_infer_request()
    expected = [serial.infer(feed, share_outputs=False)[0] for feed in feeds]
    benchmark.extra_info["requests"] = (
        int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) if strategy == "pool" else None
    )
    hammer(benchmark, STRATEGIES[strategy](compiled), feeds, expected)


def test_reference(benchmark: Any, ov_folder: Path, feeds: list) -> None:
    model = OVModelForSequenceClassification.from_pretrained(ov_folder, ov_config=OV_CONFIG).compile()
    expected = [model(**feed).logits for feed in feeds]
    hammer(benchmark, lambda feed: model(**feed).logits, feeds, expected)
