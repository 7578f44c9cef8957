"""How long arkor takes over a slow link and on loopback, next to the least the same job can take.

Run::

    python3 bench.py                 # everything, peers included (a few minutes)
    python3 bench.py --runs 50       # loopback runs per command (default 30, at least 20)
    python3 bench.py --wan-runs 20   # runs per command over the slow link (default 10, at least 5)
    python3 bench.py --local-only    # the loopback rows alone
    python3 bench.py --wan-only      # the slow-link rows alone
    python3 bench.py --no-peers      # skip gh, hf and the Node script
    python3 bench.py --module PATH   # measure another copy of arkor_cli.py
    python3 bench.py --check         # exit 1 when a target is missed

Standard library only; Linux (and other POSIX systems with posix_spawn and
wait4). It is a report, not a test: it exits 0 unless ``--check`` is given.
Only loopback traffic is measured; the one-off installs of the peers (pip,
npm) are the only other traffic it causes. At the end it prints a Markdown
table (row | figure | target | met/missed) and writes it to
/tmp/bench-table.md.

How it runs a command
    * A clean interpreter: a venv made with ``python3 -m venv --without-pip``
      in a temporary directory, so nothing in a site-packages runs at
      start-up. arkor_cli.py (or ``--module``) is copied into that venv's
      site-packages and compiled there, and runs as ``python -I -m
      arkor_cli`` (cached bytecode, as the installed ``arkor`` uses). The
      floor programs below are installed and run the same way.
    * The fakes of fake_cloud.py (the cloud-api, and Auth0 over HTTPS with
      the test CA) run inside this process on 127.0.0.1. Every child gets an
      environment built from scratch: PATH, LANG=C.UTF-8, a temporary HOME
      and USERPROFILE, ARKOR_CLOUD_API_URL, and over HTTPS
      SSL_CERT_FILE=tests/fixtures/ca.pem (the test certificate is valid for
      127.0.0.1), so that arkor and the floors trust the same one CA.
    * Every child is started by a small launcher process (``python -I -S``)
      that times it (posix_spawn to wait4) and reads its peak memory from
      wait4's ru_maxrss. A launcher is needed because Linux charges a child
      with the resident size of the process that spawned it: spawned from
      this process, which holds the fakes, every child would look at least
      as big as this one. The launcher's own size is printed.
    * The commands of a row run in turns, N times each, after warm-up runs;
      the first run of each has its output checked. Each round runs them in
      a new order, shuffled with a fixed seed (the same orders in every run
      of bench.py), so that drift in the machine's speed, and the wake of
      the command run just before (a heavy peer's exit), fall on all of
      them alike. A command may have a "prepare" step (the OAuth logout rewrites
      its credentials file), run before each launch and not timed. Figures
      are medians; each row also prints min-max.

The slow link (rows "link: ...")
    Each command reaches the fakes through a delay proxy written here: it
    accepts on 127.0.0.1, connects to the fake, and forwards bytes both ways,
    each chunk stamped when it is read and released 50 ms later, in order
    (end of stream included). One round trip (RTT) is thus 100 ms.

    Connection set-up is modelled too. On loopback a client's connect()
    returns at once, where over the link it returns one RTT after the SYN
    left. So the proxy counts the connection as open only 100 ms after it
    accepted it: bytes the client sends before then wait for that moment,
    and then cross in 50 ms like all others. A new HTTPS request therefore
    costs three RTTs, as over a real link: its ClientHello reaches the
    server at 150 ms, the server's answer is back at 200 ms (TCP + TLS 1.3),
    the request reaches the server at 250 ms and the answer is back at
    300 ms. Not modelled: bandwidth, loss, and the ACKs (they are
    loopback's, so Nagle's algorithm never waits an RTT; http.client sets
    TCP_NODELAY anyway).

    Per run it counts the TCP connections the proxies accepted, the TLS
    handshakes the fakes began (``.handshakes``) and the requests they saw
    (``.requests``), split cloud-api + Auth0. The same commands run straight
    to the fakes over HTTPS in the same turns: their median is a command's
    "local time". A command's floor is its RTTs x 100 ms + its local time:

        link: arkor whoami (valid token)     1 connection   3 RTT
        link: arkor whoami (near expiry)     2 connections  6 RTT  (refresh at Auth0, then GET /v1/me)
        link: arkor login --anonymous        1 connection   3 RTT
        link: arkor logout -y (OAuth)        1 connection   3 RTT  (revoke at Auth0; none to the cloud-api)

    Target: median <= 1.10x the floor, and no connection or handshake more
    than the floor on any run. Near expiry is made repeatable with the fake
    Auth0's expires_in = 0 (each refresh stores expiresAt = now, so the next
    run refreshes again) and rotation off.

    Peers on the same link (when installed): ``hf auth whoami``, the Node
    whoami and ``gh auth status``, over HTTPS trusting the test CA
    (REQUESTS_CA_BUNDLE and SSL_CERT_FILE; NODE_EXTRA_CA_CERTS; gh through
    SSL_CERT_FILE, on the host 127.0.0.1:<port>), or, for a peer that cannot
    do that here, over plain HTTP through a delay proxy in front of a plain
    fake cloud-api (the output says which). Target: arkor whoami's median
    below each peer's.

The loopback rows (no proxy)
    cli           ``arkor --help``, ``arkor logout`` with no file and
                  ``arkor whoami`` signed out, each against a minimal
                  argparse program: the same three subcommands and options,
                  parsing the same argv and printing what the command would
                  (the help, or a fixed line). Target: <= 1.15x it.
    whoami        ``arkor whoami`` signed in, against a ten-line urllib
                  script doing the same GET /v1/me (same headers, token from
                  the same file, prints the user), over HTTP and over HTTPS
                  (both trusting the test CA by SSL_CERT_FILE). Targets:
                  <= 1.20x its time, <= 1.10x its peak RSS.
    login         ``arkor login --anonymous`` against the same kind of
                  script doing the POST and one atomic write (tempfile,
                  fsync, os.replace). Target: <= 1.20x it.
    peers         arkor whoami against ``hf auth whoami`` (huggingface_hub in
                  a venv made here, HF_ENDPOINT pointed at the fake), a Node
                  whoami on the original CLI's dependencies (commander,
                  @clack/prompts, zod, open, global fetch) and ``gh auth
                  status`` (Debian's gh, on a hosts.yml for github.localhost,
                  whose API gh reaches over plain HTTP through HTTP_PROXY
                  pointed at the fake). Targets: hf and Node >= 4x slower
                  than arkor; gh is reported. A peer that is not there or
                  cannot be installed is skipped, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import datetime
import hashlib
import json
import marshal
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_RUNS = 20
MIN_WAN_RUNS = 5
WARMUPS = 3
ONE_WAY = 0.050  # seconds each way through the delay proxy
RTT_MS = 2 * ONE_WAY * 1000
TOKEN = "bench-token"
REFRESH_TOKEN = "rt-bench-refresh-token"
USER = {"id": "user-1", "email": "ada@example.com", "name": "Ada"}
ORGS = [{"slug": "ada-personal", "id": "org-1"}]
TABLE_PATH = "/tmp/bench-table.md"

# The launcher: reads (argv, env) requests on stdin as length-prefixed
# marshal blobs, runs each with stdin, stdout and stderr on /dev/null, and
# answers (nanoseconds, max RSS in KiB, exit status). Only builtin modules,
# so that it stays small (see the module docstring).
LAUNCHER = r"""
import marshal, os, sys, time
inp, out = sys.stdin.buffer, sys.stdout.buffer
null = os.open(os.devnull, os.O_RDWR)
quiet = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
while True:
    head = inp.read(4)
    if len(head) < 4:
        break
    argv, env = marshal.loads(inp.read(int.from_bytes(head, "little")))
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=quiet)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter_ns() - start
    reply = marshal.dumps((elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)))
    out.write(len(reply).to_bytes(4, "little") + reply)
    out.flush()
