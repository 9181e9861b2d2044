"""Process-wide state a failing check leaves behind, cleared so that the next check's verdict does
not depend on which check ran before it in the same worker.

Every check loads its own model instance (`CheckContext`), which isolates what lives on a model.
torch.compile's cache does not live on a model: it sits on the code object of the module's
forward, shared by every instance of that architecture in the process. A call that fails inside a
compiled frame can leave an entry there that breaks later calls of other instances: after one
optimum-ipex model (torch.compile'd) is called with numpy inputs and fails, a fresh instance of
the same architecture called with torch tensors fails with the same TypeError until
`torch._dynamo.reset()` (optimum-intel 1.27 on torch 2.8). The check that made the failing call
keeps its verdict; the cache is reset only after a failure raised through dynamo, so a passing
run keeps its compiled graphs (recompiling costs optimum-ipex seconds per shape).
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from types import TracebackType

import pytest

DYNAMO_FILES = ("torch/_dynamo/", "torch\\_dynamo\\")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except BaseException as error:
        if raised_through_dynamo(error):
            reset_compile_cache()
        raise


def raised_through_dynamo(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from, passed through a torch.compile frame."""
    return raised_through(error, DYNAMO_FILES)


def raised_through(error: BaseException, folders: tuple[str, ...]) -> bool:
    """Whether `error`, or an exception it was raised from, passed through a frame of a file whose
    path contains one of `folders`."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(part in frame_file for frame_file in _frame_files(current.__traceback__) for part in folders):
            return True
        current = current.__cause__ or current.__context__
    return False


def _frame_files(traceback: TracebackType | None) -> list[str]:
    files = []
    while traceback is not None:
        files.append(traceback.tb_frame.f_code.co_filename)
        traceback = traceback.tb_next
    return files


def reset_compile_cache() -> None:
    torch = sys.modules.get("torch")  # only ever after torch raised: never imports it
    if torch is not None:
        torch._dynamo.reset()
