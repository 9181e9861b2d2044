"""Embedded Hugging Face Hub-compatible HTTP server (stdlib only).

The real `huggingface_hub` client and transformers' `push_to_hub` / `from_pretrained` talk to it
unchanged over HTTP on 127.0.0.1. See `HubServer` (in-process), `EmbeddedHub` (an HTTP handle usable
from any process), `conformance.hub.pytest_plugin` and `optimum-conformance hub serve`.
"""

from .faults import Fault, FaultInjector
from .server import HubServer

__all__ = ["Fault", "FaultInjector", "HubServer"]
