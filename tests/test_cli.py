"""The `smartcity` command: help for every sub-command and the db commands on the test stack."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from shared.cli import _demo_commands, main
from shared.stack import StackState
from shared.tasks.celery_app import QUEUES, URGENT_QUEUE


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["stack"],
        ["db"],
        ["seed"],
        ["stack", "up"],
        ["db", "upgrade"],
        ["seed", "demo"],
        ["demo"],
        ["rules", "sync-sums"],
    ],
)
def test_every_command_has_help_with_an_example(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    if args and args[-1] not in ("stack", "db", "seed"):
        assert "Example: smartcity" in result.output


def test_db_partitions_and_seed_report(engine, stack: StackState) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    result = runner.invoke(main, ["db", "partitions", "--ahead", "9", "--back", "0"])
    assert result.exit_code == 0, result.output
    assert "partitions: observation_p" in result.output

    result = runner.invoke(main, ["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert "already seeded" in result.output
    assert "OpenStreetMap contributors" in result.output
    assert "password" not in result.output.split("already seeded")[1]


def test_rules_sync_sums_reports_what_it_did(engine) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(main, ["rules", "sync-sums"])
    assert first.exit_code == 0, first.output
    assert "datastreams watched by window-mean rules" in first.output
    again = runner.invoke(main, ["rules", "sync-sums"])
    assert "0 added, 0 removed, 0 with a new window" in again.output, again.output


def test_stack_status_without_a_stack_says_what_to_do(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMARTCITY_STACK_DIR", str(tmp_path / "none"))
    result = CliRunner().invoke(main, ["stack", "status"])
    assert result.exit_code == 1
    assert "smartcity stack up" in result.output


def test_bridge_members_need_a_numbered_client_id() -> None:
    for client_id in ("ingest", "ingest-2", "ingest-x", "-0", "ingest-\u00b9"):
        result = CliRunner().invoke(main, ["bridge", "--members", "2", "--client-id", client_id])
        assert result.exit_code == 1, client_id
        assert "--client-id must be <base>-<0..1>" in result.output


@pytest.mark.parametrize(
    ("pool", "prefetch"), [("solo", ["--prefetch-multiplier", "1"]), ("prefork", [])]
)
def test_a_solo_worker_reserves_no_task_behind_the_one_it_runs(
    pool: str, prefetch: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.tasks.celery_app import WORKER_QUEUES_ENV, celery_app

    seen: list[list[str]] = []
    monkeypatch.setattr(celery_app, "worker_main", seen.append)
    monkeypatch.setenv(WORKER_QUEUES_ENV, "")
    result = CliRunner().invoke(main, ["worker", "--pool", pool, "--queues", "ingest"])
    assert result.exit_code == 0, result.output
    (argv,) = seen
    assert argv[argv.index("-P") + 1] == pool
    tail = argv[argv.index("--without-mingle") + 1 :]
    assert tail == prefetch


def _parse(args: list[str]) -> click.Context:
    """Parse a command line of ours down to its leaf command, as click would run it."""
    ctx = main.make_context("smartcity", list(args))
    command: click.Command = main
    rest = list(args)  # our groups take no options of their own: the rest starts with the name
    while isinstance(command, click.Group):
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, args
        ctx = sub.make_context(name or "", list(rest), parent=ctx)
        command = sub
    return ctx


def test_the_demo_s_services_are_valid_commands_and_serve_every_queue() -> None:
    # `make demo` starts these minutes after install: an option renamed or a queue left without
    # a worker fails here instead.
    commands = _demo_commands(exe="smartcity", rate="50/s", ports={"console": 1, "api": 2})
    served: dict[str, list[dict[str, object]]] = {}
    workers: list[dict[str, object]] = []
    for cmd in commands.values():
        ctx = _parse(cmd[1:])
        if cmd[1] == "worker":
            workers.append(ctx.params)
            for queue in str(ctx.params["queues"]).split(","):
                served.setdefault(queue, []).append(ctx.params)
    assert set(served) == set(QUEUES)
    assert all(len(workers) == 1 for q, workers in served.items() if q != "ingest")
    (urgent,) = served[URGENT_QUEUE]
    assert urgent["pool"] == "solo" and urgent["nice"] == 0  # the alerts' path is not niced
    assert len(served["ingest"]) == 2
    assert all(w["pool"] == "solo" and w["nice"] == 10 for w in served["ingest"])
    assert sum(bool(w["beat"]) for w in workers) == 1  # one scheduler
