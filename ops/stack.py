"""orgload's Prefect stack on one machine: server, work pool, deployments, automation, worker.

    python ops/stack.py up         # make ops-up: start what is not running, deploy, print the UI
    python ops/stack.py down       # make ops-down: stop the worker, then the server
    python ops/stack.py worker     # start the worker again if it died (the server must be up)
    python ops/stack.py status     # what runs, where its logs are
    python ops/stack.py configure  # production: pool, deployments, automation on PREFECT_API_URL

``up`` can be run again at any time: a live server or worker is kept, the pool, the deployments
(``prefect.yaml``) and the zombie automation are brought up to date, a dead worker is restarted.

Configuration, read once here (docs/operations.md):

- ``ORGLOAD_PREFECT_PORT`` — port of the server on 127.0.0.1 (default 4200);
- ``ORGLOAD_HOME`` — state (Prefect home, PIDs, logs) goes to ``$ORGLOAD_HOME/prefect/``; without
  it, to ``.ops/`` in the project folder;
- ``ORGLOAD_PREFECT_START_TIMEOUT`` — seconds to wait for the server and the worker (180);
- ``ORGLOAD_PREFECT_WORKER_NAME`` — the worker's name (default ``orgload-<host>-<port>``): a
  second worker on the same machine (its own ``ORGLOAD_HOME``) needs a name of its own;
- ``ORGLOAD_PREFECT_WORKER_LIMIT`` — the most flow runs the worker runs at once (no limit).

Every other variable reaches the server and the worker unchanged: ``ORGLOAD_*`` for the flows,
``PREFECT_API_DATABASE_CONNECTION_URL`` for a PostgreSQL-backed server, ``PREFECT_WORKER_*``.
Only processes this script started (their PIDs are in the state folder) are ever signalled.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
PREFECT = Path(sys.executable).with_name("prefect")
HEARTBEAT_SECONDS = 30  # Prefect's minimum; every flow run beats this often
ZOMBIE_AFTER_SECONDS = 90  # three missed heartbeats: the run is dead
ZOMBIE_AUTOMATION = "orgload-crash-silent-runs"


class StackError(Exception):
    """The stack could not be brought up or down; the message says what to look at."""


@dataclass(frozen=True)
class Stack:
    """Where the local stack lives and how to reach it."""

    project: Path
    state: Path
    port: int
    start_timeout: float
    worker_name_override: str | None = None
    worker_limit: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Stack:
        home = environ.get("ORGLOAD_HOME")
        state = Path(home).resolve() / "prefect" if home else PROJECT / ".ops"
        try:
            port = int(environ.get("ORGLOAD_PREFECT_PORT", "4200"))
            timeout = float(environ.get("ORGLOAD_PREFECT_START_TIMEOUT", "180"))
        except ValueError as exc:
            raise StackError(
                f"ORGLOAD_PREFECT_PORT / _START_TIMEOUT must be numbers: {exc}"
            ) from exc
        if not 1 <= port <= 65535 or timeout <= 0:
            raise StackError("ORGLOAD_PREFECT_PORT must be 1-65535 and the timeout positive")
        limit = environ.get("ORGLOAD_PREFECT_WORKER_LIMIT")
        if limit is not None and not (limit.isdigit() and int(limit) >= 1):
            raise StackError("ORGLOAD_PREFECT_WORKER_LIMIT must be a whole number from 1")
        return cls(
            project=PROJECT,
            state=state,
            port=port,
            start_timeout=timeout,
            worker_name_override=environ.get("ORGLOAD_PREFECT_WORKER_NAME") or None,
            worker_limit=int(limit) if limit else None,
        )

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def prefect_home(self) -> Path:
        return self.state / "home"

    @property
    def worker_name(self) -> str:
        return self.worker_name_override or f"orgload-{socket.gethostname()}-{self.port}"

    def pid_file(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.state / f"{name}.log"

    def env(self) -> dict[str, str]:
        """The environment of every Prefect process of the stack (and of this one)."""
        return {
            **os.environ,
            "PREFECT_HOME": str(self.prefect_home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_CLI_PROMPT": "false",
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        }


def work_pool_name(project: Path = PROJECT) -> str:
    """The one work pool every deployment of ``prefect.yaml`` uses."""
    config = yaml.safe_load((project / "prefect.yaml").read_text(encoding="utf-8"))
    names = {d["work_pool"]["name"] for d in config.get("deployments") or []}
    if len(names) != 1:
        raise StackError(f"prefect.yaml must use exactly one work pool, found {sorted(names)}")
    return names.pop()


# --- processes -----------------------------------------------------------------------------


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def recorded_pid(stack: Stack, name: str) -> int | None:
    """The PID this script recorded for ``name``, if that process still runs Prefect."""
    try:
        pid = int(stack.pid_file(name).read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (OSError, ValueError):
        return None
    if b"prefect" not in command or name.encode() not in command or not running(pid):
        return None  # gone, or the PID was reused by another program
    return pid


def spawn(stack: Stack, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session (it outlives this script), logging to the state folder."""
    with stack.log_file(name).open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv,
            cwd=stack.project,
            env=stack.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.pid_file(name).write_text(f"{proc.pid}\n")
    return proc


