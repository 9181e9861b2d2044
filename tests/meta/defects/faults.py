"""Defects of behaviour under Hub faults (`input.hub_faults`): its own meta run, because the clause
waits out huggingface_hub's retry back-off (~25 s per backend)."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.meta.defects import defect, is_hub_id

RUN = "faults"


@defect("input.hub_faults")
class RetriesPushForever:
    def push_to_hub(self, *args, **kwargs):
        while True:
            try:
                return super().push_to_hub(*args, **kwargs)
            except Exception:
                time.sleep(0.5)


@defect("input.hub_faults")
class SwallowsPushErrors:
    def push_to_hub(self, *args, **kwargs):
        try:
            return super().push_to_hub(*args, **kwargs)
        except Exception as error:
            logging.getLogger(__name__).warning("push failed: %s", error)
            return None


@defect("input.hub_faults")
class DownloadsInPlace:
    """Streams Hub files straight into the cache's snapshot folder, and trusts whatever is there."""

    @classmethod
    def from_pretrained(cls, model_id, *args, cache_dir=None, **kwargs):
        if not is_hub_id(model_id) or kwargs.get("local_files_only") or cache_dir is None:
            return super().from_pretrained(model_id, *args, cache_dir=cache_dir, **kwargs)
        from huggingface_hub import HfApi, constants

        snapshot = Path(cache_dir) / f"models--{model_id.replace('/', '--')}" / "snapshots" / "in-place"
        for name in HfApi().list_repo_files(model_id):
            target = snapshot / name
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{constants.ENDPOINT}/{model_id}/resolve/main/{name}"
            with urllib.request.urlopen(url, timeout=10) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        return super().from_pretrained(snapshot, *args, **kwargs)


@defect("input.hub_faults")
class GivesUpOnAStall:
    """Fetches each Hub file once, with the client's timeout but none of its retries, into a folder of
    its own: on a client that retries one stalled answer (huggingface_hub 0.x, the main set), the
    stall the client would have got past fails the load. Every other pull fault it reports cleanly."""

    @classmethod
    def from_pretrained(cls, model_id, *args, cache_dir=None, **kwargs):
        if not is_hub_id(model_id) or kwargs.get("local_files_only"):
            return super().from_pretrained(model_id, *args, cache_dir=cache_dir, **kwargs)
        from huggingface_hub import HfApi, constants

        folder = Path(tempfile.mkdtemp(prefix="gives-up-on-a-stall-"))
        for name in HfApi().list_repo_files(model_id):
            url = f"{constants.ENDPOINT}/{model_id}/resolve/main/{name}"
            with urllib.request.urlopen(url, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT) as response:
                data = response.read()  # a body cut short raises IncompleteRead
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return super().from_pretrained(folder, *args, **kwargs)
