"""Whether the Hugging Face hub may be asked for files: one quick check, then no retry logs.

``GEOFM_OFFLINE`` or ``HF_HUB_OFFLINE`` stop every hub request; otherwise one TCP connection to the hub
(``HF_ENDPOINT`` when set) with a short timeout decides, once per process, so a machine without a route
to the hub gets one clear message instead of the hub client's retries.
"""

from __future__ import annotations

import functools
import os
import socket

__all__ = ["HUB_CHECK_TIMEOUT_S", "OFFLINE_VARIABLES", "hub_reachable", "offline_reason"]

OFFLINE_VARIABLES = ("GEOFM_OFFLINE", "HF_HUB_OFFLINE")
"""Environment variables that, set to 1/true/yes/on, stop every hub request."""
HUB_CHECK_TIMEOUT_S = 2.0
"""How long the one reachability check of the hub waits before geofm treats the machine as offline."""


def _hub_endpoint() -> tuple[str, int]:
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)


@functools.lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """Whether one TCP connection to the hub opens, with a short timeout and no retries.

    Asked once per process (``hub_reachable.cache_clear()`` forgets the answer); tests replace this
    function to stand for a hub that answers, or one that cannot be reached.
    """
    try:
        socket.create_connection(_hub_endpoint(), timeout=HUB_CHECK_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def offline_reason() -> str | None:
    """Why no hub request should be made (an offline variable, or the hub cannot be reached), or ``None``."""
    for variable in OFFLINE_VARIABLES:
        if os.environ.get(variable, "").strip().lower() in {"1", "true", "yes", "on"}:
            return f"{variable} is set"
    if not hub_reachable():
        host, port = _hub_endpoint()
        return f"the Hugging Face hub ({host}:{port}) cannot be reached from this machine"
    return None
