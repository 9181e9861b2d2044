"""pytest11 entry point of the conformance suite.

Loading this module must stay cheap: it imports no runtime (onnxruntime, openvino,
IPEX, optimum) and neither torch nor huggingface_hub.
"""
