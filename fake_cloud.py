"""A test double of Arkor Cloud: its cloud-api and its Auth0, served for real.

The tests, and anyone trying arkor offline, talk to it over real HTTP on
127.0.0.1: the cloud-api over plain HTTP, Auth0 over HTTPS with a test
certificate authority (tests/fixtures/ca.pem) that the client trusts through
SSL_CERT_FILE. Both behave like the service out of the box (anonymous tokens
are minted, the authorization code flow checks PKCE, ``/v1/me`` answers for
the tokens they issued) and record every request they see; a test can script
any answer for any route: status, JSON or raw body, headers, a delay, a
redirect.

``RawServer`` is the opposite: a hostile server that speaks raw bytes, for
the tests of deadlines. Its behaviours (``drip_header``, ``drip_status``,
``endless_continue``, ``drip_chunk_size``, ``endless_trailer``,
``drip_body``, ``silent``) answer so slowly, or so endlessly, that only a
deadline on the whole exchange ends them; a per-read timeout never fires.

Offline demo::

    python3 fake_cloud.py            # serves, and prints the lines to paste in another shell
    python3 fake_cloud.py --help

Standard library only, like arkor_cli.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import secrets
import shlex
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, Union
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "FIXTURES",
    "TEST_CA",
    "Answer",
    "Behaviour",
    "FakeAuth0",
    "FakeCloudApi",
    "FakeProxy",
    "RawServer",
    "Seen",
    "browse",
    "drip_body",
    "drip_chunk_size",
    "drip_header",
    "drip_status",
    "endless_continue",
    "endless_trailer",
    "silent",
]

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "fixtures")
TEST_CA = os.path.join(FIXTURES, "ca.pem")


class Answer:
    """One scripted answer: status, body, headers, and an optional delay."""

    def __init__(
        self,
        status: int = 200,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        content_length: int | None = None,
        hold: float = 0.0,
        trickle: float = 0.0,
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
        self.trickle = trickle  # seconds between the body's bytes: a server that drips

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Answer:
        return cls(status, headers={"Location": location})


class Seen:
    """One request as the server received it."""

    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.headers = headers  # keys lower-cased
        self.body = body
        self.when = time.monotonic()  # to order requests seen by several fakes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return f"Seen({self.method} {self.path})"


Responder = Union[Answer, Callable[[Seen], Answer]]


class _Loopback:
    """A threaded server on an ephemeral 127.0.0.1 port, started and stopped
    here (or with ``with``); subclasses give the handler."""

    scheme = "http"

    def __init__(self, handler: type, port: int = 0) -> None:
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays and open tunnels short
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _serve_tls(self, cert: str) -> None:
        """Speak HTTPS with the fixture pair ``cert`` (see tests/fixtures)."""
        context = _server_context(cert)
        # The handshake runs in each connection's own thread (see Handler.setup).
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.scheme = "https"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _FakeService(_Loopback):
    """A recording, scriptable HTTP(S) service."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Seen] = []
        self.handshakes = 0  # TLS connections begun, verified by the client or not
        self._scripted: dict[tuple[str, str], list[Responder]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), port)

    # -- scripting ----------------------------------------------------------

    def script(self, method: str, path: str, *answers: Responder) -> None:
        """Answer ``method path`` with these, in order; the last one stays."""
        with self._lock:
            self._scripted[(method, path)] = list(answers)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if (method in (None, r.method)) and (path in (None, r.path))]

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
        return Answer(404, {"error": "not_found"})


class FakeCloudApi(_FakeService):
    """The cloud-api on ``http://127.0.0.1:<ephemeral port>``, or with
    ``tls=True`` on https with the test CA's certificate, as the real one is.
    ``port`` picks the port (0: any free one)."""

    def __init__(self, tls: bool = False, port: int = 0) -> None:
        super().__init__(port)
        if tls:
            self._serve_tls("server")
        self.config: dict[str, Any] = {
            "auth0Domain": "",
            "clientId": "",
            "audience": "",
            "callbackPorts": [],
        }
        self.user: dict[str, Any] = {"id": "user-1", "email": "ada@example.com", "name": "Ada"}
        self.orgs: list[dict[str, Any]] = []
        self.tokens: dict[str, dict[str, Any]] = {}  # bearer token -> identity
        self._serial = itertools.count(1)

    def mint_anonymous(self) -> dict[str, Any]:
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

    def add_token(self, token: str, user: dict[str, Any] | None = None, orgs: list[Any] | None = None) -> None:
        with self._lock:
            self.tokens[token] = {"user": user or self.user, "orgs": self.orgs if orgs is None else orgs}

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
        return super()._default(seen)


