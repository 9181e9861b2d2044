"""Reference causal LMs (ONNX Runtime, OpenVINO stateful and stateless, IPEX) against transformers.

Every zoo decoder, on a left-padded batch of 3 with in-vocabulary bos/eos/pad: greedy, beam 4 and
seeded sampling give transformers' tokens, with and without the cache; prefill logits match on
real positions. Then saving, the generation config, the pipeline, threads, aliasing and errors.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

from conformance.families.causal_lm import CAUSAL_LM, PROMPTS, SPECIAL_IDS
from tests.refimpl.backends import sweep

TASK = "text-generation"
ARCHS = [arch.name for arch in CAUSAL_LM.archs]
# name -> (module, class, export kwargs)
BACKENDS = {
    "ort": ("reference.onnxruntime", "ORTModelForCausalLM", {}),
    "ov": ("reference.openvino", "OVModelForCausalLM", {}),
    "ov-stateless": ("reference.openvino", "OVModelForCausalLM", {"stateful": False}),
    "ipex": ("reference.ipex", "IPEXModelForCausalLM", {}),
}
MODES = {
    "greedy": {"do_sample": False},
    "beam4": {"do_sample": False, "num_beams": 4},
    "sampling": {"do_sample": True, "top_k": 0},
}
NEW_TOKENS = 8
LOGITS_ATOL = 1e-4


def model_class(backend: str) -> Any:
    module, name, _ = BACKENDS[backend]
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:  # IPEX lives in a version set of its own
        pytest.skip(f"backend {backend} not importable here: {error}")


@pytest.fixture(scope="session")
def zoo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("causal-zoo")


_built: dict[tuple, Path] = {}


def checkpoint(arch: str, root: Path) -> Path:
    """The arch's random checkpoint, built once per session."""
    if arch not in _built:
        spec = CAUSAL_LM.arch(arch)
        folder = root / arch
        CAUSAL_LM.build(spec, TASK, CAUSAL_LM.config_kwargs(spec, TASK, {}), folder)
        _built[arch] = folder
    return _built[arch]


def exported(backend: str, arch: str, root: Path, use_cache: bool = True) -> Path:
    """A saved export of the arch, made once per session."""
    key = (backend, arch, use_cache)
    if key not in _built:
        folder = root / f"{backend}-{arch}-{'cache' if use_cache else 'nocache'}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_class(backend).from_pretrained(
                checkpoint(arch, root), export=True, use_cache=use_cache, **BACKENDS[backend][2]
            )
        model.save_pretrained(folder)
        _built[key] = folder
    return _built[key]


def load(backend: str, folder: Path, **kwargs: Any) -> Any:
    return model_class(backend).from_pretrained(folder, **kwargs)


def batch(folder: Path) -> dict[str, torch.Tensor]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return dict(tokenizer(PROMPTS, padding=True, return_tensors="pt"))


def generation_config(use_cache: bool = True, **mode: Any) -> transformers.GenerationConfig:
    return transformers.GenerationConfig(
        max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, use_cache=use_cache, **SPECIAL_IDS, **mode
    )


def generate(
    model: Any, inputs: dict[str, torch.Tensor], config: transformers.GenerationConfig
) -> torch.Tensor:
    torch.manual_seed(7)
    with torch.no_grad():
        return model.generate(**inputs, generation_config=config)


def oracle(arch: str, root: Path) -> Any:
    return CAUSAL_LM.load_oracle(checkpoint(arch, root), TASK)


def positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


