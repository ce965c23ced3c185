"""Fixtures for the data tests: a real HTTP server on 127.0.0.1 and an isolated cache."""

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Server:
    """Answers by path (set with serve / cut / stall / fail) and the paths requested, in order."""

    port: int = 0
    routes: dict = field(default_factory=dict)  # path: (body, Content-Length, delay) or status
    hits: list = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes) -> str:
        self.routes[path] = (body, len(body), 0.0)
        return self.url(path)

    def cut(self, path: str, body: bytes, length: int) -> str:
        """Announce length bytes, send only body, close the connection."""
        self.routes[path] = (body, length, 0.0)
        return self.url(path)

    def stall(self, path: str, body: bytes, seconds: float) -> str:
        """Stay silent for seconds before answering."""
        self.routes[path] = (body, len(body), seconds)
        return self.url(path)

    def fail(self, path: str, status: int) -> str:
        self.routes[path] = status
        return self.url(path)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache and starts online."""
    monkeypatch.setenv("LSTMKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LSTMKIT_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def server():
    """A threaded HTTP/1.0 server on 127.0.0.1 answering what the test set on it."""
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            state.hits.append(self.path)
            route = state.routes.get(self.path, 404)
            if isinstance(route, int):
                self.send_error(route)
                return
            body, length, delay = route
            time.sleep(delay)
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)  # HTTP/1.0: the connection closes after this
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port_url():
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"