"""

# The floor of the offline commands: argparse with arkor's commands and
# options, then what the command prints (the help, or one fixed line).
FLOOR_CLI = """\
import argparse
parser = argparse.ArgumentParser(prog="arkor", description="Sign in to Arkor Cloud, sign out, and say who you are.")
parser.add_argument("--version", action="version", version="arkor 0.1.0")
commands = parser.add_subparsers(dest="command", metavar="<command>")
login = commands.add_parser("login", help="Sign in (OAuth in the browser, or an anonymous token).")
mode = login.add_mutually_exclusive_group()
mode.add_argument("--oauth", action="store_true", help="sign in to your account through the browser")
mode.add_argument("--anonymous", action="store_true", help="get a throwaway anonymous token")
login.add_argument("--no-browser", action="store_true", help="print the sign-in URL without opening a browser")
login.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS", help="how long to wait for the browser")
logout = commands.add_parser("logout", help="Delete the stored credentials.")
logout.add_argument("-y", "--yes", "-f", "--force", dest="yes", action="store_true", help="do not ask for confirmation")
whoami = commands.add_parser("whoami", help="Show the signed-in identity and its orgs.")
whoami.add_argument("--json", action="store_true", help="print the whole /v1/me answer as JSON")
args = parser.parse_args()
if args.command == "whoami":
    print("Not signed in. Run `arkor login` or `arkor login --anonymous`.")
elif args.command == "logout":
    print("No credentials on file.")
"""

FLOOR_GET = """\
import json, os, urllib.request
with open(os.path.join(os.path.expanduser("~"), ".arkor", "credentials.json"), "rb") as f:
    token = json.load(f)["token"]
headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "X-Arkor-Client": "arkor/0.1.0"}
request = urllib.request.Request(os.environ["ARKOR_CLOUD_API_URL"] + "/v1/me", headers=headers)
with urllib.request.urlopen(request, timeout=30) as response:
    body = json.loads(response.read())
print(json.dumps(body["user"], indent=2, ensure_ascii=False))
print("Orgs: " + ", ".join(org["slug"] for org in body["orgs"]))
"""

FLOOR_POST = """\
import json, os, tempfile, urllib.request
base = os.environ["ARKOR_CLOUD_API_URL"]
headers = {"Content-Type": "application/json", "Accept": "application/json", "X-Arkor-Client": "arkor/0.1.0"}
request = urllib.request.Request(base + "/v1/auth/anonymous", data=b'{"kind": "cli"}', headers=headers)
with urllib.request.urlopen(request, timeout=30) as response:
    body = json.loads(response.read())
slug = body["personalOrg"]["slug"]
credentials = {"mode": "anon", "token": body["token"], "anonymousId": body["anonymousId"],
               "arkorCloudApiUrl": base, "orgSlug": slug}
directory = os.path.join(os.path.expanduser("~"), ".arkor")
os.makedirs(directory, mode=0o700, exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=directory)
with os.fdopen(fd, "w") as f:
    json.dump(credentials, f, indent=2)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, os.path.join(directory, "credentials.json"))
print(f"Signed in anonymously (personal org: {slug}).")
"""

FLOORS = {"floor_cli": FLOOR_CLI, "floor_get": FLOOR_GET, "floor_post": FLOOR_POST}

NODE_WHOAMI = """\
import { Command } from "commander";
import * as prompts from "@clack/prompts";
import { z } from "zod";
import open from "open";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

void prompts; void open; // loaded at start-up, as in the original CLI