class FakeAuth0(_FakeService):
    """Auth0 on ``https://127.0.0.1:<ephemeral port>``, with the test CA.

    ``/authorize`` checks what a client must send and redirects to the
    redirect_uri with a code and the state; ``/oauth/token`` takes only
    form-encoded bodies (RFC 6749 §4.1.3) and checks PKCE, single use of a
    code, the client and the redirect_uri. Access tokens it issues are known
    to the fake cloud-api given, so ``/v1/me`` accepts them.
    """

    scheme = "https"

    def __init__(self, cloud: FakeCloudApi | None = None, cert: str = "server") -> None:
        """``cert`` names the fixture pair to serve: "server" (valid for
        127.0.0.1), "expired", or "wrong-host"."""
        super().__init__()
        self._serve_tls(cert)
        self.cloud = cloud
        self.client_id = "client-test"
        self.audience = "https://api.arkor.test"
        self.expires_in = 86400
        self.user: dict[str, Any] = {"id": "auth0|ada", "email": "ada@example.com", "name": "Ada Lovelace"}
        self.orgs: list[dict[str, Any]] = [
            {"slug": "ada-personal", "id": "org-1"},
            {"slug": "analytical", "id": "org-2"},
        ]
        self.codes: dict[str, dict[str, Any]] = {}
        self.issued: list[dict[str, Any]] = []  # every token answer given, in order
        # Failures on demand.
        self.deny: str | None = None  # /authorize answers with this OAuth error
        self.deny_description = "The user said no."
        self.wrong_state = False  # /authorize sends back a state that is not the client's
        self.omit_refresh_token = False
        # Refresh tokens: each issued one, whether it was spent (rotation) or
        # revoked. With rotation on, a refresh answers with a new refresh
        # token and a spent one is refused, as Auth0's rotation does.
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.rotate = False
        self.refresh_delay = 0.0  # widens the window in which refreshes overlap
        self.revoked: list[dict[str, str]] = []  # every /oauth/revoke form received

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli_config(self, ports: list[int]) -> dict[str, Any]:
        """What the cloud-api's ``/v1/auth/cli/config`` says about this Auth0."""
        return {
            "auth0Domain": self.domain,
            "clientId": self.client_id,
            "audience": self.audience,
            "callbackPorts": list(ports),
        }

    def _default(self, seen: Seen) -> Answer:
        route = (seen.method, seen.path)
        if route == ("GET", "/authorize"):
            return self._authorize(seen.query)
        if route == ("POST", "/oauth/token"):
            if not seen.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
            form = {k: v[0] for k, v in parse_qs(seen.body.decode("ascii", "replace")).items()}
            if form.get("grant_type") == "authorization_code":
                return self._exchange(form)
            if form.get("grant_type") == "refresh_token":
                return self._refresh(form)
            return _oauth_error(400, "unsupported_grant_type", repr(form.get("grant_type")))
        if route == ("POST", "/oauth/revoke"):
            if not seen.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
            form = {k: v[0] for k, v in parse_qs(seen.body.decode("ascii", "replace")).items()}
            with self._lock:
                self.revoked.append(form)
                grant = self.refresh_tokens.get(form.get("token", ""))
                if grant is not None and form.get("client_id") == grant["client_id"]:
                    grant["revoked"] = True
            return Answer(200)  # RFC 7009: 200 whether or not the token was known
        return super()._default(seen)

    def _refresh(self, form: dict[str, str]) -> Answer:
        if self.refresh_delay:
            self._stopping.wait(self.refresh_delay)
        with self._lock:
            grant = self.refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant["revoked"] or grant["spent"]:
                return _oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
            if form.get("client_id") != grant["client_id"]:
                return _oauth_error(401, "invalid_client", "Unknown client")
            if self.rotate:
                grant["spent"] = True
        answer = self._issue(refresh=self.rotate)
        return Answer(200, answer)

    def newest_refresh_token(self) -> str:
        """The refresh token issued last: the one a client must hold now."""
        with self._lock:
            return str([t["refresh_token"] for t in self.issued if "refresh_token" in t][-1])

    def accepts(self, refresh_token: str) -> bool:
        with self._lock:
            grant = self.refresh_tokens.get(refresh_token)
            return grant is not None and not grant["spent"] and not grant["revoked"]

    def _authorize(self, q: dict[str, str]) -> Answer:
        redirect_uri = q.get("redirect_uri", "")
        expected = {
            "response_type": "code",
            "client_id": self.client_id,
            "audience": self.audience,
            "code_challenge_method": "S256",
        }
        problems = [f"{k}={q.get(k)!r}" for k, v in expected.items() if q.get(k) != v]
        target = urlsplit(redirect_uri)
        if target.scheme != "http" or target.hostname != "127.0.0.1" or target.path != "/callback":
            problems.append(f"redirect_uri={redirect_uri!r}")
        if set(q.get("scope", "").split()) != {"openid", "profile", "email", "offline_access"}:
            problems.append(f"scope={q.get('scope')!r}")
        if len(q.get("code_challenge", "")) != 43 or not q.get("state"):
            problems.append("code_challenge/state")
        if problems:
            return Answer(400, body=("Bad authorize request: " + ", ".join(problems)).encode(), headers=_TEXT)
        state = "not-" + q["state"] if self.wrong_state else q["state"]
        if self.deny:
            params = {"error": self.deny, "error_description": self.deny_description, "state": state}
        else:
            code = "code-" + secrets.token_urlsafe(12)
            with self._lock:
                self.codes[code] = {
                    "challenge": q["code_challenge"],
                    "redirect_uri": redirect_uri,
                    "client_id": q["client_id"],
                    "used": False,
                }
            params = {"code": code, "state": state}
        return Answer.redirect(f"{redirect_uri}?{urlencode(params)}")

    def _exchange(self, form: dict[str, str]) -> Answer:
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant["used"]:
                return _oauth_error(403, "invalid_grant", "Invalid authorization code")
            grant["used"] = True  # single use, even when the rest is wrong
        if form.get("client_id") != grant["client_id"]:
            return _oauth_error(401, "invalid_client", "Unknown client")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _oauth_error(403, "invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier", "").encode("ascii")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return _oauth_error(403, "invalid_grant", "Failed to verify code verifier")
        return Answer(200, self._issue(refresh=not self.omit_refresh_token))

    def _issue(self, refresh: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "access_token": "at-" + secrets.token_urlsafe(24),
            "id_token": "id-" + secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "openid profile email offline_access",
        }
        with self._lock:
            if refresh:
                answer["refresh_token"] = "rt-" + secrets.token_urlsafe(24)
                self.refresh_tokens[answer["refresh_token"]] = {
                    "client_id": self.client_id,
                    "spent": False,
                    "revoked": False,
                }
            self.issued.append(answer)
        if self.cloud is not None:
            self.cloud.add_token(answer["access_token"], user=self.user, orgs=self.orgs)
        return answer

    def handed_out(self) -> list[str]:
        """Every token it handed out: none may ever be printed. (Codes are
        not among them: the user sees one in the address bar, and it is
        worth nothing without the client's PKCE verifier.)"""
        with self._lock:
            return [t[k] for t in self.issued for k in ("access_token", "refresh_token", "id_token") if k in t]


