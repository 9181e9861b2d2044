"""The check catalogue: stable ids, level and one line each (DESIGN.md §3).

A check is a test function named `test_<family>_<name>` in `conformance/checks/`; its id is
`<family>.<name>`. core = what the Optimum contract promises; strict = what the reference
guarantees beyond it.
"""

from __future__ import annotations

FAMILIES = ("load", "parity", "precision", "gen", "save", "push", "input")

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
    # precision tiers (BackendSpec.precisions), where the CPU computes in them
    "precision.applied": (
        "core",
        "a declared precision tier computes in that precision, within its tolerance of PyTorch fp32",
    ),
    "precision.trained_embeddings": (
        "core",
        "in the tier, trained all-MiniLM-L6-v2 keeps its token embeddings (cosine to PyTorch fp32)",
    ),
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
    # load (Hub)
    "load.hub": ("core", "loads from a Hub repo id"),
    "load.hub_subfolder": ("core", "loads from a subfolder of a Hub repo"),
    "load.config_root_fallback_hub": (
        "core",
        "Hub repo: artifacts in a subfolder, config.json only at the root",
    ),
    "load.revision_branch": ("core", "revision= loads a branch"),
    "load.local_files_only": ("core", "local_files_only=True loads from the cache with no connection at all"),
    "load.offline_env": ("core", "HF_HUB_OFFLINE=1 loads from the cache with no connection at all"),
    "load.local_files_only_uncached": (
        "strict",
        "nothing cached + local_files_only: typed error, fast, no network",
    ),
    "load.token_private": ("core", "a private repo loads with its owner's token, not with another's"),
    "load.cache_dir": ("core", "cache_dir= is where the files are downloaded"),
    "load.config_subfolder_preferred": (
        "strict",
        "with config.json in the subfolder and the root, the subfolder's wins",
    ),
    "load.subfolder_isolation": ("strict", "artifacts at the root do not leak into a subfolder load"),
    "load.revision_sha": ("strict", "revision=<commit sha> loads that commit"),
    "load.legacy_at_revision": ("core", "the legacy 'org/name@revision' form loads that revision"),
    "load.force_download": ("strict", "force_download=True replaces damaged cached files"),
    "load.default_artifact_deterministic": ("strict", "the standard artifact name wins over other artifacts"),
    "load.library_unknown": ("core", "a folder of an unsupported library is refused with an error"),
    "load.external_data": (
        "strict",
        "ONNX external data under every naming convention loads, locally and from the Hub, and re-saves",
    ),
    "load.trust_remote_code": (
        "core",
        "custom code is refused (and not run) without trust_remote_code=True, and loads with it",
    ),
    "load.export_task_from_class": ("core", "the export task comes from the class, not the config or card"),
    "load.library_timm": ("core", "a timm checkpoint on the Hub is exported and matches timm"),
    "load.library_sentence_transformers": (
        "core",
        "a sentence-transformers repo loads as feature extraction and matches sentence-transformers",
    ),
    # push
    "push.reload_equal": ("core", "push then load from the Hub gives the same outputs (1e-7)"),
    "push.manifest": ("core", "the repo holds exactly the saved files"),
    "push.paths_preserved": ("strict", "nested files keep their relative paths"),
    "push.single_commit": ("strict", "one push is one commit, and push_to_hub returns its URL"),
    "push.private_token": ("core", "private=True makes a repo only its owner sees"),
    "push.revision_pr_message": ("strict", "revision=, create_pr= and commit_message= are honoured"),
    "push.via_save_pretrained": ("core", "save_pretrained(push_to_hub=True, repository_id=...) pushes"),
    # bad input
    "input.unknown_repo": ("core", "an unknown repo id: RepositoryNotFoundError naming it"),
    "input.missing_local_path": ("core", "a path that does not exist: an error naming it"),
    "input.dir_without_config": ("core", "a folder without config.json: an error saying so"),
    "input.dir_without_weights": ("core", "a folder with only a config: FileNotFoundError"),
    "input.file_name_missing": ("core", "file_name= that does not exist: FileNotFoundError naming it"),
    "input.arch_task_mismatch": (
        "core",
        "an architecture that cannot do the task: ValueError naming the task",
    ),
    "input.unknown_model_type": ("core", "an unknown model_type: an error naming it"),
    "input.unknown_provider_or_device": ("core", "an unknown provider/device: ValueError naming it"),
    "input.unknown_kwarg": ("core", "an unknown keyword argument: TypeError naming it"),
    "input.missing_required_input": ("core", "forward without its main input: an error naming it"),
    "input.corrupt_artifact": ("core", "truncated, garbled and empty artifacts: an error naming the file"),
    "input.offline_missing_subfolder": ("core", "offline, a subfolder not in the cache: an error naming it"),
    "input.hub_faults": (
        "core",
        "5xx, cut connections and a slow Hub during push and pull: a clean error in bounded time, "
        "the repo unchanged, no partial file in the cache",
    ),
}


def check_id(function_name: str) -> str:
    """`test_parity_pytorch` -> `parity.pytorch`."""
    name = function_name.removeprefix("test_")
    family, _, rest = name.partition("_")
    return f"{family}.{rest}"


def level(check: str) -> str:
    return CHECKS[check][0] if check in CHECKS else "core"