# ---------------------------------------------------------------------- parity, every arch


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("arch", sweep(ARCHS, lambda arch: (arch, TASK)))
def test_generate_matches_transformers(backend: str, arch: str, zoo_root: Path) -> None:
    torch_model = oracle(arch, zoo_root)
    inputs = batch(checkpoint(arch, zoo_root))
    assert (inputs["attention_mask"][:, 0] == 0).any(), "the batch must be left-padded"
    cached = load(backend, exported(backend, arch, zoo_root))
    cacheless = load(backend, exported(backend, arch, zoo_root, use_cache=False))
    for mode, options in MODES.items():
        expected = generate(torch_model, inputs, generation_config(**options))
        for model, use_cache in ((cached, True), (cached, False), (cacheless, False)):
            got = generate(model, inputs, generation_config(use_cache=use_cache, **options))
            assert torch.equal(got, expected), (
                f"{mode}, use_cache={use_cache}: {got.tolist()} != {expected.tolist()}"
            )


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("arch", sweep(ARCHS, lambda arch: (arch, TASK)))
def test_prefill_logits_match_on_real_positions(backend: str, arch: str, zoo_root: Path) -> None:
    torch_model = oracle(arch, zoo_root)
    inputs = batch(checkpoint(arch, zoo_root))
    extra = {"position_ids": positions(inputs["attention_mask"])}
    if "position_ids" not in inspect.signature(torch_model.forward).parameters:
        extra = {}  # bloom: ALiBi follows the mask
    with torch.no_grad():
        expected = torch_model(**inputs, **extra).logits
    got = load(backend, exported(backend, arch, zoo_root))(**inputs).logits
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    real = inputs["attention_mask"].bool()
    assert torch.allclose(got[real], expected[real], atol=LOGITS_ATOL), (
        (got[real] - expected[real]).abs().max()
    )
    assert not torch.isnan(got).any(), "NaN on padded rows"


# ---------------------------------------------------------------------- forward contract (one arch)

ARCH = "llama"


# More of generate()'s options, on two archs: sampling with beams, a length limit counted with the
# prompt, and a list of eos ids (one of them frequent, so rows stop at different steps).
OPTIONS = {
    "beam-sampling": {"num_beams": 4, "do_sample": True, "top_k": 0, "max_new_tokens": NEW_TOKENS},
    "max_length": {"max_length": 14},
    "eos-list": {"eos_token_id": [SPECIAL_IDS["eos_token_id"], 5, 9], "max_new_tokens": NEW_TOKENS},
}


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_more_generate_options_match_transformers(backend: str, arch: str, zoo_root: Path) -> None:
    torch_model = oracle(arch, zoo_root)
    inputs = batch(checkpoint(arch, zoo_root))
    model = load(backend, exported(backend, arch, zoo_root))
    for name, options in OPTIONS.items():
        config = transformers.GenerationConfig(**{**SPECIAL_IDS, **options})
        expected = generate(torch_model, inputs, config)
        got = generate(model, inputs, config)
        assert torch.equal(got, expected), f"{name}: {got.tolist()} != {expected.tolist()}"
    assert got.shape[1] <= inputs["input_ids"].shape[1] + NEW_TOKENS
    assert (
        generate(model, inputs, transformers.GenerationConfig(**SPECIAL_IDS, **OPTIONS["max_length"])).shape[
            1
        ]
        == 14
    )


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_assisted_generation_gives_the_greedy_tokens(backend: str, zoo_root: Path) -> None:
    """A draft model of another arch (same tokenizer, other weights) proposes tokens the main model
    mostly rejects, so both caches are cropped back at nearly every step; greedy assisted decoding
    must still give plain greedy's tokens. A stateful model cannot roll its state back: generate()
    refuses it with a clear error."""
    prompt = {k: v[:1] for k, v in batch(checkpoint("llama", zoo_root)).items()}  # assisted: batch 1
    prompt = {k: v[:, v.shape[1] - int(prompt["attention_mask"].sum()) :] for k, v in prompt.items()}
    config = transformers.GenerationConfig(max_new_tokens=NEW_TOKENS, do_sample=False, **SPECIAL_IDS)
    expected = generate(oracle("llama", zoo_root), prompt, config)
    main = load(backend, exported(backend, "llama", zoo_root))
    draft = load(backend, exported(backend, "gpt2", zoo_root))
    if getattr(main, "stateful", False):
        with pytest.raises(ValueError, match="stateful"):
            main.generate(**prompt, generation_config=config, assistant_model=draft)
        return
    draft_alone = generate(draft, prompt, config)
    assert not torch.equal(draft_alone, expected), "the draft must disagree, or nothing gets cropped"
    got = main.generate(**prompt, generation_config=config, assistant_model=draft)
    assert torch.equal(got, expected), f"{got.tolist()} != {expected.tolist()}"


@pytest.mark.parametrize("backend", ["ov", "ov-stateless"])
def test_openvino_reshape_fixes_the_batch_only(backend: str, zoo_root: Path) -> None:
    inputs = batch(checkpoint("llama", zoo_root))
    config = generation_config(do_sample=False)
    expected = generate(oracle("llama", zoo_root), inputs, config)
    model = load(backend, exported(backend, "llama", zoo_root)).reshape(len(PROMPTS))
    assert all(port.get_partial_shape()[0].get_length() == len(PROMPTS) for port in model.model.inputs)
    assert torch.equal(generate(model, inputs, config), expected)
    with pytest.raises(ValueError, match="only the batch size"):
        model.reshape(len(PROMPTS), 16)
    with pytest.raises(ValueError, match=r"takes \[3,\?\]"):  # another batch: a clear error
        generate(model, {k: v[:2] for k, v in inputs.items()}, config)


