"""gen.*: `generate()` and the decoder forward of causal LMs, against transformers' own generate.

Every comparison runs on a left-padded batch of three prompts of different lengths, with one
explicit `GenerationConfig` given to both sides (the family's `generation_config`: exactly
`NEW_TOKENS` new tokens, the zoo's in-vocabulary special ids), seeded the same way. Token ids
must be equal; logits and caches are judged at the registry's tolerance on real positions.
Facts and traps behind each clause: notes/generation.md §6.
"""

from __future__ import annotations

import functools
import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import torch

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import RELOAD_ATOL, as_torch, in_threads
from conformance.compare import as_numpy, cache_pairs, differences, output
from conformance.engine.outcomes import not_run
from conformance.families.causal_lm import (
    NEW_TOKENS,
    PROMPTS,
    SPECIAL_IDS,
    generate,
    positions,
    takes_positions,
)
from conformance.families.forward import as_numpy_tree

GEN = ("generate",)
BATCH = 3  # prompts of 8, 6 and 4 tokens: two rows are left-padded
MODES = {
    "greedy": {},
    "beam": {"num_beams": 4},
    "beam_sampling": {"num_beams": 4, "do_sample": True, "top_k": 0},
    "sampling": {"do_sample": True, "top_k": 0},
}


# ---------------------------------------------------------------------- helpers


def prompts(check: CheckContext) -> dict[str, np.ndarray]:
    inputs = check.inputs(batch_size=BATCH)
    assert (inputs["attention_mask"][:, 0] == 0).any(), "the sample batch must be left-padded"
    return inputs


def config(check: CheckContext, **options: Any) -> Any:
    return check.family().generation_config(**options)


def tokens(check: CheckContext, model: Any, inputs: dict[str, Any], generation_config: Any) -> np.ndarray:
    """The token ids `model.generate()` returns, seeded as the oracle is."""
    with check.at("infer"):
        result = generate(model, as_torch(inputs) if _numpy(inputs) else inputs, generation_config)
    return as_numpy(output(result, "sequences") if not isinstance(result, torch.Tensor) else result)


def _numpy(inputs: dict[str, Any]) -> bool:
    return all(isinstance(v, np.ndarray) for v in inputs.values())


def assert_same_tokens(check: CheckContext, got: np.ndarray, expected: np.ndarray, what: str) -> None:
    with check.at("parity"):
        assert got.shape == expected.shape, f"{what}: shape {got.shape}, transformers {expected.shape}"
        rows = [i for i in range(len(got)) if not np.array_equal(got[i], expected[i])]
        assert not rows, f"{what}: rows {rows} differ: {got[rows].tolist()} != {expected[rows].tolist()}"


def matches_transformers(check: CheckContext, mode: str) -> None:
    inputs = prompts(check)
    generation_config = config(check, **MODES[mode])
    expected = check.generate_oracle(inputs, generation_config)["sequences"]
    got = tokens(check, check.exported(), inputs, generation_config)
    assert_same_tokens(check, got, expected, mode)


def torch_cache(check: CheckContext, inputs: dict[str, np.ndarray]) -> Any:
    """The PyTorch decoder's cache as pairs of numpy arrays, with the position_ids a missing input
    means (transformers 5 returns a cache only when asked: use_cache=True)."""
    net = check.oracle_model()
    feed = as_torch(inputs)
    if takes_positions(net.forward):
        feed["position_ids"] = torch.from_numpy(positions(inputs["attention_mask"]))
    with torch.no_grad(), check.in_oracle():
        return as_numpy_tree(net(**feed, use_cache=True, return_dict=True).past_key_values)


def backend_takes_positions(check: CheckContext, model: Any) -> bool:
    """Whether to give the backend explicit position_ids: the architecture has them (transformers'
    forward takes them; bloom's ALiBi does not) and the backend's forward accepts them."""
    return takes_positions(check.oracle_model().forward) and takes_positions(
        model.forward, through_kwargs=True
    )


def stateful(model: Any) -> bool:
    """Whether the model keeps its KV cache inside the runtime (OpenVINO's stateful models: the
    `stateful` attribute of optimum-intel and the reference; transformers asks `_is_stateful`)."""
    return bool(getattr(model, "stateful", False) or getattr(model, "_is_stateful", False))