def stop(stack: Stack, name: str, grace: float = 20) -> int | None:
    """SIGTERM twice (a worker drains on the first, stops on the second), then SIGKILL."""
    pid = recorded_pid(stack, name)
    if pid is not None:
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGTERM, grace)):
            _signal(pid, sig)
            if _gone(pid, wait):
                break
        else:
            _signal(-pid, signal.SIGKILL)  # its own session: the group is what it started
            _signal(pid, signal.SIGKILL)
            _gone(pid, 10)
    stack.pid_file(name).unlink(missing_ok=True)
    return pid


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        if pid < 0:
            os.killpg(-pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the server ----------------------------------------------------------------------------


def healthy(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.api_url}/health", timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def ensure_server(stack: Stack) -> int:
    pid = recorded_pid(stack, "server")
    if pid is not None and healthy(stack):
        return pid
    if pid is None and healthy(stack):
        raise StackError(
            f"another Prefect server already answers on port {stack.port}; stop it or set "
            "ORGLOAD_PREFECT_PORT"
        )
    if pid is not None:
        stop(stack, "server")  # alive but not answering: start afresh
    argv = [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(stack.port)]
    proc = spawn(stack, "server", argv)
    deadline = time.monotonic() + stack.start_timeout
    while not healthy(stack):
        if proc.poll() is not None:
            raise StackError(
                f"the Prefect server exited ({proc.returncode}); {stack.log_file('server')}:\n"
                + _tail(stack.log_file("server"))
            )
        if time.monotonic() > deadline:
            stop(stack, "server")
            raise StackError(
                f"the Prefect server was not healthy after {stack.start_timeout:.0f} s; "
                f"{stack.log_file('server')}:\n" + _tail(stack.log_file("server"))
            )
        time.sleep(1)
    return proc.pid


# --- what lives in the server --------------------------------------------------------------


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool ``name`` unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type="process",
                    description="orgload flows (prefect.yaml); add workers to scale out",
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
            return True


def deploy(project: Path, env: Mapping[str, str], log_path: Path) -> None:
    """``prefect deploy --all`` from the project folder, without prompts."""
    argv = [str(PREFECT), "deploy", "--all", "--prefect-file", "prefect.yaml", "--no-prompt"]
    with log_path.open("w") as log:
        done = subprocess.run(
            argv,
            cwd=project,  # the build step records this folder as the runs' working directory
            env={**env, "PREFECT_CLI_PROMPT": "false"},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    if done.returncode != 0:
        raise StackError(
            f"prefect deploy failed ({done.returncode}); {log_path}:\n" + _tail(log_path, 40)
        )


def ensure_zombie_automation(within_seconds: float = ZOMBIE_AFTER_SECONDS) -> str:
    """The automation that marks a run Crashed after ``within_seconds`` without a heartbeat.

    A run whose process and worker both died stays Running for ever; this makes it Crashed, and
    the Crashed event starts ``incident-sla-watch``, whose reconciler opens the incident.
    Created once by name, updated in place afterwards: returns "created" or "updated".
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    wanted = AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description=(
            f"A flow run that sends no heartbeat for {within_seconds:.0f} s is dead (its "
            f"process and its worker are gone; runs beat every {HEARTBEAT_SECONDS} s): mark it "
            "Crashed. Created by ops/stack.py."
        ),
        enabled=True,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            # Any event of the run after its heartbeat: the next heartbeat, or its end under
            # whatever name (Prefect names a state's event after the state: Completed, Failed,
            # Rejected, QuotaExhausted, InvalidParameters...). Listing the type names only
            # would take every run ending in a custom-named state for dead.
            expect={"prefect.flow-run.*"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=within_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                message=(
                    f"No heartbeat for {within_seconds:.0f} s: the run's process and worker are "
                    "gone (zombie automation)."
                ),
                force=False,  # a run that ended meanwhile keeps its end state
            )
        ],
    )
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        if not existing:
            client.create_automation(wanted)
            return "created"
        client.update_automation(existing[0].id, wanted)
        for duplicate in existing[1:]:  # two `up` racing: keep one
            client.delete_automation(duplicate.id)
        return "updated"


# --- the worker ----------------------------------------------------------------------------


def ensure_worker(stack: Stack, pool: str) -> int:
    pid = recorded_pid(stack, "worker")
    if pid is not None:
        return pid
    started = time.time()
    argv = [str(PREFECT), "worker", "start", "--pool", pool, "--name", stack.worker_name]
    if stack.worker_limit is not None:
        argv += ["--limit", str(stack.worker_limit)]
    proc = spawn(stack, "worker", argv)
    deadline = time.monotonic() + stack.start_timeout
    while not _worker_polled_since(pool, stack.worker_name, started):
        if proc.poll() is not None:
            raise StackError(
                f"the worker exited ({proc.returncode}); {stack.log_file('worker')}:\n"
                + _tail(stack.log_file("worker"))
            )
        if time.monotonic() > deadline:
            stop(stack, "worker")
            raise StackError(
                f"the worker did not reach the server in {stack.start_timeout:.0f} s; "
                f"{stack.log_file('worker')}:\n" + _tail(stack.log_file("worker"))
            )
        time.sleep(1)
    return proc.pid


def _worker_polled_since(pool: str, name: str, since: float) -> bool:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        workers = client.read_workers_for_work_pool(pool)
    return any(
        w.name == name and w.last_heartbeat_time and w.last_heartbeat_time.timestamp() >= since
        for w in workers
    )


# --- commands ------------------------------------------------------------------------------


def up(stack: Stack) -> None:
    stack.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(stack.env())  # this process talks to the same server
    pool = work_pool_name(stack.project)
    say(f"server   {stack.ui_url} (PREFECT_HOME {stack.prefect_home})")
    server = ensure_server(stack)
    say(f"         running, pid {server}, log {stack.log_file('server')}")
    say(f"pool     {pool}: {'created' if ensure_work_pool(pool) else 'exists'}")
    say("deploy   prefect deploy --all (prefect.yaml)")
    deploy(stack.project, stack.env(), stack.log_file("deploy"))
    say(f"         done, log {stack.log_file('deploy')}")
    say(f"zombies  automation {ZOMBIE_AUTOMATION!r}: {ensure_zombie_automation()}")
    worker = ensure_worker(stack, pool)
    say(f"worker   {stack.worker_name}, pid {worker}, log {stack.log_file('worker')}")
    say("")
    say(f"Prefect UI: {stack.ui_url}")
    say(f"CLI:        export PREFECT_API_URL={stack.api_url}")
    say("Stop with:  make ops-down")


def configure(stack: Stack) -> None:
    """Pool, deployments and automation on the server at ``PREFECT_API_URL`` (production)."""
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise StackError("set PREFECT_API_URL to the server to configure")
    pool = work_pool_name(stack.project)
    say(f"server   {api_url}")
    say(f"pool     {pool}: {'created' if ensure_work_pool(pool) else 'exists'}")
    deploy(stack.project, os.environ, stack.log_file("deploy"))
    say(f"deploy   done, log {stack.log_file('deploy')}")
    say(f"zombies  automation {ZOMBIE_AUTOMATION!r}: {ensure_zombie_automation()}")
    say(f"Start workers with: prefect worker start --pool {pool}")


def worker(stack: Stack) -> None:
    os.environ.update(stack.env())
    if not healthy(stack):
        raise StackError(f"no Prefect server answers at {stack.api_url}; run `make ops-up`")
    pid = ensure_worker(stack, work_pool_name(stack.project))
    say(f"worker   {stack.worker_name}, pid {pid}, log {stack.log_file('worker')}")


def down(stack: Stack) -> None:
    for name in ("worker", "server"):
        pid = stop(stack, name)
        say(f"{name:8} " + (f"stopped (pid {pid})" if pid else "not running"))


def status(stack: Stack) -> int:
    server, worker = recorded_pid(stack, "server"), recorded_pid(stack, "worker")
    ok = healthy(stack)
    say(
        "server   "
        + (f"pid {server}" if server else "not running")
        + f"; API {stack.api_url} {'healthy' if ok else 'not answering'}"
    )
    say("worker   " + (f"pid {worker}" if worker else "not running") + f" ({stack.worker_name})")
    say(f"state    {stack.state}")
    return 0 if ok and server and worker else 1


def say(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ops/stack.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "worker", "status", "configure"])
    args = parser.parse_args(argv)
    try:
        stack = Stack.from_env()
        stack.state.mkdir(parents=True, exist_ok=True)
        if args.command == "up":
            up(stack)
        elif args.command == "worker":
            worker(stack)
        elif args.command == "configure":
            configure(stack)
        elif args.command == "down":
            down(stack)
        else:
            return status(stack)
    except StackError as exc:
        print(f"ops: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