@pytest.mark.parametrize("arch", [a for a in ARCHS if a != "bloom"])  # ALiBi: no SDPA op in torch either
def test_openvino_decoder_keeps_attention_as_one_op(arch: str, zoo_root: Path) -> None:
    """The fast route, taken: the CPU plugin runs each layer's attention as one SDPA node that holds
    its KV state (from the ONNX route, the cache is concatenated anew at every step)."""
    model = load("ov", exported("ov", arch, zoo_root)).compile()
    runtime = model.compiled_model.get_runtime_model()
    kinds = [op.get_rt_info()["layerType"].astype(str) for op in runtime.get_ordered_ops()]
    assert kinds.count("ScaledDotProductAttention") == model.config.num_hidden_layers, (
        f"{arch}: attention is not fused with its state"
    )


@pytest.mark.parametrize("stateful", [True, False], ids=["stateful", "stateless"])
def test_openvino_decoder_falls_back_to_onnx(
    stateful: bool, zoo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reference.openvino import export

    def cannot_convert(plan: object) -> None:
        raise RuntimeError("the frontend cannot convert this module (simulated)")

    monkeypatch.setattr(export, "_convert_module", cannot_convert)
    model = model_class("ov").from_pretrained(checkpoint("llama", zoo_root), export=True, stateful=stateful)
    inputs = batch(checkpoint("llama", zoo_root))
    for mode in ("greedy", "beam4"):
        config = generation_config(**MODES[mode])
        assert torch.equal(
            generate(model, inputs, config), generate(oracle("llama", zoo_root), inputs, config)
        )


def test_pair_cache_crops_by_length_and_from_the_end() -> None:
    from reference.generation import PairCache

    keys = torch.arange(2 * 1 * 6 * 1.0).reshape(2, 1, 6, 1)
    cache = PairCache([(keys, keys + 1)])
    assert cache.get_seq_length() == 6 and cache.is_croppable
    cache.crop(4)  # transformers 4.5x: keep the first 4
    assert cache.get_seq_length() == 4 and torch.equal(cache[0][0], keys[:, :, :4])
    cache.crop(-1)  # transformers 5: drop the last one
    assert cache.get_seq_length() == 3 and torch.equal(cache[0][1], keys[:, :, :3] + 1)
    assert torch.equal(keys, torch.arange(12.0).reshape(2, 1, 6, 1)), "crop must not write into the arrays"


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_forward_defaults_and_numpy(backend: str, zoo_root: Path) -> None:
    model = load(backend, exported(backend, ARCH, zoo_root))
    inputs = batch(checkpoint(ARCH, zoo_root))
    mask = inputs["attention_mask"]
    explicit = model(**inputs, position_ids=positions(mask)).logits
    assert torch.equal(model(**inputs).logits, explicit)  # position_ids from the mask
    ones = torch.ones_like(mask)
    assert torch.equal(
        model(inputs["input_ids"]).logits, model(inputs["input_ids"], attention_mask=ones).logits
    )
    numpy_out = model(**{k: v.numpy() for k, v in inputs.items()})
    assert isinstance(numpy_out.logits, np.ndarray)
    np.testing.assert_array_equal(numpy_out.logits, explicit.numpy())


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_each_row_of_a_padded_batch_equals_the_prompt_alone(backend: str, zoo_root: Path) -> None:
    folder = exported(backend, ARCH, zoo_root)
    model = load(backend, folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    config = generation_config()
    together = generate(model, batch(folder), config)[:, -NEW_TOKENS:]
    for row, prompt in enumerate(PROMPTS):
        alone = generate(model, dict(tokenizer([prompt], return_tensors="pt")), config)[:, -NEW_TOKENS:]
        assert torch.equal(alone[0], together[row]), prompt


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_outputs_are_not_overwritten_by_later_steps(backend: str, zoo_root: Path) -> None:
    model = load(backend, exported(backend, ARCH, zoo_root))
    inputs = batch(checkpoint(ARCH, zoo_root))
    first = model(**inputs)
    logits, cache = first.logits.clone(), [t.clone() for pair in first.past_key_values for t in pair]
    step = model(
        input_ids=torch.full((3, 1), 7),
        attention_mask=torch.cat([inputs["attention_mask"], torch.ones(3, 1, dtype=torch.long)], 1),
        past_key_values=first.past_key_values,
    )
    model(**batch(checkpoint(ARCH, zoo_root)))  # another call on the same buffers
    assert torch.equal(first.logits, logits)
    assert all(torch.equal(a, b) for a, b in zip((t for p in first.past_key_values for t in p), cache))
    assert step.logits.shape == (3, 1, logits.shape[-1])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_successive_generates_are_independent(backend: str, zoo_root: Path) -> None:
    folder = exported(backend, ARCH, zoo_root)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    config = generation_config()
    used = load(backend, folder)
    first, second = (dict(tokenizer([p], return_tensors="pt")) for p in PROMPTS[:2])
    generate(used, first, config)
    assert torch.equal(generate(used, second, config), generate(load(backend, folder), second, config))


# ---------------------------------------------------------------------- saving and the generation config


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_save_reload_same_tokens_and_generation_config(backend: str, zoo_root: Path, tmp_path: Path) -> None:
    model = load(backend, exported(backend, ARCH, zoo_root))
    inputs = batch(checkpoint(ARCH, zoo_root))
    before = generate(model, inputs, generation_config(num_beams=4))
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "generation_config.json").read_text())
    assert (saved["eos_token_id"], saved["pad_token_id"]) == (
        SPECIAL_IDS["eos_token_id"],
        SPECIAL_IDS["pad_token_id"],
    )
    reloaded = load(backend, tmp_path / "saved")
    assert torch.equal(generate(reloaded, inputs, generation_config(num_beams=4)), before)
    assert reloaded.generation_config.eos_token_id == SPECIAL_IDS["eos_token_id"]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_shipped_generation_config_is_honoured(backend: str, zoo_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(exported(backend, ARCH, zoo_root), folder)
    inputs = batch(folder)
    greedy = generate(load(backend, folder), inputs, generation_config())
    stop = int(
        greedy[0, inputs["input_ids"].shape[1]]
    )  # the first token row 0 emits (min_new_tokens: no eos)
    config = {**SPECIAL_IDS, "max_new_tokens": 5, "eos_token_id": [SPECIAL_IDS["eos_token_id"], stop]}
    (folder / "generation_config.json").write_text(json.dumps(config))
    model = load(backend, folder)
    assert model.generation_config.max_new_tokens == 5
    with torch.no_grad():
        out = model.generate(**inputs)  # the shipped config, nothing passed
    assert out.shape[1] <= inputs["input_ids"].shape[1] + 5
    row = out[0, inputs["input_ids"].shape[1] :].tolist()
    assert row[0] == stop and all(t == SPECIAL_IDS["pad_token_id"] for t in row[1:]), row  # stopped at once
    model.save_pretrained(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "generation_config.json").read_text())["max_new_tokens"] == 5


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_pipeline_gives_the_torch_pipelines_text(backend: str, zoo_root: Path) -> None:
    folder = exported(backend, ARCH, zoo_root)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    options = {"max_new_tokens": 6, "do_sample": False}
    ours = transformers.pipeline(TASK, model=load(backend, folder), tokenizer=tokenizer)(
        PROMPTS[1], **options
    )
    theirs = transformers.pipeline(TASK, model=oracle(ARCH, zoo_root), tokenizer=tokenizer)(
        PROMPTS[1], **options
    )
    assert ours == theirs and len(ours[0]["generated_text"]) > len(PROMPTS[1])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_use_cache_false_graph_has_no_past(backend: str, zoo_root: Path) -> None:
    model = load(backend, exported(backend, ARCH, zoo_root, use_cache=False))
    assert not model.use_cache and not model.past_names
    assert model.config.use_cache is False and model.generation_config.use_cache is False
    assert model(**batch(checkpoint(ARCH, zoo_root))).past_key_values is None


