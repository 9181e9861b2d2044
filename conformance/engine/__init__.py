"""The suite's pytest plugin, one concern per module (loaded by `conformance.plugin`):

    options        command-line options; builds the session `State` when --backend is given
    state          `State` and the stash keys the modules share (typed state, no globals)
    collect        parametrization by clause requirements and sampling, markers, expectations,
                   shards, ordering; the `check` fixture
    outcomes       `NotRun` and `Unsupported` (pytest `Skipped` subclasses), and classification
                   of a report into the DESIGN.md outcome vocabulary, by exception type
    recorder       case properties on every report, one run-record line per test (crashes too)
    xdist_compat   pytest-xdist hooks and the version-gated scheduler workaround
    threads        OpenMP threads per xdist worker (cores // workers), set before workers start
    isolation      torch.compile's process-wide cache reset after a check fails inside it
    oracle_guard   a failure raised in transformers' model code, on a model transformers cannot run
                   itself, is the oracle's not_run, not the backend's failure
    session        the end of a session: stale expectations, the record closed, temp files removed

Nothing here imports a runtime, torch or huggingface_hub at load time.
"""
