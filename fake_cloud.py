"""A test double of Arkor Cloud's cloud-api, served for real on loopback.

The tests, and anyone trying arkor offline, talk to it over real HTTP on
127.0.0.1. It behaves like the service out of the box (anonymous tokens are
minted, ``/v1/me`` answers for the tokens it minted) and records every
request it sees; a test can script any answer for any route: status, JSON or
raw body, headers, a delay, a redirect.

Offline demo::

    python3 fake_cloud.py            # prints the environment to use
    ARKOR_CLOUD_API_URL=http://127.0.0.1:<port> python3 arkor_cli.py login

Standard library only, like arkor_cli.py.
"""

from __future__ import annotations

import itertools
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

__all__ = ["Answer", "FakeCloudApi", "Seen"]


class Answer:
    """One scripted answer: status, body, headers, and an optional delay."""

    def __init__(
        self,
        status: int = 200,
        json_body: Any = None,
        body: Optional[bytes] = None,
        headers: Optional[Dict[str, str]] = None,
        delay: float = 0.0,
        content_length: Optional[int] = None,
        hold: float = 0.0,
    ) -> None:
        if body is None:
            body = b"" if json_body is None else json.dumps(json_body).encode("utf-8")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        if json_body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.delay = delay
        # A Content-Length that differs from the body, and a pause after the
        # body before the connection closes: a server that stalls or lies.
        self.content_length = len(body) if content_length is None else content_length
        self.hold = hold

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> "Answer":
        return cls(status, headers={"Location": location})


class Seen:
    """One request as the server received it."""

    def __init__(self, method: str, target: str, headers: Dict[str, str], body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.headers = headers  # keys lower-cased
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return f"Seen({self.method} {self.path})"


Responder = Union[Answer, Callable[[Seen], Answer]]


class FakeCloudApi:
    """The cloud-api on ``http://127.0.0.1:<ephemeral port>``."""

    def __init__(self) -> None:
        self.requests: List[Seen] = []
        self.config: Dict[str, Any] = {
            "auth0Domain": "",
            "clientId": "",
            "audience": "",
            "callbackPorts": [],
        }
        self.user: Dict[str, Any] = {"id": "user-1", "email": "ada@example.com", "name": "Ada"}
        self.orgs: List[Dict[str, Any]] = []
        self.tokens: Dict[str, Dict[str, Any]] = {}  # bearer token -> identity
        self._scripted: Dict[Tuple[str, str], List[Responder]] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> "FakeCloudApi":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays short
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "FakeCloudApi":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ----------------------------------------------------------

    def script(self, method: str, path: str, *answers: Responder) -> None:
        """Answer ``method path`` with these, in order; the last one stays."""
        with self._lock:
            self._scripted[(method, path)] = list(answers)

    def mint_anonymous(self) -> Dict[str, Any]:
        """What ``POST /v1/auth/anonymous`` gives: a new identity each time."""
        n = next(self._serial)
        token = "anon-token-" + secrets.token_urlsafe(16)
        answer = {
            "token": token,
            "anonymousId": f"anon-{n:04d}",
            "kind": "cli",
            "personalOrg": {"slug": f"anon-org-{n:04d}", "id": f"org-{n:04d}", "name": "Personal"},
        }
        with self._lock:
            self.tokens[token] = {
                "user": {"id": answer["anonymousId"], "anonymous": True},
                "orgs": [answer["personalOrg"]],
            }
        return answer

    def add_token(self, token: str, user: Optional[Dict[str, Any]] = None, orgs: Optional[List[Any]] = None) -> None:
        with self._lock:
            self.tokens[token] = {"user": user or self.user, "orgs": self.orgs if orgs is None else orgs}

    def seen(self, method: Optional[str] = None, path: Optional[str] = None) -> List[Seen]:
        with self._lock:
            return [r for r in self.requests if (method in (None, r.method)) and (path in (None, r.path))]

    # -- answering ----------------------------------------------------------

    def _answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            queue = self._scripted.get((seen.method, seen.path))
            responder = None
            if queue:
                responder = queue.pop(0) if len(queue) > 1 else queue[0]
        if responder is not None:
            return responder(seen) if callable(responder) else responder
        return self._default(seen)

    def _default(self, seen: Seen) -> Answer:
        route = (seen.method, seen.path)
        if route == ("GET", "/v1/auth/cli/config"):
            return Answer(200, self.config)
        if route == ("POST", "/v1/auth/anonymous"):
            try:
                kind = seen.json().get("kind")
            except (ValueError, AttributeError):
                kind = None
            if seen.headers.get("content-type") != "application/json" or kind != "cli":
                return Answer(400, {"error": "bad_request"})
            return Answer(201, self.mint_anonymous())
        if route == ("GET", "/v1/me"):
            auth = seen.headers.get("authorization", "")
            with self._lock:
                identity = self.tokens.get(auth[len("Bearer ") :]) if auth.startswith("Bearer ") else None
            if identity is None:
                return Answer(401, {"error": "unauthorized"})
            return Answer(200, identity)
        return Answer(404, {"error": "not_found"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early is part of what is tested


def _handler_for(fake: FakeCloudApi) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake._answer(Seen(self.command, self.path, headers, body))
            if answer.delay:
                fake._stopping.wait(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(answer.content_length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command != "HEAD":
                self.wfile.write(answer.body)
                self.wfile.flush()
            if answer.hold:
                fake._stopping.wait(answer.hold)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: Optional[List[str]] = None) -> int:
    """Serve the fake cloud-api until Ctrl-C, for trying arkor offline."""
    fake = FakeCloudApi().start()
    print("A fake Arkor cloud-api is listening. In another shell:", flush=True)
    print(f"  export ARKOR_CLOUD_API_URL={fake.url}", flush=True)
    print("  python3 arkor_cli.py login --anonymous && python3 arkor_cli.py whoami", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
