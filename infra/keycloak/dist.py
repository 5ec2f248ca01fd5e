"""Keycloak's server distribution: the pinned version, fetched once with Maven into a cache
outside the repository, and a throwaway home from which `kc.sh start-dev` runs on loopback.

- Version: `KEYCLOAK_VERSION`, here and nowhere else.
- Cache: `$OIDC_BFF_GATEWAY_CACHE`, else `${XDG_CACHE_HOME:-$HOME/.cache}/oidc-bff-gateway`;
  the distribution is unpacked there once (`keycloak-<version>/`), under a file lock so that
  concurrent test sessions fetch it only once.
- Java: Keycloak 26 needs Java 21 or newer: `$KEYCLOAK_JAVA_HOME`, else `$JAVA_HOME` when it
  is new enough, else the newest JDK 21+ in Debian's `/usr/lib/jvm`.
- Each run gets its own home (`prepare_home`): `start-dev` rewrites `lib/quarkus` (it
  re-augments for the dev profile) and writes `data/`, so two runs never share either; the
  150 MB of jars under `lib/lib` are linked, not copied.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

__all__ = [
    "KEYCLOAK_VERSION",
    "MIN_JAVA",
    "DistError",
    "cache_root",
    "distribution",
    "java_home",
    "prepare_home",
    "start_dev_argv",
]

KEYCLOAK_VERSION = "26.4.7"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
#: Keycloak 26 runs on Java 21 or newer
MIN_JAVA = 21
#: a cold Maven download of ~160 MB on a slow link, in seconds
FETCH_TIMEOUT_S = 900.0


class DistError(RuntimeError):
    """The distribution cannot be fetched or run here; the message says what is missing."""


def cache_root() -> Path:
    if explicit := os.environ.get("OIDC_BFF_GATEWAY_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oidc-bff-gateway"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _print(line: str) -> None:
    print(line, flush=True)


def distribution(cache: Path | None = None, echo: Callable[[str], None] = _print) -> Path:
    """The unpacked distribution of `KEYCLOAK_VERSION`, fetched first when missing.

    Raises `DistError` when Maven is missing or the download fails.
    """
    root = cache or cache_root()
    home = root / f"keycloak-{KEYCLOAK_VERSION}"
    if (home / "bin" / "kc.sh").is_file():
        return home
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".keycloak-{KEYCLOAK_VERSION}.lock"):
        if (home / "bin" / "kc.sh").is_file():  # another session fetched it meanwhile
            return home
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DistError("mvn is not installed (Debian: apt-get install maven)")
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            started = time.monotonic()
            argv = [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={ARTIFACT}"]
            argv.append(f"-DoutputDirectory={tmp}")
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=FETCH_TIMEOUT_S,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                raise DistError(
                    f"mvn did not fetch {ARTIFACT} in {FETCH_TIMEOUT_S:.0f} s"
                ) from None
            archive = Path(tmp) / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
            if done.returncode != 0 or not archive.is_file():
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
                raise DistError(f"mvn could not fetch {ARTIFACT} (exit {done.returncode}):\n{tail}")
            fetched = time.monotonic()
            unpacked = Path(tmp) / "unpacked"
            _unzip(archive, unpacked)
            # one rename: a half-unpacked tree is never seen under the final name
            os.replace(unpacked / f"keycloak-{KEYCLOAK_VERSION}", home)
            echo(
                f"keycloak {KEYCLOAK_VERSION}: fetched in {fetched - started:.1f} s, "
                f"unpacked in {time.monotonic() - fetched:.1f} s into {home}"
            )
    return home


def _unzip(archive: Path, target: Path) -> None:
    # zipfile drops Unix permissions; the scripts under bin/ need their execute bits back
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                path.chmod(mode)


def _java_major(home: Path) -> int | None:
    release = home / "release"
    if not (home / "bin" / "java").is_file() or not release.is_file():
        return None
    found = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(errors="replace"), re.M)
    return int(found.group(1)) if found else None


def java_home() -> Path:
    """A JDK that runs Keycloak 26 (see the module docstring). Raises `DistError`."""
    if explicit := os.environ.get("KEYCLOAK_JAVA_HOME"):
        major = _java_major(Path(explicit))
        if major is None or major < MIN_JAVA:
            raise DistError(f"KEYCLOAK_JAVA_HOME: {explicit} is not a Java {MIN_JAVA}+ home")
        return Path(explicit)
    candidates = [Path(p) for p in filter(None, [os.environ.get("JAVA_HOME")])]
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        candidates += sorted((p for p in jvm.iterdir() if not p.is_symlink()), reverse=True)
    usable = [(major, p) for p in candidates if (major := _java_major(p) or 0) >= MIN_JAVA]
    if not usable:
        raise DistError(
            f"no Java {MIN_JAVA}+ found (set KEYCLOAK_JAVA_HOME; looked at $JAVA_HOME and {jvm})"
        )
    return max(usable, key=lambda found: found[0])[1]


def prepare_home(dist: Path, run_dir: Path, realm_files: Iterable[Path] = ()) -> Path:
    """A private Keycloak home in `run_dir` over the shared `dist`; `realm_files` go to
    `data/import` (read by `--import-realm`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bin").mkdir(exist_ok=True)
    shutil.copy2(dist / "bin" / "kc.sh", run_dir / "bin" / "kc.sh")
    for name in ("conf", "themes", "providers"):
        shutil.copytree(dist / name, run_dir / name, dirs_exist_ok=True)
    lib = run_dir / "lib"
    lib.mkdir(exist_ok=True)
    # written by start-dev's re-augmentation: private copies
    shutil.copytree(dist / "lib" / "quarkus", lib / "quarkus", dirs_exist_ok=True)
    shutil.copy2(dist / "lib" / "quarkus-run.jar", lib / "quarkus-run.jar")
    # read only: shared
    for name in ("lib", "app"):
        link = lib / name
        if not link.exists():
            link.symlink_to((dist / "lib" / name).resolve(), target_is_directory=True)
    imports = run_dir / "data" / "import"
    imports.mkdir(parents=True, exist_ok=True)
    for realm in realm_files:
        shutil.copy2(realm, imports / realm.name)
    return run_dir


def start_dev_argv(home: Path, *, host: str, port: int) -> list[str]:
    """`kc.sh start-dev` on `host:port` with the issuer pinned to `http://host:port`, an
    in-memory database (nothing outlives the process) and the realms in `data/import`."""
    return [
        "/bin/sh",
        str(home / "bin" / "kc.sh"),
        "start-dev",
        f"--http-host={host}",
        f"--http-port={port}",
        # hostname v2: the full URL fixes scheme, host and port of every issued URL, so the
        # issuer does not follow the Host header of whoever asked
        f"--hostname=http://{host}:{port}",
        "--db=dev-mem",
        "--import-realm",
    ]
