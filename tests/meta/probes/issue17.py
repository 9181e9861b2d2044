"""Issue 17 independent probe: eight one-defect backends over the reference ORT backend.

Each is a mixin placed before the reference ORT task classes (tests.meta.defects.ort_spec), renamed
"probe-...". None is one of tests/meta/defects/*; each mimics a kind of bug reported upstream
(optimum / optimum-onnx / optimum-intel). Not registered defects and not collected by pytest: the
honest measure of what the suite catches, written after the clauses, not for them. Run with

    optimum-conformance run reference-ort tests.meta.probes.issue17:PROBE_A ... :PROBE_H -- \
        --arch bert --task text-classification

A defect is caught when a clause that passes on reference-ort fails on it: 2/8 at 7b0bdca, 7/8 at
fd9fab8 (the stale per-shape cache, D, was the miss); 8/8 since parity.new_inputs_same_shapes, whose
meta defect (broken-result-cache-by-shape) is D itself, so D is imported from there.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace

import numpy as np

from tests.meta.defects import ort_spec
from tests.meta.defects.parity import ResultCacheByShape


def _probe(mixin: type, name: str):
    return replace(ort_spec(mixin), name=name)


# A. fp16 export with float16 IO kept (keep_io_types=False): logits come back as float16.
class Float16Outputs:
    def _run(self, feed):
        return {k: v.astype(np.float16) if v.dtype.kind == "f" else v for k, v in super()._run(feed).items()}


# B. batched-output mis-indexing: with more than 4 rows, the last row's outputs are the first row's.
class LastRowFromFirst:
    def _run(self, feed):
        outputs = super()._run(feed)
        batch = len(feed[self.main_input_name])
        if batch > 4:
            for value in outputs.values():
                if value.ndim and value.shape[0] == batch:
                    value[-1] = value[0]
        return outputs


# C. IO binding on the torch path: "logits" only is written into a preallocated per-shape buffer that
#    the returned torch tensor shares, so the next torch call of that shape overwrites earlier results.
class TorchLogitsIoBinding:
    def forward(self, *args, return_dict=None, **inputs):
        self._torch_call = any(type(v).__module__.startswith("torch") for v in (*args, *inputs.values()))
        return super().forward(*args, return_dict=return_dict, **inputs)

    def _run(self, feed):
        outputs = super()._run(feed)
        if getattr(self, "_torch_call", False) and "logits" in outputs:
            buffers = self.__dict__.setdefault("_bound", {})
            value = outputs["logits"]
            key = (value.shape, value.dtype.str)
            if key not in buffers:
                buffers[key] = np.empty_like(value)
            buffers[key][...] = value
            outputs["logits"] = buffers[key]
        return outputs


# D. a per-instance result cache keyed by the input shapes (meant to skip re-binding per shape), which
#    returns the first result for any later inputs of the same shapes. Now a registered meta defect.
StaleShapeCache = ResultCacheByShape


# E. a generated model card that records how to reload the model, hub token included.
class TokenInModelCard:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        token = kwargs.get("token")
        model._load_token = token if isinstance(token, str) else None
        return model

    def _save_pretrained(self, save_directory):
        super()._save_pretrained(save_directory)
        token = getattr(self, "_load_token", None) or os.environ.get("HF_TOKEN")
        if not token:
            try:
                from huggingface_hub import get_token

                token = get_token()
            except Exception:
                token = None
        card = (
            "---\nlibrary_name: optimum\ntags: [onnx]\n---\n# Exported model\n\n"
            f"Reload with `ORTModel.from_pretrained({self.name_or_path!r}, token={token!r})`.\n"
        )
        (save_directory / "README.md").write_text(card)


# F. the saved tokenizer loses its casing rule: tokenizer.json's normalizer lowercase is flipped
#    (and do_lower_case too where tokenizer_config.json has it).
class UnlowercasedTokenizerSave:
    def _save_pretrained(self, save_directory):
        super()._save_pretrained(save_directory)
        tok = save_directory / "tokenizer.json"
        if tok.is_file():
            data = json.loads(tok.read_text())
            normalizer = data.get("normalizer") or {}
            if "lowercase" in normalizer:
                normalizer["lowercase"] = not normalizer["lowercase"]
            tok.write_text(json.dumps(data))
        cfg = save_directory / "tokenizer_config.json"
        if cfg.is_file():
            data = json.loads(cfg.read_text())
            if "do_lower_case" in data:
                data["do_lower_case"] = not data["do_lower_case"]
                cfg.write_text(json.dumps(data))


# G. a per-call profiling dump in the temp folder, never deleted.
class TempFilePerCall:
    def _run(self, feed):
        handle, _path = tempfile.mkstemp(prefix="ort_profile_", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump({k: list(v.shape) for k, v in feed.items()}, file)
        return super()._run(feed)


# H. a static 48-token window: longer sequences silently attend only to their first 48 tokens.
class AttendsFirst48Only:
    def _run(self, feed):
        if "attention_mask" in feed and feed["attention_mask"].shape[-1] > 48:
            feed = dict(feed)
            mask = feed["attention_mask"].copy()
            mask[:, 48:] = 0
            feed["attention_mask"] = mask
        return super()._run(feed)


PROBE_A = _probe(Float16Outputs, "probe-float16-outputs")
PROBE_B = _probe(LastRowFromFirst, "probe-last-row-from-first-above-4")
PROBE_C = _probe(TorchLogitsIoBinding, "probe-torch-logits-io-binding-buffer")
PROBE_D = _probe(StaleShapeCache, "probe-stale-shape-cache")
PROBE_E = _probe(TokenInModelCard, "probe-token-in-model-card")
PROBE_F = _probe(UnlowercasedTokenizerSave, "probe-unlowercased-tokenizer-save")
PROBE_G = _probe(TempFilePerCall, "probe-temp-file-per-call")
PROBE_H = _probe(AttendsFirst48Only, "probe-attends-first-48-only")
