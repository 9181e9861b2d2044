"""The reference `OptimizedModel`: the loading, IO and save contract done once for every backend.

`from_pretrained` is a template method: it lists files, resolves the config and the library,
decides between loading artifacts and exporting, then calls a hook. The base owns all of that,
and feeding inputs, wrapping outputs and saving. A model holds named components,
`self.components: dict[str, Runtime]` (`"model"` for every class today; `"encoder"` and
`"decoder"` later), each a `reference.runtime.Runtime`: the only runtime-specific objects.
A backend class sets six class attributes and needs no method (it may add its runtime's own API,
as OVModel adds compile, reshape, half and to):

    runtime_class        its Runtime (companions, load, io, run, save; see reference/runtime.py)
    exporter             exporter(plan, path, **export_kwargs): an `ExportPlan` -> artifact file
    artifact_pattern     regex of its artifact file names (e.g. r".*\\.onnx$")
    default_file_name    the standard artifact name of the "model" component (e.g. "model.onnx")
    runtime_kwargs       names `runtime_class.load` accepts (e.g. provider, session_options)
    export_kwargs        names `exporter` accepts (e.g. opset)

The hooks of the single-runtime design stay model methods, delegating to the "model" component,
so that a subclass can still override them: `_export_artifacts`, `_artifact_companions(path)`,
`_load_runtime(path, **kw)`, `_run(feed)`, `_save_pretrained(directory)`; `model.model` is that
component's runtime object and `model.model_path` its file. A task class sets `export_feature`
(the task name); `auto_model_class` and `can_generate()` follow from it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reference import hub, tasks
from reference.runtime import CorruptArtifactError as CorruptArtifactError  # re-exported: its old home
from reference.runtime import Runtime

HUB_ARGUMENTS = (
    "revision",
    "cache_dir",
    "force_download",
    "token",
    "subfolder",
    "local_files_only",
    "trust_remote_code",
)
MAIN = "model"  # the component of every class today; seq2seq adds "encoder" and "decoder"


class PreTrainedModel:
    """Empty placeholder: transformers pipelines (4.x) recognise PyTorch models by this class name."""


class OptimizedModel(PreTrainedModel):
    """Base of all reference backends. See the module docstring for the hooks a backend implements."""

    config_name: ClassVar[str] = hub.CONFIG_NAME
    base_model_prefix: ClassVar[str] = "optimized_model"
    export_feature: ClassVar[str | None] = None
    auto_model_class: ClassVar[Any] = None
    generative: ClassVar[bool] = False  # from the task: whether `generate()` applies
    runtime_class: ClassVar[type[Runtime]]
    exporter: ClassVar[Callable[..., None]]  # exporter(plan, path, **export_kwargs): PyTorch -> artifact
    artifact_pattern: ClassVar[re.Pattern[str]] = re.compile(r"$^")
    default_file_name: ClassVar[str] = ""
    runtime_kwargs: ClassVar[tuple[str, ...]] = ()
    export_kwargs: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.export_feature and "auto_model_class" not in cls.__dict__:
            cls.auto_model_class = tasks.TASKS[cls.export_feature].auto_model_class()
        if cls.export_feature and "generative" not in cls.__dict__:
            cls.generative = tasks.TASKS[cls.export_feature].generative

    def __init__(
        self,
        components: Mapping[str, Runtime] | Runtime,
        config: Any,
        preprocessors: Sequence[Any] | None = None,
        *,
        library: str = "transformers",
        export_dir: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        if not isinstance(components, Mapping):
            components = {MAIN: components}
        for runtime in components.values():
            if not isinstance(runtime, Runtime):
                raise TypeError(
                    f"{type(self).__name__} is made by from_pretrained, not from {type(runtime).__name__}."
                )
        self.components: dict[str, Runtime] = dict(components)
        self.config = config
        self.preprocessors = list(preprocessors or [])
        self.library = library
        self._export_dir = export_dir  # keeps an on-the-fly export alive as long as the model
        self.task = tasks.get_task(self._task_name(), config)
        input_dtypes, self.output_names = self.components[MAIN].io()
        self.input_dtypes = dict(input_dtypes)
        self.input_names = list(self.input_dtypes)
        self.main_input_name = self.task.main_input
        self._output_class = (
            tasks.output_class_for(config, self.task)
            if library == "transformers"
            else (_transformers_output(self.task.output_class))
        )
        self._output_fields = set(self._output_class.__dataclass_fields__)
        self._check_outputs_match_task()

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls,
        model_id: str | os.PathLike,
        config: Any = None,
        export: bool = False,
        subfolder: str = "",
        revision: str | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        cache_dir: str | os.PathLike | None = None,
        token: bool | str | None = None,
        **kwargs: Any,
    ) -> OptimizedModel:
        """Load artifacts from a local directory or Hub repo, or export a PyTorch checkpoint.

        `local_files_only=True` or `HF_HUB_OFFLINE=1` means no network at all: the files come from
        `cache_dir` (the Hub cache) only. `kwargs` are backend options (`runtime_kwargs`,
        `export_kwargs`, `file_name`); anything else is a TypeError.
        """
        cls._task_name()
        unknown = sorted(set(kwargs) - {"file_name", *cls.runtime_kwargs, *cls.export_kwargs})
        if unknown:
            accepted = ", ".join(sorted({"file_name", *cls.runtime_kwargs, *cls.export_kwargs}))
            raise TypeError(
                f"{cls.__name__}.from_pretrained got unknown arguments {unknown}; accepted: {accepted}."
            )
        model_id, revision = hub.split_legacy_revision(model_id, revision)
        local_files_only = bool(local_files_only or hub.is_offline())
        files = hub.list_model_files(
            model_id, revision=revision, token=token, cache_dir=cache_dir, local_files_only=local_files_only
        )
        files.require_subfolder(subfolder)
        fetch = {"force_download": force_download, "local_files_only": local_files_only}
        config, library = cls._resolve_config(files, subfolder, config, trust_remote_code, **fetch)

        has_artifacts = any(cls.artifact_pattern.match(n) for n in files.in_folder(subfolder) if "/" not in n)
        if not export and not has_artifacts:
            if hub.weights_folder(files, subfolder) is None:
                raise FileNotFoundError(
                    f"No {cls.__name__} artifact ({cls.default_file_name}) and no PyTorch weights in "
                    f"{files.where}{f' subfolder {subfolder!r}' if subfolder else ''}. Export a model there, "
                    "or point at a folder that holds one."
                )
            warnings.warn(
                f"No {cls.default_file_name} in {files.where}: exporting the PyTorch checkpoint now. "
                "Pass export=True to say so, or save the exported model with save_pretrained.",
                UserWarning,
                stacklevel=2,
            )
            export = True
        elif export and has_artifacts:
            warnings.warn(
                f"export=True: re-exporting from PyTorch although {files.where} already holds artifacts.",
                UserWarning,
                stacklevel=2,
            )
        hub_kwargs = {
            "revision": revision,
            "cache_dir": cache_dir,
            "force_download": force_download,
            "token": token,
            "subfolder": subfolder,
            "local_files_only": local_files_only,
            "trust_remote_code": trust_remote_code,
        }
        hook, legacy = cls._choose_hook(export)
        if legacy:  # upstream signature: no file listing, no library
            return hook(model_id=model_id, config=config, **hub_kwargs, **kwargs)
        return hook(
            model_id=model_id, config=config, model_files=files, library=library, **hub_kwargs, **kwargs
        )

    @classmethod
    def _choose_hook(cls, export: bool) -> tuple[Any, bool]:
        """(hook, is_legacy): a subclass's `_from_transformers` wins for export=True (optimum >= 1.26.1)."""
        if export and hasattr(cls, "_from_transformers"):
            return cls._from_transformers, True
        return (cls._export if export else cls._from_pretrained), False

    @classmethod
    def _from_pretrained(
        cls,
        model_id: str,
        config: Any,
        *,
        model_files: hub.ModelFiles | None = None,
        library: str = "transformers",
        file_name: str | None = None,
        **kwargs: Any,
    ) -> OptimizedModel:
        """Load the backend artifact from the listed files."""
        hub_kwargs, runtime_kwargs, _ = cls._split_kwargs(kwargs)
        files = model_files or cls._list(model_id, hub_kwargs)
        subfolder = hub_kwargs.get("subfolder", "")
        fetch = _fetch_kwargs(hub_kwargs)
        name = cls._choose_artifact(files, subfolder, file_name)
        path = files.fetch(hub._join(subfolder, name), **fetch)
        for companion in cls._artifact_companions(path):
            where = hub._join(subfolder, str(Path(name).parent), companion)
            if not files.has(where):
                raise FileNotFoundError(f"{name} needs {companion!r}, which is missing from {files.where}.")
            files.fetch(where, **fetch)
        runtime = cls._load_runtime(path, **runtime_kwargs)
        preprocessors = _load_preprocessors(files, subfolder, config, hub_kwargs, fetch)
        model = cls({MAIN: runtime}, config, preprocessors, library=library)
        model._load_extras(files, subfolder, fetch)
        return model

    @classmethod
    def _export(
        cls,
        model_id: str,
        config: Any,
        *,
        model_files: hub.ModelFiles | None = None,
        library: str = "transformers",
        file_name: str | None = None,
        **kwargs: Any,
    ) -> OptimizedModel:
        """Load the PyTorch checkpoint, export it to a temporary folder and load that."""
        hub_kwargs, runtime_kwargs, export_kwargs = cls._split_kwargs(kwargs)
        files = model_files or cls._list(model_id, hub_kwargs)
        subfolder = hub_kwargs.get("subfolder", "")
        spec = tasks.get_task(cls._task_name(), config)
        tasks.check_config_supports(config, spec, library)
        export_dir = tempfile.TemporaryDirectory(prefix="optimum-conformance-export-")
        model = _load_pytorch_model(files, subfolder, config, spec, library, hub_kwargs)
        name = cls._export_artifacts(model, spec, config, library, Path(export_dir.name), **export_kwargs)
        del model
        runtime = cls._load_runtime(Path(export_dir.name) / name, **runtime_kwargs)
        fetch = _fetch_kwargs(hub_kwargs)
        preprocessors = _load_preprocessors(files, subfolder, config, hub_kwargs, fetch)
        exported = cls({MAIN: runtime}, config, preprocessors, library=library, export_dir=export_dir)
        exported._load_extras(files, subfolder, fetch)
        return exported

    @classmethod
    def _task_name(cls) -> str:
        if not cls.export_feature:
            raise ValueError(
                f"{cls.__name__} has no task: use a task class such as {cls.__name__}ForSequenceClassification."
            )
        return cls.export_feature

    @classmethod
    def _split_kwargs(cls, kwargs: Mapping[str, Any]) -> tuple[dict, dict, dict]:
        hub_kwargs = {k: v for k, v in kwargs.items() if k in HUB_ARGUMENTS}
        runtime = {k: v for k, v in kwargs.items() if k in cls.runtime_kwargs}
        export = {k: v for k, v in kwargs.items() if k in cls.export_kwargs}
        unknown = set(kwargs) - set(hub_kwargs) - set(runtime) - set(export)
        if unknown:
            raise TypeError(f"{cls.__name__} got unknown arguments {sorted(unknown)}.")
        return hub_kwargs, runtime, export

    @staticmethod
    def _list(model_id: str, hub_kwargs: Mapping[str, Any]) -> hub.ModelFiles:
        return hub.list_model_files(
            model_id,
            revision=hub_kwargs.get("revision"),
            token=hub_kwargs.get("token"),
            cache_dir=hub_kwargs.get("cache_dir"),
            local_files_only=bool(hub_kwargs.get("local_files_only")),
        )

    @classmethod
    def _resolve_config(
        cls, files: hub.ModelFiles, subfolder: str, config: Any, trust_remote_code: bool, **fetch: Any
    ) -> tuple[Any, str]:
        """(config, library): config.json from the subfolder, else the root; a config= wins."""
        from transformers import AutoConfig, PretrainedConfig

        given = isinstance(config, PretrainedConfig)
        hub.refuse_unsupported_library(files, subfolder)
        try:
            folder = hub.config_folder(files, subfolder)
        except FileNotFoundError:
            if not given:
                raise
            return config, "timm" if hasattr(config, "architecture") else "transformers"
        config_dict = files.read_json(hub._join(folder, hub.CONFIG_NAME), **fetch)
        library = hub.infer_library(files, folder, config_dict)
        if given:
            return config, library
        if config is not None:  # a path or repo id holding the config
            return AutoConfig.from_pretrained(os.fspath(config), trust_remote_code=trust_remote_code), library
        if library == "timm":
            return PretrainedConfig(**config_dict), library
        if "auto_map" in config_dict and not trust_remote_code:
            raise ValueError(
                f"The config in {files.where} uses custom code ({config_dict['auto_map']}). Read that code, "
                "then pass trust_remote_code=True to run it."
            )
        source = files.fetch(hub._join(folder, hub.CONFIG_NAME), **fetch).parent
        if trust_remote_code and files.from_hub and files.local_dir is None:
            source = files.model_id  # transformers fetches the custom code files from the Hub
        try:
            return (
                AutoConfig.from_pretrained(
                    source,
                    trust_remote_code=trust_remote_code,
                    **(
                        {"subfolder": folder, "revision": files.revision, "token": files.token}
                        if isinstance(source, str)
                        else {}
                    ),
                ),
                library,
            )
        except (ValueError, KeyError) as error:
            if "model_type" in config_dict and "auto_map" not in config_dict:
                import transformers

                raise ValueError(
                    f"Unknown model_type {config_dict['model_type']!r} in {files.where}: transformers "
                    f"{transformers.__version__} does not know it. Upgrade transformers, or check the config."
                ) from error
            raise

    @classmethod
    def _choose_artifact(cls, files: hub.ModelFiles, subfolder: str, file_name: str | None) -> str:
        """`file_name` if given, else the standard name, else the first artifact in sorted order."""
        candidates = [n for n in files.in_folder(subfolder) if cls.artifact_pattern.match(Path(n).name)]
        if file_name is not None:
            if file_name in files.in_folder(subfolder):
                return file_name
            raise FileNotFoundError(
                f"file_name={file_name!r} not found in {files.where}"
                f"{f' subfolder {subfolder!r}' if subfolder else ''}. Artifacts there: {candidates or 'none'}."
            )
        top_level = [n for n in candidates if "/" not in n]
        if cls.default_file_name in top_level:
            return cls.default_file_name
        if not top_level:
            raise FileNotFoundError(f"No {cls.default_file_name} (or other artifact) in {files.where}.")
        if len(top_level) > 1:
            warnings.warn(
                f"Several artifacts in {files.where}: {top_level}; loading {top_level[0]!r}. "
                "Pass file_name= to choose.",
                UserWarning,
                stacklevel=3,
            )
        return top_level[0]

    # ------------------------------------------------------------------ backend hooks

    @classmethod
    def _export_artifacts(
        cls, model: Any, spec: tasks.TaskSpec, config: Any, library: str, out_dir: Path, **export_kwargs: Any
    ) -> str:
        """Export the PyTorch `model` into `out_dir` with `exporter`; return the artifact's file name."""
        from reference.exporting import plan_export

        path = out_dir / cls.default_file_name
        cls.exporter(plan_export(model, spec, config, library), path, **export_kwargs)
        return path.name

    def _load_extras(self, files: hub.ModelFiles, subfolder: str, fetch: dict[str, bool]) -> None:
        """Read what the task keeps beside config and artifacts (generation_config.json); base: nothing."""

    @classmethod
    def _artifact_companions(cls, path: Path) -> list[str]:
        return cls.runtime_class.companions(path)

    @classmethod
    def _load_runtime(cls, path: Path, **runtime_kwargs: Any) -> Runtime:
        return cls.runtime_class.load(path, **runtime_kwargs)

    @classmethod
    def _file_name(cls, component: str) -> str:
        """The standard artifact name of `component`; a class with other components names theirs here."""
        if component != MAIN:
            raise NotImplementedError(
                f"{cls.__name__} has no standard file name for component {component!r}."
            )
        return cls.default_file_name

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.components[MAIN].run(feed)

    def _save_pretrained(self, save_directory: Path) -> None:
        for component, runtime in self.components.items():
            runtime.save(save_directory / self._file_name(component))

    # ------------------------------------------------------------------ inference

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, return_dict: bool | None = None, **inputs: Any) -> Any:
        """Run the model. Torch tensors in give torch tensors out; numpy in gives numpy out."""
        if len(args) > len(self.input_names):
            raise TypeError(
                f"forward takes at most {len(self.input_names)} positional inputs {self.input_names}."
            )
        for name, value in zip(self.input_names, args):
            if name in inputs:
                raise TypeError(f"forward got input {name!r} twice (positionally and by keyword).")
            inputs[name] = value
        use_torch = any(_is_torch(v) for v in inputs.values())
        outputs = self._run(self._feed(inputs))
        return self._wrap(outputs, use_torch, return_dict)

    def _feed(self, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        for flag in tasks.IGNORED_FLAGS & inputs.keys():
            del inputs[flag]
        unknown = set(inputs) - tasks.KNOWN_INPUTS - set(self.input_names)
        if unknown:
            raise TypeError(f"Unknown inputs {sorted(unknown)}; this model takes {self.input_names}.")
        main = self.main_input_name
        if inputs.get(main) is None:
            raise ValueError(f"Missing required input {main!r}; this model takes {self.input_names}.")
        feed = {}
        for name, dtype in self.input_dtypes.items():
            value = inputs.get(name)
            if value is None:
                value = tasks.default_input(name, _to_numpy(inputs[main]))
            array = _to_numpy(value)
            feed[name] = array if array.dtype == dtype else array.astype(dtype)
        return feed

    def _wrap(self, outputs: dict[str, np.ndarray], use_torch: bool, return_dict: bool | None) -> Any:
        if use_torch:
            import torch

            outputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in outputs.items()}
        known = {k: v for k, v in outputs.items() if k in self._output_fields}
        result = self._output_class(**known)
        if return_dict is False:
            return result.to_tuple()
        return result

    def _check_outputs_match_task(self) -> None:
        if not set(self.output_names) & self._output_fields:
            raise ValueError(
                f"{type(self).__name__} does {self.task.name!r} but the artifact {self.model_path} outputs "
                f"{self.output_names}, none of {sorted(self._output_fields)}. Use the model class for the "
                "task the artifact was exported for."
            )

    # ------------------------------------------------------------------ instance API

    @property
    def model(self) -> Any:
        """The "model" component's runtime object (InferenceSession, openvino.Model, ScriptModule)."""
        return self.components[MAIN].native

    @property
    def model_path(self) -> Path:
        """The file the "model" component was loaded from."""
        return self.components[MAIN].path

    @property
    def device(self) -> Any:
        import torch

        return torch.device("cpu")

    @property
    def dtype(self) -> Any:
        import torch

        floats = [d for d in self.input_dtypes.values() if np.issubdtype(d, np.floating)]
        return torch.from_numpy(np.zeros(0, dtype=floats[0])).dtype if floats else torch.float32

    @classmethod
    def can_generate(cls) -> bool:
        """Whether `generate()` applies: the class's task decides (`generative`)."""
        return cls.generative

    def to(self, device: Any) -> OptimizedModel:
        """Only the CPU is supported by this reference; anything else is a clear error."""
        if str(device).split(":")[0].lower() not in {"cpu", "-1"}:
            raise ValueError(f"{type(self).__name__} runs on the CPU only; got device {device!r}.")
        return self

    def eval(self) -> OptimizedModel:
        return self

    @property
    def name_or_path(self) -> str:
        return str(getattr(self.config, "_name_or_path", ""))

    # ------------------------------------------------------------------ saving

    def _save_config(self, save_directory: Path) -> None:
        self.config.save_pretrained(save_directory)
        if self.can_generate() and getattr(self, "generation_config", None) is not None:
            self.generation_config.save_pretrained(save_directory)

    def save_pretrained(
        self, save_directory: str | os.PathLike, push_to_hub: bool = False, **push_kwargs: Any
    ) -> str | None:
        """Write config, preprocessors and artifacts, atomically; push them when `push_to_hub`.

        Everything is written to a staging folder beside the target first, then each file is moved in
        with `os.replace`: a failure leaves the target as it was. Other files in the target stay.
        """
        target = Path(save_directory).absolute()
        if target.is_file():
            raise FileExistsError(f"{target} is a file; save_pretrained needs a directory path.")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
        try:
            self._save_config(staging)
            for preprocessor in self.preprocessors:
                preprocessor.save_pretrained(staging)
            self._save_pretrained(staging)
            target.mkdir(exist_ok=True)
            for file in sorted(p for p in staging.rglob("*") if p.is_file()):
                destination = target / file.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if push_to_hub:
            return self.push_to_hub(target, **push_kwargs)
        return None

    def push_to_hub(
        self,
        save_directory: str | os.PathLike,
        repository_id: str,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        commit_message: str | None = None,
    ) -> str:
        """Upload `save_directory` (as written by save_pretrained) in one commit; return its URL."""
        from huggingface_hub import HfApi

        folder = Path(save_directory)
        if not (folder / self.config_name).is_file():
            raise FileNotFoundError(
                f"{folder} holds no {self.config_name}: call save_pretrained({str(folder)!r}) before pushing it."
            )
        api = HfApi(token=token)
        api.create_repo(repository_id, private=private, exist_ok=True)
        if revision and not create_pr and not revision.startswith("refs/"):
            api.create_branch(repository_id, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repository_id,
            folder_path=folder,
            revision=revision,
            create_pr=create_pr,
            commit_message=commit_message or f"Upload {type(self).__name__}",
        )
        return str(commit.commit_url)


