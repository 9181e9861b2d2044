"""The check catalogue: stable ids, level and one line each (DESIGN.md §3).

A check is a test function named `test_<family>_<name>` in `conformance/checks/`; its id is
`<family>.<name>`. core = what the Optimum contract promises; strict = what the reference
guarantees beyond it.
"""

from __future__ import annotations

FAMILIES = ("load", "parity", "gen", "save", "push", "input")

CHECKS: dict[str, tuple[str, str]] = {
    # parity
    "parity.pytorch": ("core", "outputs match PyTorch within tolerance (padded positions excluded)"),
    "parity.output_type": ("core", "returns the same ModelOutput subclass as the transformers model"),
    "parity.tensor_type": ("core", "torch inputs give torch outputs, numpy inputs numpy outputs"),
    "parity.return_dict_false": ("strict", "return_dict=False gives a tuple of the same values"),
    "parity.batch_padding": ("core", "each padded row equals that row run alone, on unmasked positions"),
    "parity.dynamic_shapes": ("core", "other batch and sequence sizes on the same model still match"),
    "parity.default_inputs": ("core", "optional inputs left out are filled as transformers would"),
    "parity.input_dtypes": ("strict", "int32 ids and float64 pixels are cast, not refused"),
    "parity.determinism": ("strict", "two calls on the same inputs give identical outputs"),
    "parity.real_weights": ("core", "a trained checkpoint (all-MiniLM-L6-v2) matches PyTorch"),
    # save
    "save.reload_equal": ("core", "save then reload gives the same outputs (1e-7)"),
    "save.manifest": ("core", "the saved folder holds config, artifacts, preprocessors and nothing else"),
    "save.preprocessors": ("strict", "the tokenizer / image processor is saved beside the model"),
    "save.flatten_subfolder": ("strict", "a model loaded from a subfolder saves flat and reloads"),
    "save.into_source_dir": ("strict", "saving into the folder the model was loaded from works"),
    "save.to_file_path": ("strict", "saving to an existing file path raises"),
    "save.overwrite": ("strict", "saving twice into a folder works and keeps unrelated files"),
    "save.after_export_gc": ("core", "a model exported on the fly can be saved after garbage collection"),
    "save.atomic": ("strict", "a save that fails leaves the target folder exactly as it was"),
    # load (local)
    "load.local_dir": ("core", "loads a saved model from a local folder"),
    "load.export": ("core", "export=True converts a PyTorch checkpoint"),
    "load.export_legacy_hook": ("core", "export=True calls _from_transformers when the class defines it"),
    "load.auto_export": ("core", "a PyTorch-only folder is exported without export=True"),
    "load.reexport": ("core", "export=True re-exports even when artifacts are present"),
    "load.config_root_fallback": ("core", "artifacts in a subfolder with config.json only at the root"),
    "load.file_name": ("core", "file_name= picks one of several artifacts"),
    "load.config_object": ("core", "a config= object is used as is"),
    "load.config_path": ("core", "a config= path is loaded from there"),
    "load.instance_attributes": ("core", "config, device, dtype, can_generate(), preprocessors"),
    "load.pipeline": ("core", "works in transformers.pipeline with the PyTorch result"),
    "load.call_is_forward": ("core", "__call__ is forward"),
    "load.backend_kwargs_reach_runtime": ("core", "backend options reach the runtime object"),
}


def check_id(function_name: str) -> str:
    """`test_parity_pytorch` -> `parity.pytorch`."""
    name = function_name.removeprefix("test_")
    family, _, rest = name.partition("_")
    return f"{family}.{rest}"


def level(check: str) -> str:
    return CHECKS[check][0] if check in CHECKS else "core"