const Credentials = z.object({
  mode: z.literal("anon"), token: z.string(), anonymousId: z.string(),
  arkorCloudApiUrl: z.string(), orgSlug: z.string(),
});
const program = new Command("arkor");
program.command("whoami").action(async () => {
  const path = join(homedir(), ".arkor", "credentials.json");
  const creds = Credentials.parse(JSON.parse(await readFile(path, "utf8")));
  const base = process.env.ARKOR_CLOUD_API_URL ?? creds.arkorCloudApiUrl;
  const res = await fetch(`${base}/v1/me`, {
    headers: { Authorization: `Bearer ${creds.token}`, Accept: "application/json", "X-Arkor-Client": "arkor/0.1.0" },
  });
  if (res.status !== 200) { console.log(`Failed to fetch /v1/me (${res.status}). Token may be expired.`); return; }
  const body = await res.json();
  console.log(JSON.stringify(body.user, null, 2));
  console.log(`Orgs: ${body.orgs.map((o) => o.slug).join(", ")}`);
});
await program.parseAsync();
"""

GH_HOSTS = """\
{host}:
    oauth_token: ghp_benchtoken
    user: ada
    git_protocol: https
"""

# Per run: (cloud-api connections, Auth0 connections, cloud-api TLS
# handshakes, Auth0 TLS handshakes, cloud-api requests, Auth0 requests).
Tally = tuple  # of six ints


# ---------------------------------------------------------------------------
# Running children
# ---------------------------------------------------------------------------


class Command:
    """One thing to measure: a name, an argv, an environment, a word that
    its output must contain (checked once before the runs), and an optional
    step run before each launch, untimed."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        expect: str,
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.argv, self.env, self.expect, self.prepare = name, argv, env, expect, prepare
        self.times: list[float] = []  # milliseconds
        self.rss: list[int] = []  # KiB
        self.counts: list[Tally] = []
        self.note = ""  # how it was reached, for a peer

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def median_rss(self) -> float:
        return statistics.median(self.rss)

    def most(self) -> Tally:
        """The most of each count seen on one run."""
        return tuple(max(run[i] for run in self.counts) for i in range(6))

    def counts_text(self, proxied: bool = True) -> str:
        if not self.counts:
            return ""
        most = self.most()
        least = tuple(min(run[i] for run in self.counts) for i in range(6))
        text = f"{most[2]}+{most[3]} TLS, {most[4]}+{most[5]} req"
        if proxied:
            text = f"{most[0]}+{most[1]} conn, " + text
        return text + ("" if most == least else " (at most; runs differed)")


