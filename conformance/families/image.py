"""The image family: image classification and image feature extraction, transformers and timm.

Zoo models are tiny random vision models with their image processor (timm: none, channels-first floats).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.families import Alternate, Arch, Family, Task
from conformance.families.encoder import INIT, LABELS, TINY_TEXT, _build_transformers
from conformance.families.forward import pytorch_forward

IMAGE_SIZE = 32
TASKS = (
    Task("feature-extraction", "AutoModel", "FeatureExtraction"),
    Task("image-classification", "AutoModelForImageClassification", "ImageClassification", LABELS),
)
TASK_NAMES = tuple(task.name for task in TASKS)
_CONV_STAGES = {"hidden_sizes": [8, 16], "depths": [1, 1]}


class ImageFamily(Family):
    name = "image"
    modality = "image"
    tasks = TASKS
    archs = (
        Arch(
            "vit",
            "ViTConfig",
            {**TINY_TEXT, "image_size": IMAGE_SIZE, "patch_size": 8, "num_channels": 3},
            TASK_NAMES,
            preprocessor="image_processor",
        ),
        Arch(
            "convnext",
            "ConvNextConfig",
            {**_CONV_STAGES, "num_stages": 2, "image_size": IMAGE_SIZE, "num_channels": 3, **INIT},
            TASK_NAMES,
            preprocessor="image_processor",
        ),
        Arch(
            "resnet",
            "ResNetConfig",
            {"embedding_size": 8, **_CONV_STAGES, "layer_type": "basic", "num_channels": 3},
            TASK_NAMES,
            preprocessor="image_processor",
        ),
        Arch(
            "timm-resnet",
            "",
            {
                "architecture": "resnet18",
                "num_classes": 3,
                "pretrained_cfg": {"input_size": [3, IMAGE_SIZE, IMAGE_SIZE]},
            },
            ("image-classification",),
            preprocessor=None,
            library="timm",
            requires=("timm",),
        ),
    )
    representative = ("vit", "image-classification")
    alternate = Alternate(
        "convnext", misfit=("bert", "text-classification"), misfit_task="image-classification"
    )

    def build(self, arch: Arch, task: str, config_kwargs: dict[str, Any], folder: Path) -> None:
        if arch.library == "timm":
            import timm
            import torch
            from safetensors.torch import save_file

            from conformance.zoo import SEED

            torch.manual_seed(SEED)
            net = timm.create_model(
                config_kwargs["architecture"], pretrained=False, num_classes=config_kwargs["num_classes"]
            )
            save_file(net.state_dict(), folder / "model.safetensors")
            (folder / "config.json").write_text(json.dumps(config_kwargs, indent=2, sort_keys=True))
            return
        _build_transformers(self.task(task), arch, config_kwargs, folder)
        _image_processor(arch).save_pretrained(folder)

    def sample_inputs(
        self, folder: Path, task: str, batch_size: int, sequence_length: int | None, rng: Any
    ) -> dict[str, Any]:
        """Seeded random pictures (40x48, not the model's size) through the image processor."""
        import numpy as np

        config = json.loads((folder / "config.json").read_text())
        if "architecture" in config:  # timm: no processor, channels-first floats
            size = config.get("pretrained_cfg", {}).get("input_size", [3, IMAGE_SIZE, IMAGE_SIZE])
            return {"pixel_values": rng.standard_normal((batch_size, *size), dtype=np.float32)}
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(folder)
        images = [rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8) for _ in range(batch_size)]
        return {
            "pixel_values": processor(images=images, return_tensors="np")["pixel_values"].astype(np.float32)
        }

    def sized_inputs(self, folder: Path, task: str, lengths: Sequence[int], rng: Any) -> dict[str, Any]:
        """One distinct picture per entry: pictures have no sequence axis, the processor sets their size."""
        return self.sample_inputs(folder, task, len(lengths), None, rng)

    def load_oracle(self, folder: Path, task: str) -> Any:
        config = json.loads((folder / "config.json").read_text())
        if "architecture" in config:  # timm
            import timm
            from safetensors.torch import load_file

            net = timm.create_model(
                config["architecture"], pretrained=False, num_classes=config["num_classes"]
            )
            net.load_state_dict(load_file(folder / "model.safetensors"))
            return net.eval()
        import transformers

        return getattr(transformers, self.task(task).auto_class).from_pretrained(folder).eval()

    def oracle(self, net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return pytorch_forward(net, inputs)

    def pipeline_sample(self, arch: Arch, task: str, source: Path) -> tuple[dict[str, Any], Any] | None:
        if arch.library != "transformers":  # timm models have no pipeline processor
            return None
        import numpy as np
        from PIL import Image
        from transformers import AutoImageProcessor

        picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
        return {"image_processor": AutoImageProcessor.from_pretrained(source)}, picture


def _image_processor(arch: Arch) -> Any:
    import transformers

    size = arch.config_kwargs.get("image_size", IMAGE_SIZE)
    if arch.name == "vit":
        return transformers.ViTImageProcessor(size={"height": size, "width": size})
    return transformers.ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=1.0)


IMAGE = ImageFamily()
