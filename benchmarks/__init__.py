"""Speed, measured side by side with PyTorch, the raw runtimes and upstream (pytest-benchmark): `tox -e bench`."""