# ---------------------------------------------------------------------- helpers


def component_attribute(name: str, doc: str) -> property:
    """A model attribute that is the "model" component's attribute `name`, read and written there."""

    def get(self: OptimizedModel) -> Any:
        return getattr(self.components[MAIN], name)

    def set(self: OptimizedModel, value: Any) -> None:
        setattr(self.components[MAIN], name, value)

    return property(get, set, doc=doc)


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if _is_torch(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _transformers_output(name: str) -> type:
    import transformers.modeling_outputs as outputs

    return getattr(outputs, name)


def _fetch_kwargs(hub_kwargs: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "force_download": bool(hub_kwargs.get("force_download")),
        "local_files_only": bool(hub_kwargs.get("local_files_only")),
    }


def _load_pytorch_model(
    files: hub.ModelFiles,
    subfolder: str,
    config: Any,
    spec: tasks.TaskSpec,
    library: str,
    hub_kwargs: Mapping[str, Any],
) -> Any:
    """The PyTorch model to export, in eval mode."""
    folder = hub.weights_folder(files, subfolder)
    if folder is None:
        raise FileNotFoundError(
            f"No PyTorch weights (model.safetensors / pytorch_model.bin) in {files.where}."
        )
    if library == "timm":
        model = _load_timm_model(files, folder, config, hub_kwargs)
    else:
        if files.local_dir is not None:  # a local model, or a cached snapshot when offline
            source, extra = files.local_dir, {}
        else:
            source = files.model_id
            extra = {"revision": files.revision, "cache_dir": files.cache_dir, "token": files.token}
            extra["force_download"] = bool(hub_kwargs.get("force_download"))
        model = spec.auto_model_class().from_pretrained(
            source,
            config=config,
            subfolder=folder,
            trust_remote_code=bool(hub_kwargs.get("trust_remote_code")),
            **extra,
        )
    return model.eval()


def _load_timm_model(files: hub.ModelFiles, folder: str, config: Any, hub_kwargs: Mapping[str, Any]) -> Any:
    try:
        import timm
    except ImportError as error:
        raise ImportError(
            f"{files.where} is a timm model, and timm cannot be imported here ({error}). Install timm "
            "(it needs torchvision matching your torch)."
        ) from error
    from safetensors.torch import load_file

    names = [n for n in files.in_folder(folder) if n == "model.safetensors"]
    if not names:
        raise FileNotFoundError(f"No model.safetensors for the timm model in {files.where}.")
    model = timm.create_model(
        config.architecture, pretrained=False, num_classes=getattr(config, "num_classes", None)
    )
    model.load_state_dict(load_file(files.fetch(hub._join(folder, names[0]), **_fetch_kwargs(hub_kwargs))))
    return model


def _load_preprocessors(
    files: hub.ModelFiles, subfolder: str, config: Any, hub_kwargs: Mapping[str, Any], fetch: dict[str, bool]
) -> list[Any]:
    """Tokenizer and/or image processor found beside the artifact, else at the root."""
    folder = hub.preprocessor_folder(files, [subfolder.strip("/"), ""])
    if folder is None:
        return []
    names = [n for n in files.in_folder(folder) if n in hub.PREPROCESSOR_FILES]
    directory = None
    for name in names:
        directory = files.fetch(hub._join(folder, name), **fetch).parent
    from transformers import AutoImageProcessor, AutoTokenizer

    found = []
    trust = bool(hub_kwargs.get("trust_remote_code"))
    loaders = []
    if set(names) - {"preprocessor_config.json", "processor_config.json"}:
        loaders.append(
            lambda: AutoTokenizer.from_pretrained(directory, config=config, trust_remote_code=trust)
        )
    if "preprocessor_config.json" in names:
        loaders.append(lambda: AutoImageProcessor.from_pretrained(directory, trust_remote_code=trust))
    for load in loaders:
        try:
            found.append(load())
        except Exception as error:  # a broken tokenizer must not stop the model from loading
            warnings.warn(
                f"Could not load a preprocessor from {files.where}: {error}", UserWarning, stacklevel=4
            )
    return found