# ---------------------------------------------------------------------- threads


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_threads_get_the_serial_results(backend: str, zoo_root: Path) -> None:
    folder = exported(backend, ARCH, zoo_root)
    model = load(backend, folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    prompts = [dict(tokenizer([p], return_tensors="pt")) for p in (*PROMPTS, "hello", "the dog is good")]
    config = generation_config()
    serial = [generate(model, p, config) for p in prompts]
    assert_threads_agree(lambda i: generate(model, prompts[i % len(prompts)], config), serial, calls=5)


def assert_threads_agree(call: Any, serial: list, threads: int = 8, calls: int = 20) -> None:
    """`threads` threads, `calls` calls each (call i gets input i % len(serial)): every result as serial."""
    wrong: list[str] = []
    barrier = threading.Barrier(threads)

    def work(thread: int) -> None:
        barrier.wait()
        for i in range(calls):
            index = thread + i
            result = call(index)
            expected = serial[index % len(serial)]
            same = (
                torch.equal(result, expected)
                if isinstance(result, torch.Tensor)
                else np.array_equal(result, expected)
            )
            if not same:
                wrong.append(f"thread {thread} call {i}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not wrong, f"{len(wrong)} of {threads * calls} calls differ from serial: {wrong[:5]}"


def test_openvino_encoder_threads_get_the_serial_results(tmp_path: Path) -> None:
    from conformance import zoo
    from reference.openvino import OVModelForSequenceClassification

    source = zoo.build("bert", "text-classification")
    model = OVModelForSequenceClassification.from_pretrained(source, export=True)
    inputs = [zoo.sample_inputs(source, "text-classification", seed=seed) for seed in range(4)]
    serial = [model(**feed).logits for feed in inputs]
    assert_threads_agree(lambda i: model(**inputs[i % 4]).logits, serial)


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_use_cache_true_on_a_cacheless_artifact_is_a_clear_error(backend: str, zoo_root: Path) -> None:
    folder = exported(backend, ARCH, zoo_root, use_cache=False)
    with pytest.raises(ValueError, match=r"use_cache=False.*export again"):
        load(backend, folder, use_cache=True)
    model = load(backend, folder)
    with pytest.raises(ValueError, match="without a KV cache"):
        model(**batch(folder), use_cache=True)


def test_stateful_mismatch_is_a_clear_error(zoo_root: Path) -> None:
    with pytest.raises(ValueError, match=r"stateful=True was asked.*stateful=False"):
        load("ov-stateless", exported("ov-stateless", ARCH, zoo_root), stateful=True)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_past_of_the_wrong_length_is_a_clear_error(backend: str, zoo_root: Path) -> None:
    model = load(backend, exported(backend, ARCH, zoo_root))
    inputs = batch(checkpoint(ARCH, zoo_root))
    past = model(**inputs).past_key_values
    with pytest.raises(ValueError, match="past"):
        model(input_ids=torch.full((3, 1), 7), attention_mask=inputs["attention_mask"], past_key_values=past)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_an_architecture_that_cannot_generate_is_a_clear_error(backend: str) -> None:
    from conformance import zoo

    with pytest.raises(ValueError, match="cannot do the task 'text-generation'"):
        model_class(backend).from_pretrained(zoo.build("vit", "image-classification"), export=True)


def test_openvino_at_f32_keeps_the_kv_cache_in_f32(zoo_root: Path) -> None:
    """The CPU plugin's own default is u8, unless the caller asks for it."""
    import openvino as ov

    folder = exported("ov", ARCH, zoo_root)
    assert load("ov", folder).compile().compiled_model.get_property("KV_CACHE_PRECISION") == ov.Type.f32
    chosen = load("ov", folder, ov_config={"KV_CACHE_PRECISION": "u8"}).compile().compiled_model
    assert chosen.get_property("KV_CACHE_PRECISION") == ov.Type.u8


class _TorchThreadsSeen(transformers.LogitsProcessor):
    """Notes torch's thread count at each step of generate()."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.seen.add(torch.get_num_threads())
        return scores


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_generate_runs_torch_on_one_thread_unless_the_graph_is_torch(backend: str, zoo_root: Path) -> None:
    """ORT and OpenVINO: torch on one thread during generate(), the caller's count back after, also
    when generates in two threads overlap. IPEX's graph is torch: its threads are left alone."""
    model = load(backend, exported(backend, ARCH, zoo_root))
    inputs = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = [_TorchThreadsSeen() for _ in range(2)]

        def generate(processor: _TorchThreadsSeen) -> None:
            model.generate(**inputs, max_new_tokens=4, do_sample=False, logits_processor=[processor])

        workers = [threading.Thread(target=generate, args=(processor,)) for processor in seen]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        expected = {2} if backend == "ipex" else {1}
        assert [processor.seen for processor in seen] == [expected, expected]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
