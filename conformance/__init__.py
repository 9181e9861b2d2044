"""The conformance suite: checks any Optimum-style backend against the OptimizedModel contract."""

__version__ = "0.1.0"
