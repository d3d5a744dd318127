"""`smartcity twin ...`: the SUMO digital twin's commands (registered by shared/cli.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

__all__ = ["twin"]

_CONTROLLERS = ("fixed", "actuated", "platform")
_SUMOCFG_HELP = (
    "A .sumocfg with a network, traffic lights and route files, or a built-in scenario: "
    "adlershof, helsinki, braunschweig (real networks; demand is generated into .twin-cache/)."
)


def _fail(msg: str) -> None:
    click.secho(f"error: {msg}", fg="red", err=True)
    sys.exit(1)


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send anything SUMO's C++ side prints to stderr: stdout carries our JSON alone."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real fd 1 (embedded runners): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _resolve(sumocfg: str, seed: int) -> str:
    from shared.twin.demand import resolve_sumocfg

    return str(resolve_sumocfg(sumocfg, seed=seed))


def _table(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {value}")


@click.group()
def twin() -> None:
    """The SUMO digital twin: evaluate controllers, emergency runs, live run with the platform."""


@twin.command("evaluate")
@click.option("--sumocfg", required=True, help=_SUMOCFG_HELP)
@click.option(
    "--controller",
    type=click.Choice(_CONTROLLERS),
    default="platform",
    show_default=True,
    help="fixed: the network's own phases as a fixed-time plan; "
    "actuated: the same phases under SUMO's actuated control; platform: ours.",
)
@click.option(
    "--end",
    type=float,
    default=None,
    help="Simulated seconds to run (default: the configuration's end, else 3600).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="SUMO's random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the contract).")
def twin_evaluate(
    sumocfg: str, controller: str, end: float | None, seed: int, as_json: bool
) -> None:
    """Run a scenario headless with one signal controller and measure every trip.

    Example: smartcity twin evaluate --sumocfg adlershof --controller platform --end 3600 --json
    """
    from shared.twin.evaluate import evaluate
    from shared.twin.scenario import ScenarioError

    try:
        with _quiet_stdout():
            result = evaluate(
                sumocfg=_resolve(sumocfg, seed), controller=controller, end=end, seed=seed
            )
    except (ScenarioError, ValueError) as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # SUMO refuses the scenario (libsumo raises its own types)
        _fail(f"SUMO could not run {sumocfg}: {str(exc).strip().splitlines()[-1]}")
        return
    data = result.as_dict()
    if as_json:
        click.echo(json.dumps(data))
        return
    _table([(k, v) for k, v in data.items()])


@twin.command("emergency")
@click.option("--sumocfg", required=True, help=_SUMOCFG_HELP)
@click.option("--controller", type=click.Choice(_CONTROLLERS), default="fixed",
              show_default=True, help="How the other signals run, in both runs.")  # fmt: skip
@click.option(
    "--dispatch",
    "dispatch_s",
    type=float,
    default=None,
    help="Simulated second the vehicle is dispatched (default: begin + 300).",
)
@click.option("--seed", type=int, default=42, show_default=True,
              help="SUMO's seed; also picks the route.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (the contract).")
def twin_emergency(
    sumocfg: str, controller: str, dispatch_s: float | None, seed: int, as_json: bool
) -> None:
    """Send an emergency vehicle across the network with and without signal pre-emption.

    Example: smartcity twin emergency --sumocfg adlershof --json
    """
    from shared.twin.emergency import run_emergency
    from shared.twin.scenario import ScenarioError

    try:
        with _quiet_stdout():
            result = run_emergency(
                sumocfg=_resolve(sumocfg, seed), controller=controller, seed=seed,
                dispatch_s=dispatch_s,
            )  # fmt: skip
    except (ScenarioError, ValueError) as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # SUMO refuses the scenario (libsumo raises its own types)
        _fail(f"SUMO could not run {sumocfg}: {str(exc).strip().splitlines()[-1]}")
        return
    data = result.as_dict()
    if as_json:
        click.echo(json.dumps(data))
        return
    rows = [(k, v) for k, v in data.items() if k != "junctions_preempted"]
    rows.append(("junctions_preempted", ", ".join(j["intersection_id"] for j in
                                                  data["junctions_preempted"])))  # fmt: skip
    _table(rows)


@twin.command("run")
@click.option("--sumocfg", required=True, help=_SUMOCFG_HELP)
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    help="Simulated seconds per wall second (0: as fast as possible).",
)
@click.option(
    "--end",
    type=float,
    default=None,
    help="Simulated seconds to run (default: the configuration's end, else 3600).",
)
@click.option(
    "--publish-every",
    "publish_every_s",
    type=float,
    default=10.0,
    show_default=True,
    help="Simulated seconds between two readings of a detector.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="SUMO's random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def twin_run(sumocfg: str, speed: float, end: float | None, publish_every_s: float, seed: int,
             as_json: bool) -> None:  # fmt: skip
    """Run a scenario in step with the platform: detectors -> MQTT -> database -> controller.

    Needs the stack and the ingestion services (`smartcity demo`, or `stack up` plus `worker`
    and `bridge`). Example: smartcity twin run --sumocfg adlershof --speed 10 --end 1800
    """
    from shared.cli import _export_stack_env
    from shared.config import get_settings
    from shared.twin.run import run_twin
    from shared.twin.scenario import ScenarioError

    _export_stack_env()
    settings = get_settings()
    if not settings.mqtt_url or not settings.database_url:
        _fail("MQTT_URL / DATABASE_URL are not set: run `smartcity stack up` first")
        return
    say = lambda msg: click.echo(f"  {msg}", err=True)  # noqa: E731
    emit = _console_emitter(settings.redis_url, say) if settings.redis_url else None
    try:
        with _quiet_stdout():
            summary = run_twin(
                sumocfg=_resolve(sumocfg, seed), mqtt_url=settings.mqtt_url, speed=speed,
                end=end, seed=seed, publish_every_s=publish_every_s, progress=say, emit=emit,
            )  # fmt: skip
    except (ScenarioError, ValueError, ConnectionError) as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        _fail("interrupted")
        return
    data = summary.as_dict()
    if as_json:
        click.echo(json.dumps(data))
    else:
        _table([(k, len(v) if isinstance(v, list) else v) for k, v in data.items()])


def _console_emitter(redis_url: str, say: Any) -> Any:
    """Socket.IO events to the consoles' twin room; a lost event never stops the twin."""
    from redis import Redis

    from shared.realtime import TWIN_ROOM, Fanout
    from shared.twin.live import UNIT_PROGRESS
    from shared.twin.service import remember_run_report

    fanout = Fanout(redis_url=redis_url, mqtt_url=None)
    redis = Redis.from_url(redis_url)

    def emit(event: str, payload: dict[str, Any]) -> None:
        try:
            fanout.emit_event(event, payload, room=TWIN_ROOM)
            if event == UNIT_PROGRESS:
                remember_run_report(redis=redis, report=payload)
        except Exception as exc:  # Redis away: the next report carries the newer state
            say(f"could not send {event} to the consoles: {exc}")

    return emit
