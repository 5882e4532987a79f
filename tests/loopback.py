"""A loopback HTTP server for download tests: files built in the test, served on 127.0.0.1
with the faults a real network has (a connection dropped mid-body, a 5xx, a redirect, a slow
body), and a log of every request with its Range header. No test reaches the internet."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Behaviour:
    """How the server answers: `drop_first` paths lose their connection halfway through the
    first body; `errors` paths answer with that HTTP status; `redirects` paths answer 302 to
    another path; `slow` seconds are slept between 4 KiB blocks; `ignore_range` sends 200."""

    drop_first: set[str] = field(default_factory=set)
    errors: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    slow: float = 0.0
    ignore_range: bool = False


class Server:
    def __init__(self, files: dict[str, bytes], behaviour: Behaviour) -> None:
        self.files = files
        self.behaviour = behaviour
        self.log: list[tuple[str, str | None]] = []  # (path, Range header) per request
        self._dropped: set[str] = set()
        self._lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def requests(self, path: str) -> list[str | None]:
        """The Range headers of the requests for `path`, in order (None: a plain GET)."""
        with self._lock:
            return [r for p, r in self.log if p == path]

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def do_GET(self) -> None:
                b = server.behaviour
                path = self.path.split("?")[0]
                with server._lock:
                    server.log.append((path, self.headers.get("Range")))
                if path in b.errors:
                    self.send_error(b.errors[path])
                    return
                if path in b.redirects:
                    self.send_response(302)
                    self.send_header("Location", b.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not b.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                rest = body[start:]
                with server._lock:
                    drop = path in b.drop_first and path not in server._dropped
                    if drop:
                        server._dropped.add(path)
                if drop:  # half the body, then the connection goes
                    self.wfile.write(rest[: len(rest) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for i in range(0, len(rest), 4096):
                    self.wfile.write(rest[i:i + 4096])
                    if b.slow:
                        self.wfile.flush()
                        time.sleep(b.slow)

        return Handler


@contextmanager
def serving(files: dict[str, bytes], behaviour: Behaviour | None = None) -> Iterator[Server]:
    """A running `Server` for `files` ({"/name.pth": bytes}), shut down afterwards."""
    server = Server(files, behaviour or Behaviour())
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(5)


def catalogue_file(path: Path, server_url: str, models: dict[str, tuple[str, bytes]],
                   **extra: Any) -> Path:
    """Write a user catalogue at `path`: one entry per {name: (file, body)}, served by
    `server_url`, with the body's real size and SHA-256 (`extra` fields for every entry)."""
    entries = []
    for name, (file, body) in models.items():
        entries.append({
            "name": name, "architecture": "compact", "scale": 4, "purpose": ["photo"],
            "license": "CC0-1.0", "author": "tests", "file": file, "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(), "urls": [f"{server_url}/{file}"],
            "source": "built in the test", **extra.get(name, {})})
    doc = {"format": "srgan-cli-catalogue/1", "models": entries}
    path.write_text(json.dumps(doc))
    return path
