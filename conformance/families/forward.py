"""The oracle of the forward-only families: one PyTorch forward, outputs kept by name as numpy."""

from __future__ import annotations

from typing import Any

from conformance.compare import cache_pairs


def as_numpy_tree(value: Any) -> Any:
    """Tensors as numpy arrays, tuples and lists of them as tuples, a transformers `Cache` as its
    legacy tuple of (key, value) pairs (`cache_pairs`); anything else (None, scalars) as it is."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    value = cache_pairs(value)
    if isinstance(value, (tuple, list)):
        return tuple(as_numpy_tree(item) for item in value)
    return value


def pytorch_forward(net: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Run `net` on numpy inputs with return_dict; every output by name, nested outputs kept
    nested (a cache does not vanish), outputs that are None left out."""
    import torch

    with torch.no_grad():
        feed = {k: torch.from_numpy(v) for k, v in inputs.items()}
        if not hasattr(net, "config"):  # timm returns bare logits
            return {"logits": net(feed["pixel_values"]).numpy()}
        outputs = net(**feed, return_dict=True)
    return {name: as_numpy_tree(value) for name, value in outputs.items() if value is not None}
