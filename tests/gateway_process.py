"""Start and stop the real `gateway` binary for a test.

The gateway is started with a config that listens on port 0; it prints one
`listening on URL (KIND)` line per transport on stdout once every listener is
bound (`ws://HOST:PORT/PATH`, `wss://…`, `tcp://HOST:PORT`, `tcps://…` or
`unix:PATH`), which is how the test learns the port. A test may pass its own
config text: `start_gateway(tmp_path, config, expected_transports=N)`; every
URL, in the config's order, is then in `Gateway.urls` (`Gateway.kinds` says
which transport each is).
SIGTERM must shut it down gracefully with exit code 0.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

LISTENING = re.compile(r"^listening on (\S+) \((\w+)\)$")

#: Realm `realm1`, anonymous role allowed everything, all three serializers.
DEFAULT_CONFIG = """\
[[transports]]
type = "websocket"
listen = "127.0.0.1:0"
path = "/ws"
serializers = ["json", "msgpack", "cbor"]
[transports.auth.anonymous]
role = "anonymous"

[[realms]]
name = "realm1"
[[realms.roles]]
name = "anonymous"
permissions = [{ uri = "", match = "prefix", call = true, register = true, publish = true, subscribe = true, disclose_caller = true, disclose_publisher = true }]
"""

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0


def gateway_binary() -> Path:
    """`$GATEWAY_BIN`, else `$CARGO_TARGET_DIR/debug/gateway`, else `<repo>/target/debug/gateway`."""
    explicit = os.environ.get("GATEWAY_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    if not target.is_absolute():
        target = REPO_ROOT / target
    return target / "debug" / "gateway"


def _terminate_with_parent() -> None:
    """In the child: get SIGTERM when the test runner dies, so no gateway outlives a killed run."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


class GatewayError(AssertionError):
    """The gateway did not start, or did not stop cleanly."""


class Gateway:
    """One running gateway process serving one config file."""

    def __init__(self, workdir: Path, config: str = DEFAULT_CONFIG):
        self.workdir = workdir
        self.config_path = workdir / "gateway.toml"
        self.config_path.write_text(config)
        self.stderr_path = workdir / "gateway.stderr"
        self.process: subprocess.Popen | None = None
        self.urls: list[str] = []
        self.kinds: list[str] = []
        self._stdout_lines: queue.Queue = queue.Queue()

    @property
    def url(self) -> str:
        return self.urls[0]

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "<no stderr captured>"
        return text[-limit:] if text else "<stderr empty>"

    def start(self, expected_transports: int = 1) -> "Gateway":
        binary = gateway_binary()
        if not binary.exists():
            raise GatewayError(
                f"gateway binary not found at {binary}; "
                "run `cargo build -p gateway` (or scripts/test) first"
            )
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")  # stderr ends up in failure messages
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [str(binary), "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=self.workdir,
                env=env,
                preexec_fn=_terminate_with_parent,
                text=True,
                bufsize=1,
            )
        # A reader thread keeps the pipe drained, so later stdout output can
        # never block the gateway, and lets us wait for the line with a deadline.
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        seen: list[str] = []
        while len(self.urls) < expected_transports:
            remaining = deadline - time.monotonic()
            try:
                line = self._stdout_lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                self._kill()
                raise GatewayError(
                    f"gateway printed {len(self.urls)} of {expected_transports} "
                    f"`listening on ...` lines within "
                    f"{STARTUP_TIMEOUT}s; stdout so far: {seen!r}\n"
                    f"stderr:\n{self.stderr_tail()}"
                )
            if line is None:
                code = self.process.wait()
                raise GatewayError(
                    f"gateway exited with code {code} before listening; "
                    f"stdout: {seen!r}\nstderr:\n{self.stderr_tail()}"
                )
            seen.append(line)
            match = LISTENING.match(line)
            if match:
                self.urls.append(match.group(1))
                self.kinds.append(match.group(2))
        return self

    def _pump_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._stdout_lines.put(line.rstrip("\n"))
        self._stdout_lines.put(None)

    def _kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait; raises unless the gateway exits 0 in time."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise GatewayError(
                f"gateway died during the test with code {self.process.returncode}\n"
                f"stderr:\n{self.stderr_tail()}"
            )
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
            raise GatewayError(
                f"gateway did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM\n"
                f"stderr:\n{self.stderr_tail()}"
            )
        if code != 0:
            raise GatewayError(
                f"gateway exited with code {code} after SIGTERM (expected 0)\n"
                f"stderr:\n{self.stderr_tail()}"
            )
        return code


def start_gateway(workdir, *args, **kwargs) -> Gateway:
    """Start a gateway; a failure to start fails the test with the gateway's stderr."""
    try:
        return Gateway(workdir, *args).start(**kwargs)
    except GatewayError as err:
        failure = str(err)
    pytest.fail(failure, pytrace=False)


def stop_gateway(gw: Gateway) -> None:
    """SIGTERM; anything but a clean exit 0 fails the test with the gateway's stderr."""
    try:
        gw.stop()
        return
    except GatewayError as err:
        failure = str(err)
    pytest.fail(failure, pytrace=False)
