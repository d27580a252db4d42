"""Child processes of a benchmark run: the fake upstreams and the real proxy.

Each one is its own OS process so that the proxy, the fakes and the load generator do not compete
for one GIL. Every child writes its output to a log file (never a pipe nobody reads, which would
block it once full) and is always stopped: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import orjson
import yaml

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port that was free a moment ago; the race with other programs is acceptable on loopback."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/<pid>/stat (index 0 is the state), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; the rest follows the last ")".
    return stat.rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (Linux; just `[pid]` elsewhere)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if entry.name.isdigit():
                fields = _proc_stat(int(entry.name))
                if fields is not None:
                    children.setdefault(int(fields[1]), []).append(int(entry.name))  # field 4: ppid
    tree: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(children.get(current, ()))
    return tree


def _start_time(pid: int) -> int | None:
    fields = _proc_stat(pid)
    if fields is None or fields[0] == "Z":  # a zombie has already exited
        return None
    return int(fields[19])  # field 22: start time since boot


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used so far by `pid` and all its live descendants; None off Linux.

    The proxy's CPU per request is its capacity per core, which latency alone does not show. Its
    detection may run in worker processes, whose CPU is not in the parent's own counters (and only
    lands in its `cutime` once they are reaped), hence the walk over the process tree.
    """
    if _proc_stat(pid) is None:
        return None
    ticks = 0
    for member in process_tree(pid):
        fields = _proc_stat(member)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def child_env() -> dict[str, str]:
    """The environment for children, without any CONSENTRY_* variable.

    The proxy lets CONSENTRY_OPENAI_BASE_URL and friends override its configuration; one left in a
    developer's shell would send benchmark traffic to a real provider, or measure another setup.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    # Unbuffered, so the log tail shown on a failed start is complete.
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class ChildProcess:
    name: str
    argv: list[str]
    log_path: Path
    url: str
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> ChildProcess:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=child_env(),
            cwd=Path(__file__).resolve().parent.parent,
            # Own process group: a Ctrl-C in the terminal reaches us, and we stop the child ourselves.
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else -1

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_count(self, marker: str) -> int:
        """How many log lines contain `marker` (each serving process logs its own)."""
        try:
            return sum(marker in line for line in self.log_path.read_text(errors="replace").splitlines())
        except OSError:
            return 0

    def log_line(self, marker: str) -> str | None:
        """The last log line containing `marker`, without the timestamp prefix the proxy adds."""
        try:
            lines = [
                line for line in self.log_path.read_text(errors="replace").splitlines() if marker in line
            ]
        except OSError:
            return None
        return lines[-1][lines[-1].index(marker) :] if lines else None

    async def wait_ready(self, path: str, timeout_s: float, *, any_status: bool = False) -> float:
        """Poll `url + path` until it answers 200 (or anything, with `any_status`); returns the seconds.

        `any_status` is for the fakes: their probe-able routes all want credentials, and any HTTP
        answer already proves the server is accepting requests.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        probe_timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(timeout=probe_timeout) as session:
            while True:
                code = self.exited()
                if code is not None:
                    raise RuntimeError(
                        f"{self.name} exited with status {code} while starting; log tail:\n{self.log_tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                    async with session.get(self.url + path) as response:
                        await response.read()
                        if response.status == 200 or any_status:
                            return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} not ready at {path} after {timeout_s:.0f}s; "
                        f"log tail:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (the proxy flushes its ledger on it), then SIGKILL if it does not exit in time.

        The proxy's detection workers are its own child processes: normally it stops them, but
        if it had to be killed they would be left behind, so they are noted first (with their start
        times, so a reused pid is never hit) and killed if still there.
        """
        process = self.process
        if process is not None and process.poll() is None:
            descendants = [(pid, _start_time(pid)) for pid in process_tree(process.pid)[1:]]
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(5)
            deadline = time.monotonic() + 5.0
            for pid, started in descendants:
                while started is not None and _start_time(pid) == started and time.monotonic() < deadline:
                    time.sleep(0.05)
                if started is not None and _start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


def start_fake_upstream(name: str, factory: str, options: dict[str, Any], workdir: Path) -> ChildProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "benchmarks.fake_upstream_server",
        "--port",
        str(port),
        "--app",
        factory,
        "--options",
        orjson.dumps(options).decode(),
    ]
    return ChildProcess(
        f"fake {name} upstream", argv, workdir / f"fake-{name}.log", f"http://{LOOPBACK}:{port}"
    ).start()


def start_proxy(config: dict[str, Any], workdir: Path) -> ChildProcess:
    """Start `python -m proxy.cli serve` with `config` (its server.port and admin.port are filled in
    here, so a benchmark never collides with a proxy already running on the defaults)."""
    port = free_port()
    config = {
        **config,
        # One serving process unless the benchmark asks for more (server.workers).
        "server": {"workers": 1, **config.get("server", {}), "host": LOOPBACK, "port": port},
        "admin": {**config.get("admin", {}), "port": free_port()},
    }
    config_path = workdir / "consentry.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path)]
    return ChildProcess("proxy", argv, workdir / "proxy.log", f"http://{LOOPBACK}:{port}").start()


def finish_workdir(workdir: Path, keep: bool) -> None:
    """Remove a run's temp dir, or say where it is when it is kept (asked for, or the run failed)."""
    if keep:
        print(f"logs and config kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
