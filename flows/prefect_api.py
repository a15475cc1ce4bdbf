"""How a lost or unreachable Prefect API shows itself to the code that calls a flow.

Prefect's client raises httpx's transport errors when the API goes away mid-run, and a
``RuntimeError("Failed to reach API at URL")`` when it cannot reach it at all. The CLI turns
both into one clear line; naming them here keeps httpx (a network library) out of the CLI,
and out of every other module of flows/ (tests/test_layers.py allows this one import).
"""

from __future__ import annotations

import httpx

# What Prefect's client raises when the API stops answering during a run (after its retries).
API_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError,)


def failed_to_reach_api(exc: BaseException) -> bool:
    """True when ``exc`` is Prefect's client saying it could not reach the API at all."""
    return isinstance(exc, RuntimeError) and "Failed to reach API" in str(exc)
