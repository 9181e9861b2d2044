"""input.*: bad input gets a typed error that names what was wrong."""

from __future__ import annotations

import shutil

from conformance.cases import CheckContext
from conformance.catalogue import clause
from conformance.checks.helpers import artifact_files, as_torch, edit_config, raises
from conformance.checks.test_hub import network_blocked
from conformance.engine.outcomes import not_run


@clause("input.unknown_repo", "core", "an unknown repo id: RepositoryNotFoundError naming it")
def test_input_unknown_repo(check: CheckContext) -> None:
    from huggingface_hub.errors import RepositoryNotFoundError

    repo_id = f"{check.hub.user}/no-such-repo-{check.case.arch}"
    raises(
        check, RepositoryNotFoundError, repo_id, lambda: check.load(repo_id, cache_dir=check.tmp_path / "c")
    )


@clause("input.missing_local_path", "core", "a path that does not exist: an error naming it")
def test_input_missing_local_path(check: CheckContext) -> None:
    path = str(check.tmp_path / "does" / "not" / "exist")
    raises(check, (FileNotFoundError, OSError), "exist", lambda: check.load(path))


@clause("input.dir_without_config", "core", "a folder without config.json: an error saying so")
def test_input_dir_without_config(check: CheckContext) -> None:
    folder = check.saved_copy()
    (folder / "config.json").unlink()
    raises(check, (FileNotFoundError, OSError, ValueError), "config", lambda: check.load(folder))


@clause("input.dir_without_weights", "core", "a folder with only a config: FileNotFoundError")
def test_input_dir_without_weights(check: CheckContext) -> None:
    folder = check.tmp_path / "config-only"
    folder.mkdir()
    shutil.copy(check.saved_copy() / "config.json", folder)
    raises(check, FileNotFoundError, str(folder.name), lambda: check.load(folder))


@clause("input.file_name_missing", "core", "file_name= that does not exist: FileNotFoundError naming it")
def test_input_file_name_missing(check: CheckContext) -> None:
    folder = check.saved_copy()
    raises(
        check, FileNotFoundError, "missing-model", lambda: check.load(folder, file_name="missing-model.bin")
    )


@clause(
    "input.arch_task_mismatch", "core", "an architecture that cannot do the task: ValueError naming the task"
)
def test_input_arch_task_mismatch(check: CheckContext) -> None:
    alternate = check.family().alternate  # e.g. a ViT checkpoint given to the question-answering class
    task = alternate.misfit_task
    if task not in check.spec.classes:
        not_run(f"the backend has no {task} class to misuse")
    source = check.source_dir(*alternate.misfit)
    cls = check.model_class(task)
    raises(check, ValueError, task, lambda: check.export(source, cls=cls), stage="export")


@clause("input.unknown_model_type", "core", "an unknown model_type: an error naming it")
def test_input_unknown_model_type(check: CheckContext) -> None:
    folder = check.saved_copy()
    edit_config(folder, model_type="no-such-architecture")
    raises(check, (ValueError, KeyError), "no-such-architecture", lambda: check.load(folder))


@clause("input.unknown_provider_or_device", "core", "an unknown provider/device: ValueError naming it")
def test_input_unknown_provider_or_device(check: CheckContext) -> None:
    if not check.spec.invalid_runtime_kwargs:
        not_run("the spec declares no invalid provider/device option")
    (name, value), *_ = check.spec.invalid_runtime_kwargs.items()
    folder = check.saved_copy()
    raises(check, ValueError, str(value), lambda: check.load(folder, **{name: value}))


@clause("input.unknown_kwarg", "core", "an unknown keyword argument: TypeError naming it")
def test_input_unknown_kwarg(check: CheckContext) -> None:
    folder = check.saved_copy()
    raises(check, TypeError, "not_an_option", lambda: check.load(folder, not_an_option=True))


@clause(
    "input.missing_required_input",
    "core",
    "forward without its main input: an error naming it",
    requires=("forward",),
)
def test_input_missing_required_input(check: CheckContext) -> None:
    model = check.exported()
    inputs = as_torch(check.inputs())
    main = "pixel_values" if "pixel_values" in inputs else "input_ids"
    rest = {k: v for k, v in inputs.items() if k != main}
    raises(check, (ValueError, TypeError, KeyError), main, lambda: model(**rest), stage="infer")


@clause(
    "input.corrupt_artifact",
    "core",
    "truncated, garbled and empty artifacts: an error naming the file",
    sample="family",
)
def test_input_corrupt_artifact(check: CheckContext) -> None:
    folder = check.saved_copy()
    names = artifact_files(check, folder, check.exported())
    failures = []
    for damage in ("truncated", "garbled", "empty"):
        # A raw weights blob (OpenVINO's .bin) has no structure to check: garbling it only changes
        # the numbers. Garbling is applied to the main artifact, which every format can validate.
        for name in names[:1] if damage == "garbled" else names:
            damaged = check.tmp_path / f"{damage}-{name.replace('/', '_')}"
            shutil.copytree(folder, damaged)
            data = (damaged / name).read_bytes()
            (damaged / name).write_bytes(
                {
                    "truncated": data[: len(data) // 2],
                    "garbled": bytes(b ^ 0x5A for b in data[:4096]) + data[4096:],
                    "empty": b"",
                }[damage]
            )
            try:
                raises(check, Exception, name.rsplit("/", 1)[-1], lambda d=damaged: check.load(d))
            except AssertionError as error:
                failures.append(f"{damage} {name}: {error}")
    with check.at("load"):
        assert not failures, "; ".join(failures)


@clause(
    "input.offline_missing_subfolder", "core", "offline, a subfolder not in the cache: an error naming it"
)
def test_input_offline_missing_subfolder(check: CheckContext) -> None:
    repo_id = check.published("offline-subfolder")
    cache = check.tmp_path / "cache"
    check.load(repo_id, cache_dir=cache)
    with network_blocked():
        raises(
            check,
            (FileNotFoundError, OSError, ValueError),
            "no-such-subfolder",
            lambda: check.load(
                repo_id, cache_dir=cache, local_files_only=True, subfolder="no-such-subfolder"
            ),
        )