def with_returned_cache(check: CheckContext) -> Any:
    """The exported model; where it keeps its cache in the runtime and has a stateful option, its
    stateless variant, which takes the cache in and gives it out."""
    model = check.exported()
    if stateful(model) and hasattr(model, "stateful"):
        model = check.exported(stateful=False)  # exported once per case, as the plain form is
        if stateful(model):  # its save did not keep the stateless form: the live export is judged
            model = check.export(stateful=False)
    return model


def returned_cache(check: CheckContext, model: Any, result: Any) -> Any:
    """The cache a forward returned; not_run where the model keeps it in its runtime."""
    if stateful(model):
        not_run(
            f"{check.spec.name} keeps the cache in the runtime's state (stateful): forward returns none to compare"
        )
    cache = output(result, "past_key_values")
    with check.at("infer"):
        assert cache is not None, "forward(use_cache=True) returned no past_key_values"
    return cache


# ---------------------------------------------------------------------- capability and tokens


@clause(
    "gen.can_generate",
    "core",
    "can_generate() is True, a generation_config is present and the main input is input_ids",
    requires=GEN,
)
def test_gen_can_generate(check: CheckContext) -> None:
    model = check.exported()
    with check.at("load"):
        assert model.can_generate() is True, "can_generate() is not True"
        assert model.generation_config is not None, "no generation_config"
        assert getattr(model, "main_input_name", "input_ids") == "input_ids"


@clause("gen.greedy", "core", "greedy search gives transformers' tokens", requires=GEN, sample="arch")
def test_gen_greedy(check: CheckContext) -> None:
    matches_transformers(check, "greedy")


@clause("gen.beam", "core", "beam search (4 beams) gives transformers' tokens", requires=GEN, sample="arch")
def test_gen_beam(check: CheckContext) -> None:
    matches_transformers(check, "beam")


@clause(
    "gen.beam_sampling",
    "core",
    "beam sampling (4 beams), seeded, gives transformers' tokens",
    requires=GEN,
    sample="arch",
)
def test_gen_beam_sampling(check: CheckContext) -> None:
    matches_transformers(check, "beam_sampling")


@clause("gen.sampling", "core", "seeded sampling gives transformers' tokens", requires=GEN, sample="arch")
def test_gen_sampling(check: CheckContext) -> None:
    matches_transformers(check, "sampling")


