"""A `weir serve` subprocess: start on 127.0.0.1:0, stop with SIGTERM, kill with
SIGKILL, restart on the same data directory (and the same port, so clients that
outlive a restart can reconnect)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

LISTENING = re.compile(r"^kafka listening on (\S+):(\d+)$", re.MULTILINE)
HTTP_LISTENING = re.compile(r"^http listening on (\S+)$", re.MULTILINE)

# Bounds on process life-cycle steps; none of them is a performance assertion.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


class WeirProcess:
    """One broker: its binary, data directory, extra flags and current process."""

    def __init__(self, binary: str, data_dir: Path, log_dir: Path, extra_args=()):
        self.binary = binary
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.host: str | None = None
        self.port: int | None = None
        self.starts = 0

    # -- addresses ---------------------------------------------------------------

    @property
    def addr(self) -> str:
        """HOST:PORT, as clients take it for bootstrap.servers."""
        assert self.host is not None, "the broker was never started"
        return f"{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """http://HOST:PORT of the HTTP API (printed right after the Kafka line)."""
        stdout_path = self.log_dir / f"weir-{self.starts}.stdout"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = HTTP_LISTENING.search(stdout_path.read_text(errors="replace"))
            if m:
                return f"http://{m.group(1)}"
            time.sleep(0.02)
        raise RuntimeError(f"weir did not print its HTTP address:\n{self.log_tail()}")

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"weir-{self.starts}.stderr"

    # -- life cycle --------------------------------------------------------------

    def start(self, port: int = 0) -> "WeirProcess":
        """Starts `weir serve` and waits for its `kafka listening on` line."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stdout_path = self.log_dir / f"weir-{self.starts}.stdout"
        cmd = [
            self.binary,
            "serve",
            "--kafka-addr",
            f"127.0.0.1:{port}",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        with open(stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = stdout_path.read_text(errors="replace")
            m = LISTENING.search(text)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"weir exited with {self.proc.returncode} before listening:\n"
                    + self.log_tail()
                )
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"weir did not print its address in {START_TIMEOUT}s:\n{self.log_tail()}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        """SIGTERM (clean shutdown); returns the exit code, which must be 0."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"weir did not stop within {STOP_TIMEOUT}s of SIGTERM:\n{self.log_tail()}"
                )
        code = self.proc.returncode
        assert code == 0, f"weir exited with {code} after SIGTERM:\n{self.log_tail()}"
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to flush or mark a clean shutdown."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)

    def restart(self, *, crash: bool = False) -> "WeirProcess":
        """Stops (SIGTERM, or SIGKILL when `crash`) and starts again on the same data
        directory, on the same port when it is still free."""
        if crash:
            self.kill()
        else:
            self.stop()
        port = self.port or 0
        # The old port is normally free at once (the listener sets SO_REUSEADDR);
        # if something else took it, the last attempt takes a new one.
        for attempt in range(3):
            try:
                return self.start(port=port if attempt < 2 else 0)
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Teardown: stop whatever is still running, without asserting."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