_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def _oauth_error(status: int, error: str, description: str) -> Answer:
    return Answer(status, {"error": error, "error_description": description})


def browse(url: str, cafile: str = TEST_CA, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """Do what a browser does with the sign-in URL: GET it and follow the
    redirects (to the loopback callback), trusting the test CA. Returns the
    last answer's status, headers (lower-cased) and body."""
    context = ssl.create_default_context(cafile=cafile)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


class FakeProxy(_Loopback):
    """An HTTP proxy on loopback, as HTTP_PROXY / HTTPS_PROXY name one.

    Absolute-form requests (``GET http://host/path``) are forwarded, and
    ``CONNECT host:port`` is tunnelled, byte for byte, for HTTPS. It records
    what it was asked, so a test can see that traffic went through it.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (method, target)
        self.authorizations: list[str | None] = []  # each request's Proxy-Authorization
        super().__init__(_proxy_handler_for(self))


def _proxy_handler_for(proxy: FakeProxy) -> type:
    import http.client
    import select
    import socket

    class Handler(BaseHTTPRequestHandler):
        timeout = 10

        def do_CONNECT(self) -> None:
            proxy.seen.append(("CONNECT", self.path))
            proxy.authorizations.append(self.headers.get("Proxy-Authorization"))
            host, _, port = self.path.rpartition(":")
            try:
                upstream = socket.create_connection((host, int(port)), timeout=10)
            except OSError:
                self.send_error(502)
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            sockets = [self.connection, upstream]
            with upstream:
                while not proxy._stopping.is_set():
                    ready, _, _ = select.select(sockets, [], [], 0.1)
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (upstream if s is self.connection else self.connection).sendall(data)

        def _forward(self) -> None:
            proxy.seen.append((self.command, self.path))
            proxy.authorizations.append(self.headers.get("Proxy-Authorization"))
            target = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            hop_by_hop = ("proxy-connection", "proxy-authorization", "connection")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop_by_hop}
            conn = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=10)
            try:
                path = target.path + (f"?{target.query}" if target.query else "")
                conn.request(self.command, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.send_error(502)
            finally:
                conn.close()

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early is part of what is tested


def _handler_for(fake: _FakeService) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def setup(self) -> None:
            super().setup()
            if isinstance(self.request, ssl.SSLSocket):
                with fake._lock:
                    fake.handshakes += 1
                self.request.do_handshake()

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
            if "Content-Length" not in answer.headers:  # a scripted one, however odd, wins
                self.send_header("Content-Length", str(answer.content_length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command != "HEAD" and answer.trickle:
                for i in range(len(answer.body)):
                    if fake._stopping.wait(answer.trickle):
                        return
                    self.wfile.write(answer.body[i : i + 1])
                    self.wfile.flush()
            elif self.command != "HEAD":
                self.wfile.write(answer.body)
                self.wfile.flush()
            if answer.hold:
                fake._stopping.wait(answer.hold)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _server_context(cert: str) -> ssl.SSLContext:
    """A server-side TLS context with the fixture pair ``cert`` (see tests/fixtures)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(FIXTURES, f"{cert}.pem"), os.path.join(FIXTURES, f"{cert}-key.pem"))
    return context


