"""Clean-room reference implementation of the Optimum `OptimizedModel` contract.

Backends live in subpackages (`reference.onnxruntime`, `reference.openvino`, `reference.ipex`)
and are imported only when used.
"""

__version__ = "0.1.0"
