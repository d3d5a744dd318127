"""Open-loop load: N clients that together send `rate` requests a second (Poisson arrivals).

wrk's closed loop measures throughput; its `delay()` cannot spread the first request of each
connection, so 500 connections start with a burst of 500. Here every request has a scheduled
time and latency is measured from it (no coordinated omission: a late send counts as waiting).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

Build = Callable[[random.Random], tuple[str, str, dict[str, str] | None]]


@dataclass
class PacedResult:
    latencies_ms: list[float]
    errors: int
    duration_s: float
    kinds: Counter[str]  # what the errors were: HTTP status or exception name


async def _run(base: str, build: Build, *, rate: float, duration_s: float, clients: int,
               seed: int) -> PacedResult:  # fmt: skip
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    lat: list[float] = []
    kinds: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def one(due: float, method: str, path: str, form: dict[str, str] | None) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                resp = await client.request(method, path, data=form)
                if resp.status_code >= 400:
                    kinds[str(resp.status_code)] += 1
            except httpx.HTTPError as exc:
                kinds[type(exc).__name__] += 1
            lat.append((time.perf_counter() - due) * 1000)

        t0 = time.perf_counter() + 0.5
        due, tasks = t0, []
        while due < t0 + duration_s:
            tasks.append(asyncio.create_task(one(due, *build(rng))))
            due += rng.expovariate(rate)
        await asyncio.gather(*tasks)
    return PacedResult(lat, sum(kinds.values()), duration_s, kinds)


def run_paced(base: str, build: Build, *, rate: float, duration_s: float, clients: int = 500,
              seed: int = 1) -> PacedResult:  # fmt: skip
    """Send about rate x duration_s requests built by `build`; return their latencies."""
    return asyncio.run(
        _run(base, build, rate=rate, duration_s=duration_s, clients=clients, seed=seed)
    )
