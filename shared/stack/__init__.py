"""The private local stack: PostgreSQL+PostGIS+pgRouting, Redis and Mosquitto under `.stack/`.

Every server runs on a free port on 127.0.0.1, under a folder of ours, started by us. We never
connect to a server we did not start: other servers may hold the standard ports on this machine.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

DB_NAME = "smartcity"
DB_USER = "smartcity"

# Debian package that provides each binary, for the one-line message when one is missing.
DEBIAN_PACKAGES = {
    "postgres": "postgresql-15",
    "postgis": "postgresql-15-postgis-3",
    "pgrouting": "postgresql-15-pgrouting",
    "redis-server": "redis-server",
    "mosquitto": "mosquitto",
}


class StackError(RuntimeError):
    """A stack component could not be started, found or stopped."""


@dataclass
class Component:
    """One server process of the stack."""

    name: str
    port: int
    pid: int | None = None


@dataclass
class StackState:
    """What `stack up` started, persisted in `.stack/state.json`."""

    root: str
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.components['postgres'].port}/{DB_NAME}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.components['redis'].port}/0"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.components['mosquitto'].port}"

    def env(self) -> dict[str, str]:
        urls = {
            "postgres": ("DATABASE_URL", lambda: self.database_url),
            "redis": ("REDIS_URL", lambda: self.redis_url),
            "mosquitto": ("MQTT_URL", lambda: self.mqtt_url),
        }
        return {key: url() for name, (key, url) in urls.items() if name in self.components}


# ---------------------------------------------------------------------------------------------
# small helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not port_open(port):
            return port
    raise StackError("could not find a free TCP port on 127.0.0.1")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Return True if something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def pid_alive(pid: int | None) -> bool:
    """Return True if a process with this pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `check` until it is true or raise StackError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")


SYSTEM_BIN_DIRS = (
    Path("/usr/sbin"),
    Path("/usr/bin"),
    Path("/usr/local/sbin"),
    Path("/usr/local/bin"),
)


def find_binary(
    name: str, *, search_dirs: tuple[Path, ...] = SYSTEM_BIN_DIRS, use_path: bool = True
) -> Path:
    """Return the path of a server binary or raise a one-line error naming its Debian package."""
    for d in search_dirs:
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name) if use_path else None
    if found:
        return Path(found)
    pkg = DEBIAN_PACKAGES.get(name, name)
    raise StackError(
        f"`{name}` not found: install the Debian package `{pkg}` (apt-get install {pkg})"
    )


def postgres_bindir() -> Path:
    """Return the bin folder of the newest PostgreSQL that has PostGIS and pgRouting installed."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "postgres").is_file()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
        reverse=True,
    )
    if not versions:
        raise StackError(
            "PostgreSQL server not found: install the Debian package `postgresql-15` "
            "(apt-get install postgresql-15-postgis-3 postgresql-15-pgrouting)"
        )
    for v in versions:
        ext = Path(f"/usr/share/postgresql/{v.name}/extension")
        has_postgis = (ext / "postgis.control").is_file()
        has_pgr = (ext / "pgrouting.control").is_file()
        if has_postgis and has_pgr:
            return v / "bin"
    v = versions[0].name
    missing = (
        "postgresql-{v}-postgis-3"
        if not (Path(f"/usr/share/postgresql/{v}/extension/postgis.control").is_file())
        else "postgresql-{v}-pgrouting"
    )
    pkg = missing.format(v=v)
    raise StackError(f"PostGIS/pgRouting not found: install the Debian package `{pkg}`")


def _as_user() -> str | None:
    """Return the account to run PostgreSQL as: initdb refuses to run as root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise StackError(
            "running as root needs the `postgres` account: install the Debian package postgresql-15"
        ) from exc
    return "postgres"


def _check_traversable(path: Path, user: str) -> None:
    """Fail early, with a clear message, if `user` cannot reach `path`."""
    entry = pwd.getpwnam(user)
    for parent in [*reversed(path.parents)]:
        st = parent.stat()
        if st.st_uid == entry.pw_uid:
            continue
        if not st.st_mode & 0o001:
            raise StackError(
                f"the `{user}` account cannot enter {parent}: PostgreSQL refuses to run as root, "
                f"so the stack folder must be reachable by `{user}` (chmod o+x {parent})"
            )


