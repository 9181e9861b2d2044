"""Defects of pushing to the Hub (`push.*`): the hub meta run."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.meta.defects import defect

RUN = "hub"


@defect("push.reload_equal")
class PushesOtherWeights:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        import onnx
        from onnx import numpy_helper

        copy = Path(tempfile.mkdtemp())
        shutil.copytree(save_directory, copy, dirs_exist_ok=True)
        proto = onnx.load(str(copy / "model.onnx"))
        weights = next(t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
        weights.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weights) + 0.5, weights.name))
        onnx.save(proto, str(copy / "model.onnx"))
        return super().push_to_hub(copy, repository_id, **kwargs)


@defect("push.manifest")
class PushSkipsTokenizer:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        copy = Path(tempfile.mkdtemp())
        shutil.copytree(save_directory, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("tokenizer*"))
        return super().push_to_hub(copy, repository_id, **kwargs)


@defect("push.paths_preserved")
class FlattensPaths:
    def push_to_hub(self, save_directory, repository_id, **kwargs):
        flat = Path(tempfile.mkdtemp())
        for path in Path(save_directory).rglob("*"):
            if path.is_file():
                shutil.copy(path, flat / path.name)  # upstream optimum: path_in_repo = basename
        return super().push_to_hub(flat, repository_id, **kwargs)


@defect("push.single_commit", collateral={"push.revision_pr_message"})
class CommitPerFile:
    def push_to_hub(self, save_directory, repository_id, private=None, token=None, **kwargs):
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repository_id, private=private, exist_ok=True)
        for path in sorted(Path(save_directory).rglob("*")):
            if path.is_file():
                api.upload_file(
                    path_or_fileobj=path,
                    path_in_repo=path.relative_to(save_directory).as_posix(),
                    repo_id=repository_id,
                )
        return None


@defect("push.private_token")
class IgnoresPrivate:
    def push_to_hub(self, save_directory, repository_id, private=None, **kwargs):
        return super().push_to_hub(save_directory, repository_id, **kwargs)


@defect("push.revision_pr_message")
class IgnoresPushOptions:
    def push_to_hub(self, save_directory, repository_id, private=None, token=None, **kwargs):
        return super().push_to_hub(save_directory, repository_id, private=private, token=token)


@defect("push.via_save_pretrained")
class SaveIgnoresPushFlag:
    def save_pretrained(self, save_directory, push_to_hub=False, **kwargs):
        return super().save_pretrained(save_directory)