# ---------------------------------------------------------------------------
# A hostile server, for the deadline tests
# ---------------------------------------------------------------------------

Behaviour = Callable[[socket.socket, threading.Event], None]
"""What a RawServer does with a connection once it has read the request head:
write what it likes to the socket, waiting with ``stop.wait(interval)`` (never
``time.sleep``) so that ``RawServer.stop()`` ends it at once."""

_MAX_HEAD = 65536  # bytes of request head read before the behaviour runs regardless


class RawServer:
    """A threaded TCP server on an ephemeral 127.0.0.1 port that, for each
    connection, reads the request head (up to the blank line, at most 64 KiB)
    and then runs ``behaviour(conn, stop)``: raw bytes, as slowly or as
    endlessly as it likes. With ``tls=True`` it speaks TLS with the fixture
    certificate ("server", valid for 127.0.0.1, trusted through TEST_CA); with
    ``stall_handshake=True`` as well, it accepts the TCP connection and never
    does the handshake. ``stop()`` sets the event every behaviour waits on,
    wakes any blocked read or write, and closes every socket. Client hangups
    end a connection quietly: no traceback is ever printed.

    ``connections`` counts the TCP connections accepted; ``heads`` holds each
    request head received (bytes, up to and with the blank line)."""

    def __init__(self, behaviour: Behaviour | None = None, *, tls: bool = False, stall_handshake: bool = False) -> None:
        if stall_handshake and not tls:
            raise ValueError("stall_handshake needs tls=True")
        self.behaviour: Behaviour = behaviour if behaviour is not None else silent()
        self.stall_handshake = stall_handshake
        self.connections = 0
        self.heads: list[bytes] = []
        self._context = _server_context("server") if tls else None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(64)
            self._listener.settimeout(0.05)  # how often the accept loop looks at the stop event
        except OSError:
            self._listener.close()
            raise
        self._port = int(self._listener.getsockname()[1])  # known still after stop()
        self._accepting: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._accepting = threading.Thread(target=self._accept_loop, name="raw-server", daemon=True)
        self._accepting.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._accepting is not None:
            self._accepting.join(5)
        self._listener.close()
        with self._lock:
            live = list(self._live)
            threads = list(self._threads)
        for conn in live:
            _shut(conn)  # wakes a read or write blocked in a connection's thread
        deadline = time.monotonic() + 2
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for conn in live:
            conn.close()  # the connection's thread has closed it already, unless it is stuck

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # the listener is closed
            conn.settimeout(30)  # a bound for a thread stop() somehow failed to wake
            thread = threading.Thread(target=self._serve, args=(conn,), name="raw-server-conn", daemon=True)
            with self._lock:
                self.connections += 1
                self._live.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            if self._stopping.is_set():  # stop() may have looked at _live already
                _shut(conn)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._context is not None:
                if self.stall_handshake:
                    self._stopping.wait()
                    return
                raw = conn
                conn = self._context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    self._live.discard(raw)
                    self._live.add(conn)
                if self._stopping.is_set():
                    return
                conn.do_handshake()
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                data = conn.recv(4096)
                if not data:
                    return  # the client went away before its request was whole
                head += data
            with self._lock:
                self.heads.append(head[: head.find(b"\r\n\r\n") + 4] if b"\r\n\r\n" in head else head)
            if not self._stopping.is_set():
                self.behaviour(conn, self._stopping)
        except OSError:
            pass  # a client hanging up, a failed handshake, stop(): all expected
        finally:
            with self._lock:
                self._live.discard(conn)
            conn.close()


