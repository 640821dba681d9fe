"""Downloads from the Hugging Face Hub that fail fast, with a hint, when the Hub cannot be reached.

Left alone, huggingface_hub retries an unreachable Hub five times (about 25 s) and then says to check the
internet connection. vipbench probes the endpoint once first: with no Hub, a copy in the local cache is used as
it is, and without one the error names the local-path option that works offline.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from vipbench.errors import VipbenchError

PROBE_SECONDS = 5.0


def unreachable_reason(timeout: float = PROBE_SECONDS) -> str | None:
    """Why the Hub's endpoint cannot be reached, or None when a TCP connection to it opens."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def local_only(what: str, cached: bool, hint: str) -> bool:
    """Whether to load ``what`` from the local cache only (``local_files_only=True``). Raises a one-line error,
    ending in ``hint``, when it is neither cached nor downloadable."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        if cached:
            return True
        raise VipbenchError(f"{what} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {hint}")
    reason = unreachable_reason()
    if reason is None:
        return False
    if cached:
        return True
    raise VipbenchError(
        f"cannot download {what}: the Hugging Face Hub ({constants.ENDPOINT}) is unreachable ({reason}); {hint}"
    )


def model_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def dataset_cached(repo_id: str, revision: str | None) -> bool:
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - any failure means "not usable from the cache"
        return False
    return True


__all__ = ["dataset_cached", "local_only", "model_cached", "unreachable_reason"]