# Decoding modes transformers (4.56+, and 5.x) runs only from `custom_generate` repos on the Hub, which
# need trust_remote_code=True: the suite never switches that on, so offline the tokens cannot be
# compared; a backend must then refuse the mode as transformers does, not run another in its place.
HUB_CODE_MODES = {
    "group beam search": {"num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 1.0},
    "constrained beam search": {"num_beams": 4, "force_words_ids": [[9]]},
    "contrastive search": {"penalty_alpha": 0.6, "top_k": 4},
    "DoLa": {"dola_layers": "high", "repetition_penalty": 1.2},
}
# Where transformers still runs them (before 4.56), these two read the decoder's hidden states, an
# output exports leave out.
NEED_HIDDEN_STATES = {"contrastive search", "DoLa"}
UNJUDGED = "cannot be compared here"  # the words of this clause's not_run (tests look for them)


def hidden_states(check: CheckContext, model: Any) -> bool:
    try:
        result = check.run(model, as_torch(check.inputs(batch_size=1)), output_hidden_states=True)
    except TypeError:
        return False
    return output(result, "hidden_states") is not None


@clause(
    "gen.hub_code_modes",
    "core",
    "group beam, constrained beam, contrastive search and DoLa give transformers' tokens, or are refused "
    "where transformers refuses them (Hub code, trust_remote_code); never silently replaced",
    requires=GEN,
)
def test_gen_hub_code_modes(check: CheckContext) -> None:
    import transformers

    inputs = prompts(check)
    model = check.exported()
    unjudged: dict[str, str] = {}
    for mode, options in HUB_CODE_MODES.items():
        generation_config = config(check, **options)
        try:
            expected = check.generate_oracle(inputs, generation_config, let_through=(ValueError,))[
                "sequences"
            ]
        except ValueError as refusal:  # transformers wants remote code it may not fetch
            if "trust_remote_code" not in str(refusal):
                raise
            with check.at("infer"):
                try:
                    got = tokens(check, model, inputs, generation_config)
                except ValueError:
                    unjudged[mode] = (
                        f"transformers {transformers.__version__} runs it only from Hub code with "
                        f"trust_remote_code=True, which the suite never switches on, and {check.spec.name} "
                        "refuses it as transformers does"
                    )
                    continue
                raise AssertionError(
                    f"{mode}: generated {got.shape[1] - inputs['input_ids'].shape[1]} tokens where transformers "
                    f"refuses ({refusal}): another mode ran in its place"
                ) from None
        if mode in NEED_HIDDEN_STATES and not hidden_states(check, model):
            unjudged[mode] = (
                "it reads the hidden states, which the model does not return (output_hidden_states)"
            )
            continue
        assert_same_tokens(check, tokens(check, model, inputs, generation_config), expected, mode)
    if unjudged:
        not_run(
            f"{', '.join(unjudged)} {UNJUDGED}: " + "; ".join(f"{m}: {why}" for m, why in unjudged.items())
        )


@clause(
    "gen.step_logits",
    "core",
    "every generation step's logits are within the registry's tolerance of transformers'",
    requires=GEN,
    sample="arch",
)
def test_gen_step_logits(check: CheckContext) -> None:
    inputs = prompts(check)
    generation_config = config(check)
    expected = check.generate_oracle(inputs, generation_config)["logits"]
    with check.at("infer"):
        result = generate(check.exported(), as_torch(inputs), generation_config)
    tolerance = check.tolerance()
    with check.at("parity"):
        got = output(result, "logits")
        assert got is not None and len(got) == len(expected), "generate() returned no per-step logits"
        errors = [float(np.abs(as_numpy(g) - e).max()) for g, e in zip(got, expected)]
        check.metrics.update(max_abs_err=max(errors), atol=tolerance.atol, dtype=check.case.precision)
        worst = int(np.argmax(errors))
        assert errors[worst] <= tolerance.atol, (
            f"step {worst} logits differ by {errors[worst]:.3g} (atol {tolerance.atol}; {tolerance.reason})"
        )


# ---------------------------------------------------------------------- cache


@clause(
    "gen.returned_cache",
    "core",
    "the cache forward returns equals transformers' on real positions",
    requires=GEN,
    sample="arch",
)
def test_gen_returned_cache(check: CheckContext) -> None:
    inputs = prompts(check)
    model = with_returned_cache(check)
    feed = as_torch(inputs)
    if backend_takes_positions(check, model):  # their default: gen.position_ids_default
        feed["position_ids"] = torch.from_numpy(positions(inputs["attention_mask"]))
    cache = returned_cache(check, model, check.run(model, feed, use_cache=True))
    expected = {"past_key_values": torch_cache(check, inputs)}
    tolerance = check.tolerance()
    with check.at("parity"):
        metrics = differences(
            {"past_key_values": cache},
            {"past_key_values": expected["past_key_values"]},
            inputs["attention_mask"],
            check.family().comparison.sequence_axes,
        )
        check.metrics.update(metrics, atol=tolerance.atol)
        assert metrics["max_abs_err"] <= tolerance.atol, (
            f"the cache differs by {metrics['max_abs_err']:.3g} (atol {tolerance.atol}) at {metrics.get('worst_output')}"
        )


@clause(
    "gen.cache_equals_no_cache",
    "core",
    "use_cache=True and use_cache=False generate transformers' tokens",
    requires=GEN,
    sample="arch",
)
def test_gen_cache_equals_no_cache(check: CheckContext) -> None:
    inputs = prompts(check)
    expected = check.generate_oracle(inputs, config(check))["sequences"]
    model = check.exported()
    for use_cache in (True, False):
        got = tokens(check, model, inputs, config(check, use_cache=use_cache))
        assert_same_tokens(check, got, expected, f"use_cache={use_cache}")


@clause(
    "gen.stateful_equals_stateless",
    "core",
    "a model with a stateful option generates the same tokens stateful and stateless (greedy, beam 4)",
    requires=GEN,
)
def test_gen_stateful_equals_stateless(check: CheckContext) -> None:
    model = check.exported()
    if not hasattr(model, "stateful"):
        not_run(f"{type(model).__name__} has no stateful option")
    other = check.export(stateful=not model.stateful)
    with check.at("load"):
        assert other.stateful is not model.stateful, f"stateful={not model.stateful} was not applied"
    inputs = prompts(check)
    for mode in ("greedy", "beam"):
        generation_config = config(check, **MODES[mode])
        assert_same_tokens(
            check,
            tokens(check, other, inputs, generation_config),
            tokens(check, model, inputs, generation_config),
            f"{mode}, stateful={other.stateful} against stateful={model.stateful}",
        )


@clause(
    "gen.cache_reaches_forward",
    "core",
    "each decoding step gets the cache the previous step returned (past_key_values=, or cache= on transformers 5)",
    requires=GEN,
)
def test_gen_cache_reaches_forward(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(prompts(check))
    calls: list[tuple[dict[str, Any], Any]] = []
    forward = model.forward

    @functools.wraps(forward)  # generate() validates its kwargs against forward's signature
    def recording(*args: Any, **kwargs: Any) -> Any:
        result = forward(*args, **kwargs)
        calls.append((kwargs, output(result, "past_key_values")))
        return result

    model.forward = recording
    try:
        tokens(check, model, inputs, config(check))
    finally:
        del model.forward
    with check.at("infer"):
        assert len(calls) == NEW_TOKENS, f"{len(calls)} forward calls for {NEW_TOKENS} new tokens"
        for step, ((kwargs, _), (_, returned)) in enumerate(zip(calls[1:], calls), start=1):
            ids = kwargs.get("input_ids")
            assert ids is not None and ids.shape[-1] == 1, f"step {step} re-ran {ids.shape[-1]} tokens"
            if stateful(model):
                continue  # the runtime holds the cache: what travels is at most a placeholder
            given = kwargs.get("past_key_values", kwargs.get("cache"))
            assert returned is not None, f"step {step - 1} returned no cache"
            assert given is returned, f"step {step} was not given the cache step {step - 1} returned"


@clause(
    "gen.use_cache_false",
    "core",
    "a use_cache=False export has no past inputs or outputs, says so in its configs, and generates transformers' tokens",
    requires=GEN,
)
def test_gen_use_cache_false(check: CheckContext) -> None:
    model = check.export(use_cache=False)
    inputs = prompts(check)
    with check.at("load"):
        assert model.config.use_cache is False, "config.use_cache is not False"
        assert model.generation_config.use_cache is False, "generation_config.use_cache is not False"
    result = check.run(model, as_torch(inputs))
    with check.at("infer"):
        assert output(result, "past_key_values") is None, "a cacheless model returned a cache"
    expected = check.generate_oracle(inputs, config(check, use_cache=False))["sequences"]
    assert_same_tokens(check, tokens(check, model, inputs, config(check)), expected, "use_cache=False export")


@clause(
    "gen.use_cache_mismatch",
    "core",
    "use_cache=True on a cacheless artifact: an error naming use_cache",
    requires=GEN,
)
def test_gen_use_cache_mismatch(check: CheckContext) -> None:
    folder = check.tmp_path / "cacheless"
    with check.at("save"):
        check.export(use_cache=False).save_pretrained(folder)
    with check.at("load"):
        try:
            check.load(folder, use_cache=True)
        except (ValueError, TypeError) as error:
            assert "use_cache" in str(error), f"the error does not name use_cache: {error}"
        else:
            raise AssertionError("use_cache=True loaded a cacheless artifact without an error")


@clause(
    "gen.past_shape_dynamic",
    "core",
    "one model runs at past 0 and past > 0, batch 1 and 3, one and several new tokens a step, with transformers' logits",
    requires=GEN,
    sample="arch",
)
def test_gen_past_shape_dynamic(check: CheckContext) -> None:
    # generate() only ever feeds one new token a step; several (assisted and prompt-lookup decoding,
    # chunked prefill) and a batch that changes between calls are the shapes an export pins by mistake.
    model = with_returned_cache(check)
    net = check.oracle_model()
    with_positions = {"ours": backend_takes_positions(check, model), "torch": takes_positions(net.forward)}
    tolerance = check.tolerance()
    worst = 0.0

    def step(what: str, ids: np.ndarray, mask: np.ndarray, past: Any = None) -> Any:
        """Run `ids` (new tokens after `past`) and compare their logits with torch on the whole sequence."""
        nonlocal worst
        new = ids.shape[1]
        feed = {"input_ids": ids, "attention_mask": mask}
        if with_positions["ours"]:
            feed["position_ids"] = positions(mask)[:, -new:]
        extra = {"past_key_values": past} if past is not None else {}
        result = check.run(model, as_torch(feed), use_cache=True, **extra)
        history[0] = np.concatenate([history[0], ids], axis=1) if past is not None else ids
        full = {"input_ids": history[0], "attention_mask": mask}
        if with_positions["torch"]:
            full["position_ids"] = positions(mask)
        with torch.no_grad(), check.in_oracle():
            expected = net(**as_torch(full)).logits[:, -new:].numpy()
        got = as_numpy(output(result, "logits"))
        with check.at("parity"):
            assert got.shape[:2] == (ids.shape[0], new), f"{what}: logits of shape {got.shape}"
            real = mask[:, -new:].astype(bool)  # left pads of the prompt are not compared
            error = float(np.abs(got[:, -new:] - expected)[real].max())
            worst = max(worst, error)
            assert error <= tolerance.atol, f"{what}: logits differ by {error:.3g} (atol {tolerance.atol})"
        return returned_cache(check, model, result)

    history = [np.zeros((0, 0), dtype=np.int64)]
    alone = check.inputs(batch_size=1, sequence_length=5)
    step("batch 1, past 0, 5 tokens", alone["input_ids"], alone["attention_mask"])
    batch = prompts(check)
    mask = batch["attention_mask"]
    past = step(f"batch {BATCH}, past 0, {mask.shape[1]} tokens", batch["input_ids"], mask)
    for new in (3, 1):
        length = mask.shape[1]
        mask = np.concatenate([mask, np.ones((BATCH, new), dtype=mask.dtype)], axis=1)
        ids = np.arange(5, 5 + new * BATCH, dtype=np.int64).reshape(BATCH, new)
        past = step(f"batch {BATCH}, past {length}, {new} new tokens", ids, mask, past)
    check.metrics.update(max_abs_err=worst, atol=tolerance.atol)


# ---------------------------------------------------------------------- inputs


@clause(
    "gen.left_padding",
    "core",
    "each row of a left-padded batch generates what its prompt generates alone",
    requires=GEN,
    sample="arch",
)
def test_gen_left_padding(check: CheckContext) -> None:
    from transformers import AutoTokenizer

    model = check.exported()
    tokenizer = AutoTokenizer.from_pretrained(check.source_dir())
    generation_config = config(check)
    together = tokens(
        check, model, dict(tokenizer(PROMPTS, padding=True, return_tensors="np")), generation_config
    )
    for row, prompt in enumerate(PROMPTS):
        alone = tokens(check, model, dict(tokenizer([prompt], return_tensors="np")), generation_config)
        assert_same_tokens(check, alone[:, -NEW_TOKENS:], together[row : row + 1, -NEW_TOKENS:], repr(prompt))


@clause(
    "gen.position_ids_default",
    "strict",
    "forward without position_ids equals forward with cumsum(mask) - 1",
    requires=GEN,
)
def test_gen_position_ids_default(check: CheckContext) -> None:
    model = with_returned_cache(check)
    inputs = as_torch(prompts(check))
    explicit_positions = torch.from_numpy(positions(inputs["attention_mask"].numpy()))
    implicit = check.run(model, inputs, use_cache=True)
    explicit = check.run(model, {**inputs, "position_ids": explicit_positions}, use_cache=True)
    real = inputs["attention_mask"].bool()
    # A rotary model's logits do not see a constant shift of a row's positions (pads counted as
    # tokens): its cached keys do. The position a pad gets is free (transformers' generate gives pads
    # 1, the cumsum 0); through masked attention it moves real positions by float noise: the
    # registry's tolerance.
    atol = check.tolerance().atol
    with check.at("parity"):
        errors = {"logits": float((implicit.logits[real] - explicit.logits[real]).abs().max())}
        pairs = zip(*(cache_pairs(output(r, "past_key_values")) or () for r in (implicit, explicit)))
        for layer, (ours, theirs) in enumerate(pairs):
            keys = np.abs(as_numpy(ours[0]) - as_numpy(theirs[0])).swapaxes(1, 2)  # (batch, seq, heads, dim)
            errors[f"layer {layer} keys"] = float(keys[real.numpy()].max())
        worst = max(errors, key=errors.get)
        check.metrics.update(max_abs_err=errors[worst], atol=atol)
        assert errors[worst] <= atol, (
            f"default position_ids give {worst} {errors[worst]:.3g} away from cumsum(mask) - 1"
        )


@clause(
    "gen.default_attention_mask",
    "core",
    "no attention_mask means all ones, at prefill and in generate()",
    requires=GEN,
)
def test_gen_default_attention_mask(check: CheckContext) -> None:
    model = check.exported()
    ids = torch.from_numpy(check.inputs(batch_size=1)["input_ids"])
    ones = torch.ones_like(ids)
    with check.at("parity"):
        error = float(
            (
                check.run(model, {"input_ids": ids}).logits
                - check.run(model, {"input_ids": ids, "attention_mask": ones}).logits
            )
            .abs()
            .max()
        )
        assert error <= RELOAD_ATOL, f"no mask differs from an all-ones mask by {error:.3g}"
    generation_config = config(check)
    assert_same_tokens(
        check,
        tokens(check, model, {"input_ids": ids}, generation_config),
        tokens(check, model, {"input_ids": ids, "attention_mask": ones}, generation_config),
        "generate() without a mask",
    )


@clause(
    "gen.no_nan_padded",
    "strict",
    "a fully padded row gives no NaN in the logits or the cache",
    requires=GEN,
)
def test_gen_no_nan_padded(check: CheckContext) -> None:
    inputs = prompts(check)
    inputs["attention_mask"][-1] = 0  # one row is padding only
    inputs["input_ids"][-1] = SPECIAL_IDS["pad_token_id"]
    result = check.run(check.exported(), as_torch(inputs), use_cache=True)
    with check.at("parity"):
        assert not np.isnan(as_numpy(result.logits)).any(), "NaN in the logits"
        cache = cache_pairs(output(result, "past_key_values")) or ()
        assert not any(np.isnan(as_numpy(t)).any() for pair in cache for t in pair), "NaN in the cache"


# ---------------------------------------------------------------------- lengths


@clause(
    "gen.max_new_tokens",
    "core",
    "max_new_tokens and max_length give exactly the length asked for, as transformers",
    requires=GEN,
)
def test_gen_max_new_tokens(check: CheckContext) -> None:
    inputs = prompts(check)
    model = check.exported()
    prompt = inputs["input_ids"].shape[1]
    for name, options in {
        "max_new_tokens=3": {"max_new_tokens": 3, "min_new_tokens": 3},
        f"max_length={prompt + 5}": {
            "max_new_tokens": None,
            "min_new_tokens": None,
            "max_length": prompt + 5,
        },
    }.items():
        generation_config = config(check, **options)
        expected = check.generate_oracle(inputs, generation_config)["sequences"]
        got = tokens(check, model, inputs, generation_config)
        with check.at("parity"):
            assert got.shape[1] == expected.shape[1], (
                f"{name}: {got.shape[1] - prompt} new tokens, transformers {expected.shape[1] - prompt}"
            )
        assert_same_tokens(check, got, expected, name)


@clause(
    "gen.beyond_export_shapes",
    "core",
    "generating 48 new tokens, far past any export-time shape, gives transformers' tokens",
    requires=GEN,
)
def test_gen_beyond_export_shapes(check: CheckContext) -> None:
    inputs = prompts(check)
    generation_config = config(check, max_new_tokens=48, min_new_tokens=48)
    expected = check.generate_oracle(inputs, generation_config)["sequences"]
    assert_same_tokens(
        check, tokens(check, check.exported(), inputs, generation_config), expected, "48 new tokens"
    )


@clause(
    "gen.eos",
    "core",
    "generation stops at an eos, one id or a list, and pads the rest with pad_token_id, as transformers",
    requires=GEN,
)
def test_gen_eos(check: CheckContext) -> None:
    inputs = prompts(check)
    model = check.exported()
    greedy = check.generate_oracle(inputs, config(check))["sequences"]
    start = inputs["input_ids"].shape[1]
    # Tokens the rows emit early become eos ids: rows stop at different steps.
    early = [int(greedy[0, start + 1]), int(greedy[1, start + 2])]
    for eos in (early[0], [SPECIAL_IDS["eos_token_id"], *early]):
        generation_config = config(check, eos_token_id=eos, min_new_tokens=0)
        expected = check.generate_oracle(inputs, generation_config)["sequences"]
        with check.at("parity"):
            assert (expected[:, start:] == SPECIAL_IDS["pad_token_id"]).any(), (
                "the oracle never stopped early"
            )
        assert_same_tokens(
            check, tokens(check, model, inputs, generation_config), expected, f"eos_token_id={eos}"
        )


# ---------------------------------------------------------------------- round trip


@clause(
    "gen.generation_config_saved",
    "core",
    "save_pretrained writes generation_config.json equal to the model's, and fails if it cannot",
    requires=GEN,
)
def test_gen_generation_config_saved(check: CheckContext) -> None:
    model = check.exported()
    target = check.tmp_path / "saved"
    with check.at("save"):
        model.save_pretrained(target)
        written = target / "generation_config.json"
        assert written.is_file(), "no generation_config.json saved"
        saved = json.loads(written.read_text())
        for name in ("eos_token_id", "pad_token_id", "bos_token_id"):
            assert saved.get(name) == getattr(model.generation_config, name), (
                f"{name} saved as {saved.get(name)}"
            )

    class Unwritable(type(model.generation_config)):  # type: ignore[misc]
        def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("simulated failure writing generation_config.json")

    model.generation_config.__class__ = Unwritable
    with check.at("save"):
        try:
            model.save_pretrained(check.tmp_path / "unwritable")
        except OSError:
            pass
        else:
            raise AssertionError(
                "a failure writing generation_config.json was not an error (optimum-intel #717)"
            )


def _shipped(check: CheckContext) -> tuple[Path, int]:
    """A saved copy shipping a non-default generation_config.json: at most 5 new tokens, and an
    eos list whose second id is the first token row 0 emits. Returns (folder, that token)."""
    folder = check.saved_copy()
    inputs = prompts(check)
    greedy = check.generate_oracle(inputs, config(check))["sequences"]
    stop = int(greedy[0, inputs["input_ids"].shape[1]])
    shipped = {**SPECIAL_IDS, "max_new_tokens": 5, "eos_token_id": [SPECIAL_IDS["eos_token_id"], stop]}
    (folder / "generation_config.json").write_text(json.dumps(shipped))
    return folder, stop


def _assert_honours_shipped(check: CheckContext, model: Any, stop: int, where: str) -> None:
    inputs = as_torch(prompts(check))
    with check.at("infer"), torch.no_grad():
        result = model.generate(**inputs)  # nothing passed: the shipped config decides
    sequences = as_numpy(result if isinstance(result, torch.Tensor) else output(result, "sequences"))
    start = inputs["input_ids"].shape[1]
    with check.at("parity"):
        assert model.generation_config.max_new_tokens == 5, f"{where}: max_new_tokens not loaded"
        assert sequences.shape[1] <= start + 5, f"{where}: {sequences.shape[1] - start} new tokens, shipped 5"
        row = sequences[0, start:].tolist()
        assert row[0] == stop and all(t == SPECIAL_IDS["pad_token_id"] for t in row[1:]), (
            f"{where}: row 0 did not stop at the shipped eos {stop}: {row}"
        )


@clause(
    "gen.generation_config_loaded",
    "core",
    "a shipped non-default generation_config.json is honoured after load, reload and a Hub round trip",
    requires=GEN,
)
def test_gen_generation_config_loaded(check: CheckContext) -> None:
    folder, stop = _shipped(check)
    model = check.load(folder)
    _assert_honours_shipped(check, model, stop, "after load")
    with check.at("save"):
        model.save_pretrained(check.tmp_path / "again")
    _assert_honours_shipped(check, check.load(check.tmp_path / "again"), stop, "after reload")
    if not any(fnmatchcase("push.reload_equal", pattern) for pattern in check.spec.unsupported):
        repo_id = check.published("gen-config", folder)
        _assert_honours_shipped(
            check, check.load(repo_id, cache_dir=check.tmp_path / "cache"), stop, "from the Hub"
        )


@clause(
    "gen.saved_tokenizer",
    "strict",
    "the tokenizer saved beside the model pads on the left: a batch it pads generates transformers' tokens",
    requires=GEN,
)
def test_gen_saved_tokenizer(check: CheckContext) -> None:
    from transformers import AutoTokenizer

    target = check.tmp_path / "saved"
    model = check.exported()
    with check.at("save"):
        model.save_pretrained(target)
    if not (target / "tokenizer_config.json").is_file():
        not_run("the save holds no tokenizer (save.preprocessors judges that)")
    with check.at("reload"):
        tokenizer = AutoTokenizer.from_pretrained(target)
    batch = dict(tokenizer(PROMPTS, padding=True, return_tensors="np"))
    with check.at("save"):
        assert tokenizer.padding_side == "left", f"the saved tokenizer pads on the {tokenizer.padding_side}"
    generation_config = config(check)
    expected = check.generate_oracle(batch, generation_config)["sequences"]
    assert_same_tokens(
        check, tokens(check, model, batch, generation_config), expected, "saved tokenizer's batch"
    )


@clause(
    "gen.reload_equal",
    "core",
    "generate after save and reload equals generate before (beam 4)",
    requires=GEN,
)
def test_gen_reload_equal(check: CheckContext) -> None:
    inputs = prompts(check)
    generation_config = config(check, num_beams=4)
    model = check.export()
    before = tokens(check, model, inputs, generation_config)
    with check.at("save"):
        model.save_pretrained(check.tmp_path / "saved")
    with check.at("reload"):
        reloaded = check.load(check.tmp_path / "saved")
    assert_same_tokens(check, tokens(check, reloaded, inputs, generation_config), before, "after reload")


# ---------------------------------------------------------------------- state


@clause(
    "gen.outputs_not_aliased",
    "core",
    "the logits and cache of a step are unchanged by the next step and by another call",
    requires=GEN,
)
def test_gen_outputs_not_aliased(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(prompts(check))
    first = check.run(model, inputs, use_cache=True)
    logits = first.logits.clone()
    cache = [t.clone() for pair in cache_pairs(output(first, "past_key_values")) or () for t in pair]
    past = output(first, "past_key_values")
    if past is not None:
        mask = torch.cat([inputs["attention_mask"], torch.ones(BATCH, 1, dtype=torch.long)], 1)
        check.run(
            model, {"input_ids": torch.full((BATCH, 1), 7), "attention_mask": mask}, past_key_values=past
        )
    check.run(model, as_torch(check.inputs(batch_size=BATCH, sequence_length=5)))
    with check.at("infer"):
        assert torch.equal(first.logits, logits), "the logits of a call changed after later calls"
        after = [t for pair in cache_pairs(output(first, "past_key_values")) or () for t in pair]
        assert all(torch.equal(a, b) for a, b in zip(after, cache)), (
            "the returned cache changed after later calls"
        )


@clause(
    "gen.sequential_independent",
    "core",
    "a generate after another, on other prompts, equals the same generate on a fresh model",
    requires=GEN,
)
def test_gen_sequential_independent(check: CheckContext) -> None:
    inputs = prompts(check)
    generation_config = config(check)
    used = check.exported()
    tokens(check, used, inputs, generation_config)
    other = check.inputs(batch_size=2, sequence_length=5)
    assert_same_tokens(
        check,
        tokens(check, used, other, generation_config),
        tokens(check, check.exported(), other, generation_config),
        "a second generate",
    )


@clause(
    "gen.threads",
    "core",
    "8 threads x 20 generates on one model give the serial results",
    requires=GEN,
)
def test_gen_threads(check: CheckContext) -> None:
    model = check.exported()
    generation_config = config(check)
    batches = [check.inputs(batch_size=1, sequence_length=n, seed=n) for n in (3, 5, 7, 9)]
    serial = [tokens(check, model, b, generation_config) for b in batches]

    def call(thread: int, number: int) -> str | None:
        index = (thread + number) % len(batches)
        with torch.no_grad():
            got = as_numpy(model.generate(**as_torch(batches[index]), generation_config=generation_config))
        return None if np.array_equal(got, serial[index]) else f"prompt {index}: other tokens"

    in_threads(check, call, threads=8, calls=20)


# ---------------------------------------------------------------------- integration


@clause(
    "gen.pipeline",
    "core",
    'pipeline("text-generation") gives the torch pipeline\'s text',
    requires=GEN,
)
def test_gen_pipeline(check: CheckContext) -> None:
    import transformers

    source = check.source_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    options = {"max_new_tokens": NEW_TOKENS, "do_sample": False}
    with check.at("infer"):
        ours = transformers.pipeline(check.case.task, model=check.exported(), tokenizer=tokenizer)(
            PROMPTS[1], **options
        )
    oracle = check.oracle_model()
    with check.in_oracle():
        theirs = transformers.pipeline(check.case.task, model=oracle, tokenizer=tokenizer)(
            PROMPTS[1], **options
        )
    with check.at("parity"):
        assert ours == theirs, f"{ours} != torch pipeline {theirs}"
