"""nginx as the benchmarks' target and third-party witness: it answers every request with
the same small JSON body, and its access log, not the prober's counters, says how many
probes arrived and when.

    with running_nginx(Path(tmp)) as target:          # plain HTTP
    with running_nginx(Path(tmp), https=True) as target:  # TLS, with a CA made here

Needs Debian's nginx (`apt-get install nginx-light`) and, for HTTPS, `openssl`. nginx runs
as one process (`master_process off`), so its CPU is one number; each log line is
`$msec $uri $connection_requests $ssl_session_reused` (a request's time to the
millisecond, its path, 1 when it opened its connection, and "r" when its TLS session was
resumed).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BODY = '{"status": "ok", "portalId": 1}'


@dataclass(frozen=True)
class Target:
    url: str  # ends with "/"
    log: Path
    ca: Path | None  # the CA that signed an HTTPS target's certificate
    pid: int


@dataclass(frozen=True)
class Hit:
    at: float  # seconds since the epoch, to the millisecond
    path: str
    new_connection: bool
    resumed: bool


def hits(log: Path, since: float = 0.0, until: float = float("inf")) -> list[Hit]:
    """The requests the target logged between `since` and `until`."""
    found = []
    for line in log.read_text().splitlines():
        at, path, requests, reused = line.split(" ")
        if since <= float(at) < until:
            found.append(Hit(float(at), path, requests == "1", reused == "r"))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 and localhost that it signed."""
    ca_key, ca, key, csr, cert = (workdir / n for n in ("ca.key", "ca.pem", "key.pem",
                                                        "csr.pem", "cert.pem"))  # fmt: skip
    ext = workdir / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    for command in (
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=breakerwatch bench CA"],
        ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


@contextmanager
def running_nginx(workdir: Path, *, https: bool = False) -> Iterator[Target]:
    """nginx on a free loopback port for as long as the block runs."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, log = _free_port(), workdir / "access.log"
    log.write_text("")
    ca = None
    tls = ""
    if https:
        ca, cert, key = _certificates(workdir)
        tls = (f" ssl;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
               "    ssl_session_cache shared:bench:10m;\n    ssl_session_tickets on")  # fmt: skip
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\nworker_rlimit_nofile 65536;\n"
        f"pid {workdir}/nginx.pid;\nerror_log {workdir}/error.log warn;\n"
        "events { worker_connections 16384; }\n"
        "http {\n"
        f"  client_body_temp_path {workdir}/body;\n  proxy_temp_path {workdir}/proxy;\n"
        f"  fastcgi_temp_path {workdir}/fastcgi;\n  uwsgi_temp_path {workdir}/uwsgi;\n"
        f"  scgi_temp_path {workdir}/scgi;\n"
        "  log_format probe '$msec $uri $connection_requests $ssl_session_reused';\n"
        f"  access_log {log} probe buffer=256k flush=1s;\n"
        "  keepalive_timeout 5s;\n"
        f"  server {{\n    listen 127.0.0.1:{port}{tls};\n"
        f"    location / {{ default_type application/json; return 200 '{BODY}'; }}\n  }}\n"
        "}\n"
    )
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(workdir)],
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"nginx did not start: {process.stderr.read() if process.stderr else ''}"
                )
            time.sleep(0.05)
        scheme = "https" if https else "http"
        yield Target(f"{scheme}://127.0.0.1:{port}/", log, ca, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
