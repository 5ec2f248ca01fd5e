"""`make demo`'s script for real: everything comes up, a user can sign in, and SIGINT stops
every process it started with exit status 0."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.stack import free_port, port_is_free
from tests.e2e.browser import Browser
from tests.e2e.stack import ROOT


def test_demo_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("DEMO_IDP_PORT", "DEMO_API_PORT", "DEMO_BFF_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "API_", "OIDC_"))}
    env.update({k: str(v) for k, v in ports.items()})
    env["DEMO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "infra/demo.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while "Demo is running" not in log.read_text():
            assert demo.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        banner = log.read_text()
        bff_url = f"http://127.0.0.1:{ports['DEMO_BFF_PORT']}"
        assert bff_url in banner
        for needle in ("alice", "admin", "any password", "Ctrl-C"):
            assert needle in banner

        assert httpx.get(f"{bff_url}/").status_code == 200  # the SPA
        with Browser(bff_url) as browser:
            browser.login("admin")
            assert browser.me().json()["groups"] == ["admin"]
            assert browser.api("GET", "/me").json()["user"]["role"] == "admin"

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0, log.read_text()[-3000:]
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    assert "Stopped." in log.read_text()
    time.sleep(0.5)
    for port in ports.values():
        assert port_is_free("127.0.0.1", port), f"port {port} still in use after the demo"
