"""What a TLS handshake costs the prober, full against resumed, and what a resumed one sees.

    .venv/bin/python bench/tls_resumption.py [--handshakes 500]

nginx (bench/nginx.py, a CA made for the run, session tickets and a session cache on)
is the server. The client is Python's ssl over blocking sockets, alternating in rounds of
50: a new TCP connection and a full handshake (the certificate sent and verified), then
one resuming the last session (`session=`), then one kept-alive connection sending a
request without any handshake. Each row is the client's CPU per request (connect,
handshake, one GET, the answer read). nginx's log says whether each was resumed.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from nginx import hits, running_nginx

ROUND = 50


def request(tls: ssl.SSLSocket) -> None:
    tls.sendall(b"GET /tls HTTP/1.1\r\nHost: localhost\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        answer += tls.recv(4096)


def connect(port: int, context: ssl.SSLContext, session: ssl.SSLSession | None) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port))
    return context.wrap_socket(raw, server_hostname="localhost", session=session)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handshakes", type=int, default=500, help="of each kind")
    args = parser.parse_args()
    cpu = {"full": 0.0, "resumed": 0.0, "kept alive": 0.0}
    resumed_seen, certificates = 0, set()
    with tempfile.TemporaryDirectory() as tmp, running_nginx(Path(tmp), https=True) as target:
        port = int(target.url.rsplit(":", 1)[1].strip("/"))
        context = ssl.create_default_context(cafile=str(target.ca))
        kept = connect(port, context, None)
        for _ in range(args.handshakes // ROUND):
            start = time.process_time()
            session = None
            for _ in range(ROUND):
                with connect(port, context, None) as tls:
                    request(tls)
                    session = tls.session
            cpu["full"] += time.process_time() - start
            start = time.process_time()
            for _ in range(ROUND):
                with connect(port, context, session) as tls:
                    request(tls)
                    resumed_seen += tls.session_reused
                    certificates.add(str(tls.getpeercert()))
            cpu["resumed"] += time.process_time() - start
            start = time.process_time()
            for _ in range(ROUND):
                request(kept)
            cpu["kept alive"] += time.process_time() - start
        kept.close()
        time.sleep(1.5)  # nginx flushes its log every second
        logged = hits(target.log)
    done = args.handshakes // ROUND * ROUND
    print(f"Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}; {done} requests of each\n")
    print("| connection | client CPU per request | / full handshake |\n|---|---|---|")
    for kind, seconds in cpu.items():
        print(f"| {kind} | {seconds / done * 1e6:.0f} us | {seconds / cpu['full']:.2f} |")
    server_resumed = sum(hit.resumed for hit in logged)
    print(f"\nresumed, as the client saw it: {resumed_seen} of {done}; as nginx logged it: "
          f"{server_resumed}. A resumed session's certificate is the one cached from the "
          f"full handshake, not sent again ({len(certificates)} distinct seen).")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
