"""Run records, merging, diffs and HTML rendering. Imports neither `conformance` nor `reference`."""
