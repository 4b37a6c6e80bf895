"""A local HTTP server for the weights tests: serves files from memory on 127.0.0.1, with Range.

Written here (http.server has no Range support) so the download code meets what a real file
server does: ``206 Partial Content`` with ``Content-Range`` for ``Range: bytes=N-``, or, when told
to, ignores Range, cuts a response short after some bytes, or answers with an HTML page (as
Google Drive does for a file it will not serve directly).
"""
from __future__ import annotations

import hashlib
import io
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch


@dataclass
class Served:
    body: bytes
    content_type: str = "application/octet-stream"
    cut_after: int | None = None        # close the connection after this many bytes of the body
    ignore_range: bool = False
    requests: list[dict] = field(default_factory=list)   # {"range": header or None, "status": int}


class WeightsServer:
    def __init__(self) -> None:
        self.files: dict[str, Served] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:      # keep pytest's output clean
                pass

            def do_GET(self) -> None:                  # noqa: N802 (http.server's name)
                served = server.files.get(self.path)
                if served is None:
                    self.send_error(404)
                    return
                header = self.headers.get("Range")
                start, status = 0, 200
                match = re.fullmatch(r"bytes=(\d+)-", header or "")
                if match and not served.ignore_range:
                    start = int(match.group(1))
                    if start >= len(served.body):
                        served.requests.append({"range": header, "status": 416})
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(served.body)}")
                        self.end_headers()
                        return
                    status = 206
                served.requests.append({"range": header, "status": status})
                body = served.body[start:]
                self.send_response(status)
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(served.body) - 1}/{len(served.body)}")
                self.end_headers()
                if served.cut_after is not None:
                    self.wfile.write(body[:served.cut_after])
                    self.wfile.flush()
                    served.cut_after = None                    # the next request gets the rest
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, served: Served) -> str:
        self.files[path] = served
        return self.base + path

    def __enter__(self) -> "WeightsServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def checkpoint_bytes(size_floats: int = 300_000, seed: int = 0) -> bytes:
    """A real torch checkpoint (a small backbone-like state dict), about 1.2 MB."""
    generator = torch.Generator().manual_seed(seed)
    state = {"stem.weight": torch.randn(size_floats // 2, generator=generator),
             "stem.bias": torch.randn(size_floats // 2, generator=generator), "fc.weight": torch.zeros(4)}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "meta": {"epoch": 100}}, buffer)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
