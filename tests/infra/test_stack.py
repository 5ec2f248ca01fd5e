"""infra/stack.py: start a service, wait for readiness, stop its whole process group."""

import os
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from infra.stack import ServiceSpec, Stack, StartError, free_port, port_is_free

# A service that forks a grandchild (same process group) and serves 200 on /.
SERVER = textwrap.dedent(
    """
    import http.server, os, subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"grandchild {child.pid}", flush=True)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *args):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _spec(port: int, log: Path, **kw: object) -> ServiceSpec:
    defaults: dict = {
        "name": "dummy",
        "argv": [sys.executable, "-c", SERVER, str(port)],
        "env": dict(os.environ),
        "ready_url": f"http://127.0.0.1:{port}/",
        "ready_timeout_s": 15,
        "log_path": log,
        "stop_timeout_s": 5,
    }
    defaults.update(kw)
    return ServiceSpec(**defaults)


def test_start_waits_for_ready_and_stop_kills_the_group(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dummy.log"
    with Stack() as stack:
        stack.start(_spec(port, log))
        assert not port_is_free("127.0.0.1", port)
        deadline = time.monotonic() + 5
        while "grandchild" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        grandchild = int(log.read_text().split("grandchild ")[1].split()[0])
        assert _alive(grandchild)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert port_is_free("127.0.0.1", port)


def test_a_service_that_exits_is_reported_with_its_output(tmp_path: Path) -> None:
    spec = _spec(
        free_port(),
        tmp_path / "bad.log",
        name="bad",
        argv=[sys.executable, "-c", "import sys; print('VAR: is wrong'); sys.exit(2)"],
    )
    with Stack() as stack, pytest.raises(StartError, match=r"(?s)bad: exited with status 2.*VAR"):
        stack.start(spec)


def test_a_service_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    spec = _spec(
        free_port(),
        tmp_path / "slow.log",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        ready_timeout_s=1,
    )
    with Stack() as stack, pytest.raises(StartError, match="not ready"):
        stack.start(spec)


def test_start_can_be_cancelled(tmp_path: Path) -> None:
    spec = _spec(
        free_port(), tmp_path / "c.log", argv=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with Stack() as stack:
        started = time.monotonic()
        stack.start(spec, cancel=cancel)
        assert time.monotonic() - started < 5