def _shut(conn: socket.socket) -> None:
    """Shut the connection down at the socket level, TLS or not: whatever a
    thread is blocked on there returns at once."""
    try:
        socket.socket.shutdown(conn, socket.SHUT_RDWR)
    except OSError:
        pass


def _drip(first: bytes, then: Iterable[bytes], interval: float) -> Behaviour:
    """Send ``first``, then one of ``then`` every ``interval`` seconds, until
    stopped or the client goes away."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        try:
            if first:
                conn.sendall(first)
            for piece in then:
                if stop.wait(interval):
                    return
                conn.sendall(piece)
        except OSError:
            pass  # the client hung up: the end of it

    return behaviour


def drip_header(interval: float = 0.05) -> Behaviour:
    """``HTTP/1.0 200 OK``, then a header line that never ends: ``X-Drip: aaaa...``."""
    return _drip(b"HTTP/1.0 200 OK\r\nX-Drip: ", itertools.repeat(b"a"), interval)


def drip_status(interval: float = 0.05) -> Behaviour:
    """A status line that never ends: ``HTTP/1.1 200 OK OK OK ...``, the reason phrase a byte at a time."""
    return _drip(b"HTTP/1.1 200 ", itertools.cycle([b"O", b"K", b" "]), interval)


def endless_continue(interval: float = 0.05) -> Behaviour:
    """``HTTP/1.1 100 Continue`` and its blank line, again and again: the final answer never comes."""
    line = b"HTTP/1.1 100 Continue\r\n\r\n"
    return _drip(line, itertools.repeat(line), interval)


_CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"


def drip_chunk_size(interval: float = 0.05) -> Behaviour:
    """A chunked answer whose first chunk-size line never ends: ``0000...``
    (leading zeros are legal, so no digit ever finishes it)."""
    return _drip(_CHUNKED_HEAD, itertools.repeat(b"0"), interval)


def endless_trailer(interval: float = 0.05) -> Behaviour:
    """A whole chunked body, ``{}``, and its last chunk, then trailer lines
    (``X-T: a``) forever, never the blank line that ends the message."""
    return _drip(_CHUNKED_HEAD + b"2\r\n{}\r\n0\r\n", itertools.repeat(b"X-T: a\r\n"), interval)


def drip_body(interval: float = 0.05) -> Behaviour:
    """Headers promising a million bytes of body, then one byte (a space) every ``interval``."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n"
    return _drip(head, itertools.repeat(b" "), interval)


def silent() -> Behaviour:
    """Read the request and never answer."""

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        stop.wait()

    return behaviour


# ---------------------------------------------------------------------------
# The command line: the offline demo, and the stand-in browser
# ---------------------------------------------------------------------------

_CALLBACK_PORTS = [52521, 52522, 52523]

_DESCRIPTION = """\
A fake Arkor Cloud on 127.0.0.1, for trying arkor offline: the cloud-api over
HTTP, and its Auth0 over HTTPS with the test certificate authority in
tests/fixtures/ca.pem. It mints anonymous tokens and signs in one user (Ada)
through the OAuth code flow with PKCE, with no browser needed.

Without a command it serves until Ctrl-C, and prints the lines to paste into
another shell: ARKOR_CLOUD_API_URL (the cloud-api), SSL_CERT_FILE (to trust
the test CA), BROWSER (this script's `browse`, a stand-in browser), and a
throwaway HOME so that your real credentials stay as they are."""