class Launcher:
    """The small process that starts, times and weighs every measured child."""

    def __init__(self, python: str, cwd: str) -> None:
        self._proc = subprocess.Popen(
            [python, "-I", "-S", "-c", LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, env={}
        )

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[float, int, int]:
        """Milliseconds, max RSS in KiB, exit status."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        request = marshal.dumps((argv, env))
        self._proc.stdin.write(len(request).to_bytes(4, "little") + request)
        self._proc.stdin.flush()
        size = int.from_bytes(self._proc.stdout.read(4), "little")
        elapsed, rss, status = marshal.loads(self._proc.stdout.read(size))
        return elapsed / 1e6, rss, status

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(10)


def check_output(command: Command, cwd: str, link: Link | None = None) -> str | None:
    """Run once with the output captured; None when it did what it should,
    else why not."""
    if command.prepare is not None:
        command.prepare()
    try:
        done = subprocess.run(
            command.argv,
            env=command.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{command.name}: {exc}"
    finally:
        if link is not None:
            link.settle()
    text = done.stdout + done.stderr
    if done.returncode != 0 or command.expect not in text:
        return f"{command.name}: exit {done.returncode}, expected {command.expect!r} in: {text.strip()[:300]!r}"
    return None


def measure(launcher: Launcher, commands: list[Command], runs: int, cwd: str, link: Link | None = None) -> None:
    """Check each command, warm it up, then run all of them in turns. With a
    link, each timed run also records what the proxies and fakes counted."""

    def once(command: Command, timed: bool) -> None:
        if command.prepare is not None:
            command.prepare()
        before = link.tally() if link is not None else None
        ms, rss, status = launcher.run(command.argv, command.env)
        if link is not None:
            link.settle()  # its connections drained: the next run starts on a quiet link
        if not timed:
            return
        if status != 0:
            raise RuntimeError(f"{command.name} exited {status} on a timed run")
        command.times.append(ms)
        command.rss.append(rss)
        if link is not None and before is not None:
            command.counts.append(tuple(a - b for a, b in zip(link.tally(), before)))

    for command in commands:
        problem = check_output(command, cwd, link)
        if problem:
            raise RuntimeError(problem)
    for _ in range(WARMUPS):
        for command in commands:
            once(command, timed=False)
    # Shuffled, not rotated: in a rotation each command always follows the
    # same one, and whatever that one leaves behind lands on it every time.
    order = random.Random(20261201)
    for _ in range(runs):
        turn = list(commands)
        order.shuffle(turn)
        for command in turn:
            once(command, timed=True)


# ---------------------------------------------------------------------------
# The slow link: a delaying TCP proxy
# ---------------------------------------------------------------------------


class DelayProxy:
    """127.0.0.1:<port> -> 127.0.0.1:``target``, every byte 50 ms late each
    way, and no byte from the client let through before the connection is
    one RTT old (see the module docstring). Counts the connections it
    accepted; ``active`` is those still open."""

    def __init__(self, target: int, one_way: float = ONE_WAY) -> None:
        self.target, self.one_way = target, one_way
        self.accepts = 0
        self.active = 0
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(lambda loop, context: None)  # a reset peer is no news here
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _listen(self) -> Any:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _handle(self, client_reader: Any, client_writer: Any) -> None:
        opened = self._loop.time()
        self.accepts += 1
        self.active += 1
        upstream_writer = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
            # The client's bytes may leave only once the connection is one RTT old.
            ready = opened + 2 * self.one_way
            pipes = (self._pipe(client_reader, upstream_writer, ready), self._pipe(upstream_reader, client_writer, 0))
            await asyncio.wait_for(asyncio.gather(*pipes, return_exceptions=True), 120)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
            self.active -= 1

    async def _pipe(self, reader: Any, writer: Any, not_before: float) -> None:
        """Copy reader to writer, each chunk released one_way after it was
        read (and not before ``not_before`` + one_way), in order; the end
        of the stream too."""
        loop = self._loop
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def read() -> None:
            while True:
                try:
                    data = await reader.read(65536)
                except (OSError, asyncio.IncompleteReadError):
                    data = b""
                queue.put_nowait((max(loop.time(), not_before) + self.one_way, data))
                if not data:
                    return

        reading = asyncio.ensure_future(read())
        try:
            while True:
                release, data = await queue.get()
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            if not reading.done():
                reading.cancel()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        with contextlib.suppress(OSError, RuntimeError, concurrent.futures.TimeoutError):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class Link:
    """The slow-link set-up: the fake cloud-api and Auth0 over HTTPS, each
    behind a delay proxy, and a delay proxy before the plain-HTTP fake too
    (for a peer that cannot trust the test CA)."""

    def __init__(self, plain: Any) -> None:
        from fake_cloud import FakeAuth0, FakeCloudApi

        self.cloud = FakeCloudApi(tls=True).start()
        self.cloud.add_token(TOKEN, user=USER, orgs=ORGS)
        script_peers_on(self.cloud)
        self.auth0 = FakeAuth0(self.cloud).start()
        self.auth0.expires_in = 0  # each refresh stores expiresAt = now: the next run refreshes again
        self.auth0.rotate = False
        self.auth0.refresh_tokens[REFRESH_TOKEN] = {"client_id": self.auth0.client_id, "spent": False, "revoked": False}
        self.plain = plain
        self.cloud_proxy = DelayProxy(self.cloud.port)
        self.auth0_proxy = DelayProxy(self.auth0.port)
        self.plain_proxy = DelayProxy(plain.port)
        self.proxies = (self.cloud_proxy, self.auth0_proxy, self.plain_proxy)

    @property
    def cloud_url(self) -> str:
        return f"https://127.0.0.1:{self.cloud_proxy.port}"

    @property
    def auth0_domain(self) -> str:
        return f"127.0.0.1:{self.auth0_proxy.port}"

    @property
    def plain_url(self) -> str:
        return f"http://127.0.0.1:{self.plain_proxy.port}"

    def tally(self) -> Tally:
        return (
            self.cloud_proxy.accepts + self.plain_proxy.accepts,
            self.auth0_proxy.accepts,
            self.cloud.handshakes,
            self.auth0.handshakes,
            len(self.cloud.requests) + len(self.plain.requests),
            len(self.auth0.requests),
        )

    def settle(self, limit: float = 3.0) -> None:
        """Wait (untimed) until no proxied connection is open, so that one
        run's closing bytes never overlap the next run."""
        deadline = time.monotonic() + limit
        while any(proxy.active for proxy in self.proxies) and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.close()
        self.auth0.stop()
        self.cloud.stop()


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


class Report:
    """Prints the rows and the verdicts, and keeps the table."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, bool | None]] = []  # (row, figure, target, met or None)

    @staticmethod
    def show(command: Command, memory: bool = False, counts: str = "") -> None:
        spread = f"{min(command.times):.1f}-{max(command.times):.1f}"
        mem = f"  {command.median_rss / 1024:5.1f} MiB" if memory else ""
        extra = f"  {counts}" if counts else ""
        print(f"  {command.name:<50} {command.median:7.1f} ms  {spread:>15} ms{mem}{extra}")

    def add(self, row: str, figure: str, target: str, met: bool | None) -> None:
        self.rows.append((row, figure, target, met))
        verdict = "REPORT" if met is None else ("PASS" if met else "MISS")
        print(f"    {verdict:<6} {row}: {figure}" + (f"  [target: {target}]" if target != "-" else ""))

    def markdown(self) -> str:
        lines = ["| row | figure | target | met/missed |", "| --- | --- | --- | --- |"]
        for row, figure, target, met in self.rows:
            verdict = "reported" if met is None else ("met" if met else "**missed**")
            lines.append(f"| {row} | {figure} | {target} | {verdict} |")
        return "\n".join(lines) + "\n"

    def summary(self) -> bool:
        judged = [(row, met) for row, _, _, met in self.rows if met is not None]
        missed = [row for row, met in judged if not met]
        print()
        print(f"Targets: {len(judged) - len(missed)} met, {len(missed)} missed.")
        for row in missed:
            print(f"  missed: {row}")
        return not missed


def header(python: str, module: str) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    u = os.uname()
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    version = subprocess.run(
        [python, "-I", "-c", "import sys, ssl; print(sys.version.split()[0], ssl.OPENSSL_VERSION)"],
        capture_output=True,
        text=True,
        check=False,
    )
    with open(module, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    print("arkor benchmark: loopback, and a 100 ms round-trip link")
    print(f"  date:    {now}")
    print(f"  uname:   {u.sysname} {u.release} {u.machine}")
    print(f"  cpu:     {cpu} ({os.cpu_count()} logical CPUs)")
    print(f"  python:  {version.stdout.strip()} (clean venv, -I)")
    print(f"  module:  {module} (sha256 {digest})")


# ---------------------------------------------------------------------------
# Setting up: the clean venv, the homes, the floors
# ---------------------------------------------------------------------------


class Setup:
    """Everything the rows share: the clean python with arkor and the floors
    compiled in it, and the plain-HTTP fake's URL, all under one temp dir."""

    def __init__(self, root: str, url: str, module: str) -> None:
        self.root, self.url = root, url
        self.python, self.module_file = make_clean_venv(root, module)
        self.cwd = os.path.join(root, "cwd")
        os.makedirs(self.cwd)
        self.out_env = base_env(make_home(root, "home-signed-out"), url)
        self.in_env = base_env(make_home(root, "home-signed-in", anon_credentials(url)), url)

    def arkor(self, args: list[str], env: dict[str, str], expect: str, name: str = "", **kw: Any) -> Command:
        argv = [self.python, "-I", "-m", "arkor_cli", *args]
        return Command(name or f"arkor {' '.join(args)}", argv, env, expect, **kw)

    def floor(self, module: str, args: list[str], env: dict[str, str], expect: str, name: str) -> Command:
        return Command(name, [self.python, "-I", "-m", module, *args], env, expect)


def make_clean_venv(root: str, module: str) -> tuple[str, str]:
    """A venv with nothing in it but arkor_cli and the floors, compiled: its
    python, and arkor_cli's path there."""
    venv = os.path.join(root, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    purelib = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    module_file = shutil.copy2(module, os.path.join(purelib, "arkor_cli.py"))
    files = [module_file] + [write(purelib, f"{name}.py", text) for name, text in FLOORS.items()]
    subprocess.run([python, "-I", "-m", "compileall", "-q", *files], check=True)
    return python, module_file


def base_env(home: str, api_url: str, tls: bool = False) -> dict[str, str]:
    """A child's whole environment: nothing is inherited from this process."""
    from fake_cloud import TEST_CA

    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "USERPROFILE": home,
        "ARKOR_CLOUD_API_URL": api_url,
    }
    if tls:
        env["SSL_CERT_FILE"] = TEST_CA
    return env


def anon_credentials(api_url: str) -> dict[str, Any]:
    return {
        "mode": "anon",
        "token": TOKEN,
        "anonymousId": "anon-bench",
        "arkorCloudApiUrl": api_url,
        "orgSlug": "ada-personal",
    }


def oauth_credentials(api_url: str, auth0_domain: str, expires_at: int, access_token: str) -> dict[str, Any]:
    return {
        "mode": "oauth",
        "accessToken": access_token,
        "refreshToken": REFRESH_TOKEN,
        "expiresAt": expires_at,
        "auth0Domain": auth0_domain,
        "audience": "https://api.arkor.test",
        "clientId": "client-test",
        "arkorCloudApiUrl": api_url,
    }


def write_credentials(home: str, credentials: dict[str, Any]) -> None:
    os.makedirs(os.path.join(home, ".arkor"), mode=0o700, exist_ok=True)
    path = os.path.join(home, ".arkor", "credentials.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        json.dump(credentials, f, indent=2)


def make_home(root: str, name: str, credentials: dict[str, Any] | None = None) -> str:
    """A HOME; with credentials, signed in with them."""
    home = os.path.join(root, name)
    os.makedirs(home)
    if credentials is not None:
        write_credentials(home, credentials)
    return home


def write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def script_peers_on(cloud: Any) -> None:
    """Teach a fake cloud-api the routes the peers ask for."""
    from fake_cloud import Answer

    hf_user = {"type": "user", "name": "ada", "fullname": "Ada", "email": "ada@example.com", "orgs": []}
    cloud.script("GET", "/api/whoami-v2", Answer(200, {**hf_user, "auth": {"type": "access_token"}}))
    scopes = {"X-Oauth-Scopes": "repo, read:org, gist"}
    # gh on github.localhost: GET http://api.github.localhost/ (token scopes), then GraphQL.
    cloud.script("GET", "/", Answer(200, {}, headers=scopes))
    cloud.script("POST", "/graphql", Answer(200, {"data": {"viewer": {"login": "ada"}}}))
    # gh on any other host (127.0.0.1:<port>): the same under /api/v3/ and /api/.
    cloud.script("GET", "/api/v3/", Answer(200, {}, headers=scopes))
    cloud.script("POST", "/api/graphql", Answer(200, {"data": {"viewer": {"login": "ada"}}}))


# ---------------------------------------------------------------------------
# The peers
# ---------------------------------------------------------------------------


class Peers:
    """gh, hf and the Node whoami, each installed once (or why not)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.gh: str | None = shutil.which("gh")
        self.gh_problem = "" if self.gh else "gh is not installed (Debian: apt-get install gh)"
        self.hf, self.hf_problem = self._install_hf()
        self.node, self.node_problem = self._install_node()

    def _install_hf(self) -> tuple[str | None, str]:
        """``hf`` from a venv made here."""
        venv = os.path.join(self.root, "hf-venv")
        python = os.path.join(venv, "bin", "python")
        quiet = ["install", "-q", "--disable-pip-version-check", "huggingface_hub"]
        try:
            # This interpreter's pip installs into a bare venv, so that hf,
            # too, starts without pip's and setuptools' start-up hooks;
            # failing that, a venv with its own pip.
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
            done = subprocess.run(
                [sys.executable, "-m", "pip", "--python", python, *quiet], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                shutil.rmtree(venv)
                subprocess.run([sys.executable, "-m", "venv", venv], check=True)
                done = subprocess.run([python, "-m", "pip", *quiet], capture_output=True, text=True, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"could not make a venv for huggingface_hub: {exc}"
        if done.returncode != 0:
            return None, "pip could not install huggingface_hub: " + last_line(done.stderr)
        hf = os.path.join(venv, "bin", "hf")
        if not os.path.exists(hf):
            return None, "this huggingface_hub has no `hf` command"
        return hf, ""

    def _install_node(self) -> tuple[tuple[str, str] | None, str]:
        """The Node whoami on the original CLI's dependencies."""
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            return None, "node or npm is not installed"
        project = os.path.join(self.root, "node-whoami")
        os.makedirs(project)
        write(project, "package.json", '{"private": true, "type": "module"}\n')
        script = write(project, "whoami.mjs", NODE_WHOAMI)
        packages = ["commander", "@clack/prompts", "zod", "open"]
        npm_install = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *packages]
        try:
            done = subprocess.run(npm_install, cwd=project, capture_output=True, text=True, check=False)
        except OSError as exc:
            return None, f"npm install failed: {exc}"
        if done.returncode != 0:
            return None, "npm install failed: " + last_line(done.stderr)
        return (node, script), ""

    def gh_command(self, host: str, env: dict[str, str], name: str) -> Command:
        """``gh auth status`` signed in to ``host`` by a hosts.yml of its own."""
        assert self.gh is not None
        config = tempfile.mkdtemp(prefix="gh-config-", dir=self.root)
        write(config, "hosts.yml", GH_HOSTS.format(host=host))
        env = dict(env, GH_CONFIG_DIR=config, GH_HOST=host, GH_NO_UPDATE_NOTIFIER="1", NO_COLOR="1")
        return Command(name, [self.gh, "auth", "status"], env, f"Logged in to {host}")

    def hf_command(self, env: dict[str, str], endpoint: str, name: str) -> Command:
        assert self.hf is not None
        env = dict(env)
        env.update(
            HF_HOME=os.path.join(self.root, "hf-home"),
            HF_ENDPOINT=endpoint,
            HF_TOKEN="hf_benchtoken",
            HF_HUB_DISABLE_UPDATE_CHECK="1",  # else it asks pypi.org once a day
            HF_HUB_DISABLE_TELEMETRY="1",
        )
        return Command(name, [self.hf, "auth", "whoami"], env, "ada")

    def node_command(self, env: dict[str, str], name: str) -> Command:
        assert self.node is not None
        node, script = self.node
        return Command(name, [node, script, "whoami"], env, "ada@example.com")

    def loopback(self, setup: Setup) -> list[Command | str]:
        """Each peer against the plain-HTTP fake, or why it is skipped."""
        found: list[Command | str] = []
        if self.gh:
            env = dict(setup.in_env, HTTP_PROXY=setup.url, HTTPS_PROXY=setup.url)
            found.append(self.gh_command("github.localhost", env, "gh auth status (github.localhost)"))
        else:
            found.append("gh: " + self.gh_problem)
        if self.hf:
            found.append(self.hf_command(setup.in_env, setup.url, "hf auth whoami (huggingface_hub)"))
        else:
            found.append("hf: " + self.hf_problem)
        if self.node:
            found.append(self.node_command(setup.in_env, "node whoami.mjs (commander, clack, zod, open)"))
        else:
            found.append("node: " + self.node_problem)
        return found

    def on_link(self, setup: Setup, link: Link, home: str) -> list[Command | str]:
        """Each peer through the delay proxy: over HTTPS trusting the test CA
        when it can, else over plain HTTP; or why it is skipped."""
        from fake_cloud import TEST_CA

        tls_env = base_env(home, link.cloud_url, tls=True)
        plain_env = base_env(home, link.plain_url)
        found: list[Command | str] = []
        ways: dict[str, list[tuple[str, Callable[[], Command]]]] = {}  # peer: (how, make), best first
        if self.gh:
            host = f"127.0.0.1:{link.cloud_proxy.port}"
            proxied = dict(plain_env, HTTP_PROXY=link.plain_url, HTTPS_PROXY=link.plain_url)
            gh = "link: gh auth status"
            ways["gh"] = [
                ("https, SSL_CERT_FILE=test CA", lambda: self.gh_command(host, tls_env, gh)),
                ("plain http via HTTP_PROXY", lambda: self.gh_command("github.localhost", proxied, gh)),
            ]
        if self.hf:
            hf_tls = dict(tls_env, REQUESTS_CA_BUNDLE=TEST_CA)
            hf = "link: hf auth whoami"
            ways["hf"] = [
                (
                    "https, REQUESTS_CA_BUNDLE and SSL_CERT_FILE=test CA",
                    lambda: self.hf_command(hf_tls, link.cloud_url, hf),
                ),
                ("plain http", lambda: self.hf_command(plain_env, link.plain_url, hf)),
            ]
        if self.node:
            node_tls = dict(tls_env, NODE_EXTRA_CA_CERTS=TEST_CA)
            node = "link: node whoami.mjs"
            ways["node"] = [
                ("https, NODE_EXTRA_CA_CERTS=test CA", lambda: self.node_command(node_tls, node)),
                ("plain http", lambda: self.node_command(plain_env, node)),
            ]
        for peer, problem in (("gh", self.gh_problem), ("hf", self.hf_problem), ("node", self.node_problem)):
            if peer not in ways:
                found.append(f"{peer}: {problem}")
                continue
            problems = []
            for how, make in ways[peer]:
                command = make()
                seen = len(link.cloud.requests), len(link.plain.requests)
                failed = check_output(command, setup.cwd, link)
                if failed is None:
                    asked = link.cloud.requests[seen[0] :] + link.plain.requests[seen[1] :]
                    command.note = f"{how}; asks " + ", ".join(f"{r.method} {r.path}" for r in asked)
                    found.append(command)
                    break
                problems.append(f"{how}: {failed}")
            else:
                found.append(f"{peer}: " + "; ".join(problems))
        return found


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


def md_name(name: str) -> str:
    """``gh auth status (github.localhost)`` -> the command in backticks, the note after it."""
    command, paren, rest = name.partition(" (")
    return f"`{command}`" + (f" ({rest}" if paren else "")


def ratio_text(value: float) -> str:
    return f"{value:.2f}×"


# ---------------------------------------------------------------------------
# The loopback rows
# ---------------------------------------------------------------------------


def row_cli(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\ncli, no network (target: each <= 1.15x the argparse program doing the same)")
    env = setup.out_env
    cases = [  # (table label, argv, what it prints, name)
        ("`arkor --help`", ["--help"], "usage: arkor", "--help"),
        ("`arkor logout` (no file)", ["logout"], "No credentials on file.", "logout (no file)"),
        ("`arkor whoami` (signed out)", ["whoami"], "Not signed in.", "whoami (signed out)"),
    ]
    pairs = [
        (
            label,
            setup.arkor(args, env, expect, f"arkor {name}"),
            setup.floor("floor_cli", args, env, expect, f"floor: argparse {args[0]}"),
        )
        for label, args, expect, name in cases
    ]
    bare = Command("python -I -c pass", [setup.python, "-I", "-c", "pass"], env, "")
    commands = [bare] + [c for _, arkor, floor in pairs for c in (arkor, floor)]
    measure(launcher, commands, runs, setup.cwd)
    for command in commands:
        report.show(command)
    for label, arkor, floor in pairs:
        ratio = arkor.median / floor.median
        figure = f"{arkor.median:.1f} ms; {ratio_text(ratio)} the argparse program ({floor.median:.1f} ms)"
        report.add(label, figure, "≤ 1.15× argparse program", ratio <= 1.15)


def whoami_pair(launcher: Launcher, setup: Setup, report: Report, runs: int, env: dict[str, str], how: str) -> None:
    script = setup.floor("floor_get", [], env, "ada@example.com", f"floor: urllib GET script ({how})")
    whoami = setup.arkor(["whoami"], env, "ada@example.com", f"arkor whoami ({how})")
    measure(launcher, [script, whoami], runs, setup.cwd)
    report.show(script, memory=True)
    report.show(whoami, memory=True)
    ratio = whoami.median / script.median
    figure = f"{whoami.median:.1f} ms; {ratio_text(ratio)} the urllib script ({script.median:.1f} ms)"
    report.add(f"`arkor whoami` signed in, {how}", figure, "≤ 1.20× urllib script", ratio <= 1.20)
    ratio = whoami.median_rss / script.median_rss
    figure = (
        f"{whoami.median_rss / 1024:.1f} MiB; {ratio_text(ratio)} the script's ({script.median_rss / 1024:.1f} MiB)"
    )
    report.add(f"`arkor whoami` peak RSS, {how}", figure, "≤ 1.10× urllib script", ratio <= 1.10)


def row_whoami(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nwhoami signed in, http (target: <= 1.20x the urllib script; peak RSS <= 1.10x)")
    whoami_pair(launcher, setup, report, runs, setup.in_env, "http")
    print("\nwhoami signed in, https, both trusting the test CA by SSL_CERT_FILE (same targets)")
    from fake_cloud import FakeCloudApi

    with FakeCloudApi(tls=True) as cloud:
        cloud.add_token(TOKEN, user=USER, orgs=ORGS)
        env = base_env(make_home(setup.root, "home-https", anon_credentials(cloud.url)), cloud.url, tls=True)
        whoami_pair(launcher, setup, report, runs, env, "https")


def row_login(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nlogin --anonymous, http (target: <= 1.20x the urllib script with an atomic write)")
    login_env = base_env(make_home(setup.root, "home-login"), setup.url)
    floor_env = base_env(make_home(setup.root, "home-login-floor"), setup.url)
    script = setup.floor("floor_post", [], floor_env, "Signed in anonymously", "floor: urllib POST + atomic write")
    login = setup.arkor(["login", "--anonymous"], login_env, "Signed in anonymously")
    measure(launcher, [script, login], runs, setup.cwd)
    report.show(script)
    report.show(login)
    ratio = login.median / script.median
    figure = f"{login.median:.1f} ms; {ratio_text(ratio)} the script ({script.median:.1f} ms)"
    report.add("`arkor login --anonymous`, http", figure, "≤ 1.20× urllib script + atomic write", ratio <= 1.20)


def row_peers(launcher: Launcher, setup: Setup, peers: Peers, report: Report, runs: int) -> None:
    print("\npeers on loopback, http (targets: hf and Node >= 4x slower than arkor whoami; gh reported)")
    print("  gh: hosts.yml for github.localhost, whose API gh calls over plain HTTP, sent to the fake by HTTP_PROXY")
    print("  hf: HF_ENDPOINT=<fake>, HF_TOKEN, update check off; GET /api/whoami-v2")
    print("  node: whoami.mjs importing commander, @clack/prompts, zod, open; zod-checked file, global fetch")
    found: list[Command] = []
    for peer in peers.loopback(setup):
        if isinstance(peer, str):
            print(f"  skipped {peer}")
            continue
        problem = check_output(peer, setup.cwd)
        if problem:
            print(f"  skipped {problem}")
            continue
        found.append(peer)
    if not found:
        return
    whoami = setup.arkor(["whoami"], setup.in_env, "ada@example.com", "arkor whoami (signed in, http)")
    measure(launcher, [whoami, *found], runs, setup.cwd)
    for command in (whoami, *found):
        report.show(command, memory=True)
    for peer in found:
        ratio = peer.median / whoami.median
        figure = (
            f"{peer.median:.1f} ms, {peer.median_rss / 1024:.1f} MiB; {ratio_text(ratio)} arkor whoami"
            f" ({whoami.median:.1f} ms, {whoami.median_rss / 1024:.1f} MiB)"
        )
        if peer.name.startswith("gh"):
            report.add(f"loopback: {md_name(peer.name)}", figure, "-", None)
        else:
            report.add(f"loopback: {md_name(peer.name)}", figure, "≥ 4× arkor whoami", ratio >= 4.0)


# ---------------------------------------------------------------------------
# The slow-link rows
# ---------------------------------------------------------------------------


class LinkCase:
    """One arkor command, straight to the fakes and through the link, with
    its floor: round trips and connections (cloud-api, Auth0)."""

    def __init__(self, name: str, rtts: int, conns: tuple[int, int], local: Command, wan: Command) -> None:
        self.name, self.rtts, self.conns, self.local, self.wan = name, rtts, conns, local, wan


def link_cases(setup: Setup, link: Link) -> list[LinkCase]:
    """The four commands, each set up twice: straight to the fakes (local)
    and through the delay proxies (link)."""
    ways = {
        "local": (link.cloud.url, link.auth0.domain),
        "link": (link.cloud_url, link.auth0_domain),
    }
    built: dict[str, list[Command]] = {}
    for where, (url, domain) in ways.items():
        root = setup.root

        def env(home: str, url: str = url) -> dict[str, str]:
            return base_env(home, url, tls=True)

        valid = make_home(root, f"{where}-valid", anon_credentials(url))
        near = make_home(root, f"{where}-near", oauth_credentials(url, domain, int(time.time()), "at-stale"))
        login = make_home(root, f"{where}-login")
        logout = make_home(root, f"{where}-logout")
        signed_in = oauth_credentials(url, domain, int(time.time()) + 86400, "at-valid")

        def prepare(home: str = logout, credentials: dict[str, Any] = signed_in) -> None:
            write_credentials(home, credentials)

        built[where] = [
            setup.arkor(["whoami"], env(valid), "ada@example.com", f"{where}: arkor whoami (valid token)"),
            setup.arkor(["whoami"], env(near), "Ada Lovelace", f"{where}: arkor whoami (near expiry)"),
            setup.arkor(
                ["login", "--anonymous"], env(login), "Signed in anonymously", f"{where}: arkor login --anonymous"
            ),
            setup.arkor(["logout", "-y"], env(logout), "Removed", f"{where}: arkor logout -y (OAuth)", prepare=prepare),
        ]
    floors = [
        ("`arkor whoami` (valid token)", 3, (1, 0)),
        ("`arkor whoami` (near expiry: refresh, then GET)", 6, (1, 1)),
        ("`arkor login --anonymous`", 3, (1, 0)),
        ("`arkor logout -y` (OAuth: revoke)", 3, (0, 1)),
    ]
    return [
        LinkCase(name, rtts, conns, local, wan)
        for (name, rtts, conns), local, wan in zip(floors, built["local"], built["link"])
    ]


def row_link(launcher: Launcher, setup: Setup, link: Link, peers: Peers | None, report: Report, runs: int) -> None:
    print(f"\nthe link: {ONE_WAY * 1000:.0f} ms each way ({RTT_MS:.0f} ms RTT), https with the test CA")
    print("  target: median <= 1.10x (RTTs x 100 ms + local time), and no connection or handshake over the floor")
    print("  counts per run: connections (proxy accepts), TLS handshakes, requests; each cloud-api+Auth0")
    cases = link_cases(setup, link)
    found: list[Command] = []
    if peers is not None:
        for peer in peers.on_link(setup, link, cases[0].wan.env["HOME"]):
            if isinstance(peer, str):
                print(f"  skipped {peer}")
            else:
                found.append(peer)
    commands = [c for case in cases for c in (case.local, case.wan)] + found
    measure(launcher, commands, runs, setup.cwd, link)
    for case in cases:
        report.show(case.local, counts=case.local.counts_text(proxied=False))
        report.show(case.wan, counts=case.wan.counts_text())
    for peer in found:
        report.show(peer, counts=f"{peer.counts_text()}; {peer.note}")
    for case in cases:
        floor = case.rtts * RTT_MS + case.local.median
        ratio = case.wan.median / floor
        most = case.wan.most()
        extra = [
            f"{what} {got}>{want}"
            for what, got, want in (
                ("cloud-api conn", most[0], case.conns[0]),
                ("Auth0 conn", most[1], case.conns[1]),
                ("cloud-api TLS", most[2], case.conns[0]),
                ("Auth0 TLS", most[3], case.conns[1]),
            )
            if got > want
        ]
        figure = (
            f"{case.wan.median:.0f} ms; {ratio_text(ratio)} the floor {case.rtts} RTT + {case.local.median:.1f} ms"
            f" = {floor:.0f} ms; {case.wan.counts_text()}"
        )
        target = f"≤ 1.10× floor; ≤ {case.conns[0]}+{case.conns[1]} conn and TLS"
        met = ratio <= 1.10 and not extra
        report.add(
            f"link: {case.name}", figure + ("; over the floor: " + ", ".join(extra) if extra else ""), target, met
        )
    whoami = cases[0].wan
    for peer in found:
        figure = (
            f"arkor {whoami.median:.0f} ms vs {peer.median:.0f} ms ({peer.note}; {peer.counts_text()});"
            f" {ratio_text(peer.median / whoami.median)}"
        )
        report.add(
            f"link: {md_name(peer.name[6:])} vs arkor whoami", figure, "arkor faster", whoami.median < peer.median
        )


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help=f"loopback runs per command (default 30, >= {MIN_RUNS})")
    parser.add_argument(
        "--wan-runs", type=int, default=10, help=f"runs per command over the link (default 10, >= {MIN_WAN_RUNS})"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip gh, hf and the Node script")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--wan-only", action="store_true", help="only the rows over the slow link")
    only.add_argument("--local-only", action="store_true", help="only the loopback rows")
    parser.add_argument(
        "--module",
        default=os.path.join(HERE, "arkor_cli.py"),
        help="the arkor_cli.py to measure (default: the one beside bench.py)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.wan_runs < MIN_WAN_RUNS:
        parser.error(f"--wan-runs must be at least {MIN_WAN_RUNS}")
    module = os.path.abspath(args.module)

    sys.path.insert(0, HERE)
    from fake_cloud import FakeCloudApi

    root = tempfile.mkdtemp(prefix="arkor-bench-")
    try:
        with FakeCloudApi() as cloud:
            cloud.add_token(TOKEN, user=USER, orgs=ORGS)
            script_peers_on(cloud)
            setup = Setup(root, cloud.url, module)
            header(setup.python, module)
            peers = None if args.no_peers else Peers(root)
            launcher = Launcher(setup.python, setup.cwd)
            report = Report()
            try:
                _, launcher_rss, _ = launcher.run(["/bin/true"], {})
                print(f"  runs:    {args.runs} on loopback, {args.wan_runs} over the link, per command,")
                print(f"           after {WARMUPS} warm-ups, in shuffled turns")
                print(f"  memory:  peak RSS from wait4; the launcher's floor is {launcher_rss / 1024:.1f} MiB")
                if not args.wan_only:
                    row_cli(launcher, setup, report, args.runs)
                    row_whoami(launcher, setup, report, args.runs)
                    row_login(launcher, setup, report, args.runs)
                    if peers is None:
                        print("\npeers: skipped (--no-peers)")
                    else:
                        row_peers(launcher, setup, peers, report, args.runs)
                if not args.local_only:
                    link = Link(cloud)
                    try:
                        row_link(launcher, setup, link, peers, report, args.wan_runs)
                    finally:
                        link.close()
                ok = report.summary()
            finally:
                launcher.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = report.markdown()
    print()
    print(table, end="")
    with open(TABLE_PATH, "w", encoding="utf-8") as f:
        f.write(table)
    print(f"(also written to {TABLE_PATH})")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
