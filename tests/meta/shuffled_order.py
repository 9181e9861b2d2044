"""A pytest plugin (`-p tests.meta.shuffled_order`): the collected tests run in a shuffled order,
the same one every time (seed `SHUFFLE_SEED`, default 0)."""

from __future__ import annotations

import os
import random

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    random.Random(int(os.environ.get("SHUFFLE_SEED", "0"))).shuffle(items)