_EPILOG = """\
examples:
  python3 fake_cloud.py                serve, on any free port
  python3 fake_cloud.py --port 8700    serve the cloud-api on port 8700
  python3 fake_cloud.py browse URL     follow URL to the callback, as a browser would"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fake_cloud.py",
        usage="%(prog)s [-h] [--port PORT]\n       %(prog)s browse URL [SECONDS]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the cloud-api's port on 127.0.0.1 (default: 0, any free one)"
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    browse_cmd = commands.add_parser(
        "browse",
        prog="fake_cloud.py browse",
        help="play the browser: follow URL to the callback (used as BROWSER)",
        description="Do what a browser does with the sign-in URL: GET it, trusting the test CA, and follow "
        "the redirects to arkor's callback; then stay open SECONDS, as some browsers do. Exit 0 when the "
        "last answer is 200. With FAKE_BROWSER_LOG set, write the last status and body to that file.",
    )
    browse_cmd.add_argument("url", metavar="URL", help="the sign-in URL")
    browse_cmd.add_argument("seconds", metavar="SECONDS", nargs="?", type=float, help="how long to stay open")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``fake_cloud.py``: serve a fake Arkor Cloud until Ctrl-C, for trying
    arkor offline. ``fake_cloud.py browse URL [SECONDS]``: play the browser
    (follow URL to the callback, then stay open SECONDS, as some do)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "browse":
        status, _, body = browse(args.url)
        log = os.environ.get("FAKE_BROWSER_LOG")
        if log:  # what the "browser" ended on, for the test that launched it
            with open(log, "w", encoding="utf-8") as f:
                f.write(f"{status}\n{body.decode('utf-8', 'replace')}")
        # One line saying what it did: run by hand (to finish a
        # `login --no-browser`), it is all the user sees of the "browser".
        if status == 200:
            print(f"fake_cloud.py browse: signed in as Ada; arkor's callback answered {status}.", flush=True)
        else:
            first = body.decode("utf-8", "replace").strip().splitlines()[:1] or ["(empty)"]
            print(f"fake_cloud.py browse: the last answer was {status}: {first[0][:200]}", file=sys.stderr, flush=True)
        if args.seconds is not None:
            time.sleep(args.seconds)
        return 0 if status == 200 else 1
    try:
        cloud = FakeCloudApi(port=args.port).start()
    except OSError as exc:
        print(f"fake_cloud.py: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    auth0 = FakeAuth0(cloud).start()
    cloud.config = auth0.cli_config(_CALLBACK_PORTS)
    try:  # from the first line printed on, Ctrl-C ends it quietly
        print(_instructions(cloud.url), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        auth0.stop()
        cloud.stop()
    return 0


def _arkor_command(here: str) -> str:
    """How the user runs arkor: the ``arkor`` on PATH when it is this
    project's (pipx or pip put it there; the Node CLI's is another), else
    this checkout's file with the python3 on PATH (this interpreter when
    that is another)."""
    import shutil

    found = shutil.which("arkor")
    if found:
        try:
            with open(found, "rb") as f:
                ours = b"arkor_cli" in f.read(64 * 1024)  # a console script imports it
        except OSError:
            ours = False
        if ours:
            return "arkor"
    python3 = shutil.which("python3")
    try:
        same = python3 is not None and os.path.samefile(python3, sys.executable)
    except OSError:
        same = False
    return f"{'python3' if same else shlex.quote(sys.executable)} {shlex.quote(os.path.join(here, 'arkor_cli.py'))}"


def _instructions(cloud_url: str) -> str:
    """The lines to paste into another shell (sh, bash, zsh), quoted so that
    they work from any directory and with any path."""
    here = os.path.dirname(os.path.abspath(__file__))
    arkor = _arkor_command(here)
    # webbrowser splits BROWSER with shlex, and the shell unquotes it once first.
    browser = " ".join(shlex.quote(word) for word in (sys.executable, os.path.join(here, "fake_cloud.py"), "browse"))
    return "\n".join(
        [
            "A fake Arkor Cloud is listening (cloud-api and Auth0). In another shell:",
            f"  export ARKOR_CLOUD_API_URL={shlex.quote(cloud_url)}",
            f"  export SSL_CERT_FILE={shlex.quote(TEST_CA)}",
            f"  export BROWSER={shlex.quote(browser + ' %s')}",
            '  export HOME="$(mktemp -d)"  # a throwaway home: your real credentials stay as they are',
            f"  {arkor} login --anonymous && {arkor} whoami",
            f"  {arkor} login --oauth && {arkor} whoami",
            "Ctrl-C stops it.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
