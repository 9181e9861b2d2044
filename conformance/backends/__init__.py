"""Finding a backend by name: built-in specs, entry points, `module:attr`, or a module path.

Nothing here imports a runtime: built-in specs name their classes as strings, and a missing
package is reported from `importlib.util.find_spec`, in one line.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from typing import Any

from conformance import families
from conformance.spec import BackendSpec

ENTRY_POINT_GROUP = "optimum_conformance.backends"
# Class-name suffix per task, the Optimum naming convention: from the task families.
CLASS_SUFFIX = families.class_suffixes()


def classes_by_convention(module: str, prefix: str, missing: tuple[str, ...] = ()) -> dict[str, str]:
    """Task -> "module:<prefix>ModelFor<Suffix>" for every task but `missing`: the Optimum naming."""
    return {
        task: f"{module}:{prefix}ModelFor{suffix}"
        for task, suffix in CLASS_SUFFIX.items()
        if task not in missing
    }


def ort_thread_probe() -> tuple[dict[str, Any], Any]:
    """A runtime probe for ORT-based backends whose `model` is the InferenceSession: one intra-op
    thread asked for, one thread found in the session."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return {"session_options": options}, lambda m: m.model.get_session_options().intra_op_num_threads == 1


class BackendError(LookupError):
    """A --backend value that names nothing usable; the message is one line saying what to do."""


def builtin() -> dict[str, BackendSpec]:
    from conformance.backends.optimum import OPTIMUM_SPECS
    from conformance.backends.reference import REFERENCE_SPECS

    return {spec.name: spec for spec in (*REFERENCE_SPECS, *OPTIMUM_SPECS)}


def resolve(selector: str) -> BackendSpec:
    """The spec a --backend value names."""
    specs = builtin()
    if selector in specs:
        spec = specs[selector]
    elif (entry := _entry_point(selector)) is not None:
        spec = _as_spec(entry.load(), selector)
    elif ":" in selector:
        module, _, attr = selector.partition(":")
        spec = _as_spec(getattr(_import(module, selector), attr, None), selector)
    elif _find(selector):
        spec = infer_spec(selector)
    else:
        known = ", ".join(sorted(specs))
        raise BackendError(
            f"unknown backend {selector!r}: use a built-in name ({known}), an entry point of group "
            f"{ENTRY_POINT_GROUP}, module:attr of a BackendSpec, or an importable module path"
        )
    _check_installed(spec)
    return spec


def _entry_point(name: str) -> Any:
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry
    return None


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _import(module: str, selector: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise BackendError(f"backend {selector!r}: cannot import {module} ({error})") from None


def _as_spec(value: Any, selector: str) -> BackendSpec:
    if callable(value) and not isinstance(value, BackendSpec):
        value = value()
    if not isinstance(value, BackendSpec):
        raise BackendError(
            f"backend {selector!r} is not a conformance.spec.BackendSpec (got {type(value).__name__})"
        )
    return value


def _check_installed(spec: BackendSpec) -> None:
    for task, target in spec.classes.items():
        if isinstance(target, str):
            module = target.partition(":")[0]
            if not _find(module):
                raise BackendError(
                    f"backend {spec.name!r} needs {module} (for {task}), which is not installed here"
                    + (f"; install {spec.distribution}" if spec.distribution else "")
                )


def infer_spec(module_path: str) -> BackendSpec:
    """A spec for a module whose classes follow the Optimum naming (`*ModelFor<Task>` with
    `auto_model_class` or `export_feature`): enough for a first run."""
    module = _import(module_path, module_path)
    by_suffix = {suffix: task for task, suffix in CLASS_SUFFIX.items()}
    classes: dict[str, str] = {}
    for name in sorted(dir(module)):
        value = getattr(module, name)
        prefix, _, suffix = name.partition("ModelFor")
        if not (isinstance(value, type) and prefix and suffix):
            continue
        if not (hasattr(value, "auto_model_class") or hasattr(value, "export_feature")):
            continue
        task = getattr(value, "export_feature", None)
        task = task if task in CLASS_SUFFIX else by_suffix.get(suffix)
        if task and task not in classes:
            classes[task] = f"{module_path}:{name}"
    if not classes:
        raise BackendError(
            f"{module_path} has no *ModelFor<Task> classes with auto_model_class or export_feature"
        )
    return BackendSpec(name=module_path, classes=classes, distribution=module_path.split(".")[0])