def _run(cmd: list[str], *, user: str | None = None, log: Path | None = None) -> None:
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        res = subprocess.run(cmd, user=user, stdout=out, stderr=subprocess.STDOUT, check=False)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if res.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:] if log and log.exists() else ""
        raise StackError(f"{Path(cmd[0]).name} failed (exit {res.returncode}). Log tail:\n{tail}")


# ---------------------------------------------------------------------------------------------
# the stack


class LocalStack:
    """Start, inspect and stop the private servers under one folder."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.fsync = fsync
        self.state_file = self.root / "state.json"
        self.env_file = self.root / "env"

    # state ------------------------------------------------------------------------------------
    def load_state(self) -> StackState | None:
        """Return the persisted state, or None if the stack was never started here."""
        if not self.state_file.is_file():
            return None
        raw = json.loads(self.state_file.read_text())
        comps = {k: Component(**v) for k, v in raw.get("components", {}).items()}
        return StackState(root=raw["root"], components=comps)

    def _save_state(self, state: StackState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data = {
            "root": state.root,
            "components": {k: asdict(v) for k, v in state.components.items()},
        }
        self.state_file.write_text(json.dumps(data, indent=2))
        lines = [f"{k}={v}" for k, v in state.env().items()]
        self.env_file.write_text("\n".join(lines) + "\n")

    # up ---------------------------------------------------------------------------------------
    def up(self, *, progress: Callable[[str], None] = lambda _msg: None) -> StackState:
        """Start whatever is not running yet; a running component is left as it is."""
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.load_state() or StackState(root=str(self.root))
        starters = (
            ("postgres", self._start_postgres),
            ("redis", self._start_redis),
            ("mosquitto", self._start_mosquitto),
        )
        for name, start in starters:
            comp = state.components.get(name)
            if comp and self._running(name, comp):
                progress(f"{name}: already running on port {comp.port} (pid {comp.pid})")
                continue
            # Reuse the recorded port when it is still free, so URLs stay stable across restarts.
            port = comp.port if comp and not port_open(comp.port) else free_port()
            progress(f"{name}: starting on 127.0.0.1:{port}")
            state.components[name] = start(port)
            self._save_state(state)
        self._save_state(state)
        return state

    def _running(self, name: str, comp: Component) -> bool:
        pid = self._read_pid(name)
        return pid is not None and pid == comp.pid and pid_alive(pid) and port_open(comp.port)

    def _read_pid(self, name: str) -> int | None:
        pidfile = {
            "postgres": self.root / "postgres" / "data" / "postmaster.pid",
            "redis": self.root / "redis" / "redis.pid",
            "mosquitto": self.root / "mosquitto" / "mosquitto.pid",
        }[name]
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _start_postgres(self, port: int) -> Component:
        bindir = postgres_bindir()
        base = self.root / "postgres"
        data = base / "data"
        log = base / "postgres.log"
        user = _as_user()
        base.mkdir(parents=True, exist_ok=True)
        if user:
            _check_traversable(base, user)
            shutil.chown(base, user=user)
        if not (data / "PG_VERSION").is_file():
            if data.exists():
                shutil.rmtree(data)
            _run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "-N"],
                user=user, log=base / "initdb.log",
            )  # fmt: skip
        # TCP on loopback only; no Unix socket, whose path length limit a deep checkout can break.
        opts = [
            "-c listen_addresses=127.0.0.1",
            f"-p {port}",
            "-c unix_socket_directories=''",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            "-c max_wal_size=2GB",
        ]
        if not self.fsync:
            # Tests only: a crash may lose data, which a throwaway test cluster accepts.
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        _run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", " ".join(opts),
             "-w", "-t", "60", "start"],
            user=user, log=base / "pg_ctl.log",
        )  # fmt: skip
        wait_for(lambda: port_open(port), timeout=30, what="PostgreSQL to accept connections")
        self._bootstrap_database(port)
        pid = self._read_pid("postgres")
        return Component(name="postgres", port=port, pid=pid)

    def _bootstrap_database(self, port: int) -> None:
        import psycopg

        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname=%s", (DB_USER,)).fetchone():
                # Superuser in the private cluster: it owns extensions and partitions it creates.
                conn.execute(f"CREATE ROLE {DB_USER} LOGIN SUPERUSER")
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname=%s", (DB_NAME,)
            ).fetchone():
                conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        with psycopg.connect(
            f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB_NAME}", autocommit=True
        ) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            c.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")

    def _start_redis(self, port: int) -> Component:
        binary = find_binary("redis-server")
        base = self.root / "redis"
        base.mkdir(parents=True, exist_ok=True)
        pidfile = base / "redis.pid"
        pidfile.unlink(missing_ok=True)
        # AOF with fsync every second: the Celery broker must not forget accepted batches.
        conf = base / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "protected-mode yes",
                    "daemonize yes",
                    f'pidfile "{pidfile}"',
                    f'dir "{base}"',
                    f'logfile "{base / "redis.log"}"',
                    'save ""',
                    "appendonly yes",
                    "appendfsync everysec",
                ]
            )
            + "\n"
        )
        _run([str(binary), str(conf)], log=base / "start.log")
        # The pid file exists a moment before its number is in it: wait for the number, or
        # `down` would not know what to stop and the server would outlive its stack.
        wait_for(
            lambda: self._read_pid("redis") is not None and port_open(port),
            timeout=20,
            what="Redis",
        )
        return Component(name="redis", port=port, pid=self._read_pid("redis"))

    def _start_mosquitto(self, port: int) -> Component:
        binary = find_binary("mosquitto")
        base = self.root / "mosquitto"
        base.mkdir(parents=True, exist_ok=True)
        pidfile = base / "mosquitto.pid"
        pidfile.unlink(missing_ok=True)
        conf = base / "mosquitto.conf"
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            f"pid_file {pidfile}",
            "persistence false",
            f"log_dest file {base / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            # Bursty sensor gateways: do not drop QoS 1 messages queued for a slow bridge.
            "max_queued_messages 1000000",
            "max_inflight_messages 0",
        ]
        if os.geteuid() == 0:
            # As root mosquitto would switch to the `mosquitto` account and lose our files.
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        _run([str(binary), "-c", str(conf), "-d"], log=base / "start.log")
        wait_for(
            lambda: self._read_pid("mosquitto") is not None and port_open(port),
            timeout=20,
            what="Mosquitto",
        )
        return Component(name="mosquitto", port=port, pid=self._read_pid("mosquitto"))

    # status -----------------------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, object]]:
        """Return, per component, its port, pid and whether it is up."""
        state = self.load_state()
        if state is None:
            return {}
        out: dict[str, dict[str, object]] = {}
        for name, comp in state.components.items():
            out[name] = {"port": comp.port, "pid": comp.pid, "running": self._running(name, comp)}
        return out

    # down -------------------------------------------------------------------------------------
    def down(
        self, *, purge: bool = False, progress: Callable[[str], None] = lambda _m: None
    ) -> None:
        """Stop exactly the processes this stack started; with purge, delete its data too."""
        state = self.load_state()
        if state is not None:
            for name in ("mosquitto", "redis", "postgres"):
                comp = state.components.get(name)
                if comp is None:
                    continue
                pid = self._read_pid(name) or comp.pid
                if pid != comp.pid or not pid_alive(pid):
                    progress(f"{name}: not running")
                    continue
                progress(f"{name}: stopping pid {pid}")
                if name == "postgres":
                    self._stop_postgres(pid)
                else:
                    self._terminate(pid, name)
                if port_open(comp.port):
                    raise StackError(f"{name} stopped but port {comp.port} is still open")
        if purge and self.root.exists():
            shutil.rmtree(self.root)
        elif self.env_file.exists():
            self.env_file.unlink()

    def _stop_postgres(self, pid: int) -> None:
        data = self.root / "postgres" / "data"
        try:
            _run(
                [str(postgres_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                user=_as_user(), log=self.root / "postgres" / "pg_ctl.log",
            )  # fmt: skip
        except StackError:
            self._terminate(pid, "postgres")
        wait_for(lambda: not pid_alive(pid), timeout=30, what="PostgreSQL to stop")

    @staticmethod
    def _terminate(pid: int, name: str) -> None:
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(lambda: not pid_alive(pid), timeout=15, what=f"{name} to stop")
        except StackError:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), timeout=5, what=f"{name} to die")
