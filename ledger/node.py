"""The embedded local chain: an anvil node started, stopped and watched by the CLI.

anvil comes from the npm package ``@foundry-rs/anvil`` (its Linux binary ships inside
the registry package). State lives in ``$CREDIT_LEDGER_HOME/node/state.json``: anvil
loads it on start, dumps it on SIGTERM/SIGINT, and every ``STATE_INTERVAL`` seconds,
so the ledger survives a restart of the node and of the machine (a SIGKILL loses at
most the last interval).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import CreditLedgerError
from ledger.config import Settings

#: anvil's documented development mnemonic. Its keys are public knowledge: they must
#: never hold value, and no other key is ever printed by this project.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 20
STATE_INTERVAL_SECONDS = 1


class NodeError(CreditLedgerError, RuntimeError):
    """The local node could not be started, stopped or reached."""

    code = "node_error"
    hint = "see the node's log in $CREDIT_LEDGER_HOME/node; `credit-ledger node status` shows its state"


def anvil_binary() -> Path:
    """Path of the anvil binary that npm installed (under ``Settings.node_modules``)."""
    packages = Settings.from_env().node_modules / "@foundry-rs"
    candidates = [packages / f"anvil-linux-{arch}" / "bin" / "anvil" for arch in ("amd64", "arm64")]
    for path in candidates:
        if path.is_file():
            return path
    raise NodeError(
        "anvil is not installed: run `npm ci` in the project root (`make demo` and `make test` do it for you)"
    )


def rpc_call(url: str, method: str, params: list[object] | None = None, timeout: float = 2.0) -> object:
    """One JSON-RPC call with the standard library; raises NodeError when unreachable."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
        raise NodeError(f"no JSON-RPC node answers at {url}: {exc}") from exc
    if "error" in reply:
        raise NodeError(f"{method} failed at {url}: {reply['error']}")
    return reply["result"]


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    url: str
    block_number: int | None
    chain_id: int | None
    state_file: Path


class LocalNode:
    """Start/stop/status of one anvil process whose files live in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int = 8545, chain_id: int = 31337, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.chain_id = chain_id
        self.host = host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "anvil.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "anvil.log"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        # A zombie child still answers kill(0); treat it as gone.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.split(")")[-1].split()[0] == "Z":
                os.waitpid(pid, os.WNOHANG)
                return None
        except (FileNotFoundError, ChildProcessError):
            pass
        return pid

    def status(self) -> NodeStatus:
        pid = self._pid()
        block = chain = None
        try:
            block = int(str(rpc_call(self.url, "eth_blockNumber", timeout=1.0)), 16)
            chain = int(str(rpc_call(self.url, "eth_chainId", timeout=1.0)), 16)
        except NodeError:
            pass
        return NodeStatus(
            running=block is not None,
            pid=pid,
            url=self.url,
            block_number=block,
            chain_id=chain,
            state_file=self.state_file,
        )

    def start(self, timeout: float = 30.0) -> NodeStatus:
        """Start the node (a no-op if ours is already running) and wait until it answers."""
        current = self.status()
        if current.running:
            if current.pid is None:
                raise NodeError(f"something else already answers at {self.url}; stop it or set CREDIT_LEDGER_NODE_PORT")
            return current
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(anvil_binary()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--mnemonic",
            DEV_MNEMONIC,
            "--accounts",
            str(DEV_ACCOUNT_COUNT),
            "--state",
            str(self.state_file),
            "--state-interval",
            str(STATE_INTERVAL_SECONDS),
            "--gas-limit",
            "100000000",
        ]
        log = self.log_file.open("ab")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NodeError(f"anvil exited with code {process.returncode}; see {self.log_file}")
            status = self.status()
            if status.running:
                return status
            time.sleep(0.1)
        self.stop()
        raise NodeError(f"anvil did not answer at {self.url} within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the node gracefully so it writes its state; returns False if it was not running."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
                if finished == pid:
                    break
            except ChildProcessError:
                pass  # not our child: poll with kill(0)
            if self._pid() is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
