"""How much arkor costs to start, next to what the same job can cost at least.

Run::

    python3 bench.py                 # everything, peers included (about a minute)
    python3 bench.py --runs 50       # more runs per command (default 30, at least 20)
    python3 bench.py --no-peers      # skip gh, hf and the Node script
    python3 bench.py --check         # exit 1 when a target is missed

Standard library only; Linux (and other POSIX systems with posix_spawn and
wait4). It is a report, not a test: it exits 0 unless ``--check`` is given.
Only loopback traffic is measured; the one-off installs of the peers (pip,
npm) are the only other traffic it causes.

How it measures
    * A clean interpreter: a venv made with ``python3 -m venv --without-pip``
      in a temporary directory, so nothing in a site-packages runs at
      start-up. arkor_cli.py is copied into that venv's site-packages and
      compiled there, and runs as ``python -I -m arkor_cli`` (cached bytecode,
      as the installed ``arkor`` uses).
    * The fake cloud-api (fake_cloud.FakeCloudApi) runs inside this process
      on 127.0.0.1; every child gets an environment built from scratch: PATH,
      LANG=C.UTF-8, a temporary HOME and USERPROFILE, ARKOR_CLOUD_API_URL.
    * Every child is started by a small launcher process (``python -I -S``)
      that times it (posix_spawn to wait4) and reads its peak memory from
      wait4's ru_maxrss. A launcher is needed because Linux charges a child
      with the resident size of the process that spawned it: spawned from
      this process, which holds the fake server, every child would look at
      least as big as this one. The launcher's own size, which is the
      smallest reading possible, is printed.
    * The commands of a row run in turns, N times each, after warm-up runs
      whose output is checked; the order rotates every round, so that drift
      in the machine's speed falls on all of them alike. A row prints each
      command's median and min-max in milliseconds and its ratio to the bare
      interpreter (``python -I -c pass``) measured in the same turns.

The rows
    start-up      ``arkor --help``, ``arkor logout`` with no file and
                  ``arkor whoami`` signed out, against the floor
                  ``python -I -c 'import argparse, json, os'`` (about 2.0x
                  bare). Target: each <= 2.2x bare.
    whoami        ``arkor whoami`` signed in, against a ten-line urllib script
                  doing the same GET /v1/me (same headers, reads the token
                  from the same file, prints the user). Target: <= 1.10x it.
    login         ``arkor login --anonymous`` against the same kind of script
                  doing the POST and one atomic write (tempfile, fsync,
                  os.replace). Target: <= 1.15x it.
    memory        Peak RSS of the two whoami commands above, from the same
                  runs. Target: arkor <= 1.05x the script.
    direct        (no target) ``python -I arkor_cli.py --help``, which
                  compiles the whole file on every run, against ``-m``.
    https         (no target) ``arkor whoami``, the urllib script and
                  ``gh auth status`` against the fake cloud-api serving the
                  test certificate, each client trusting its defaults (the
                  system's CA bundle and hashed directory) plus the test CA
                  through SSL_CERT_DIR: checking a certificate costs what it
                  costs against the real, https, cloud-api.
    peers         arkor whoami against ``gh auth status`` (Debian's gh, on a
                  hosts.yml for the host github.localhost, whose API gh
                  reaches over plain HTTP through HTTP_PROXY pointed at the
                  fake), ``hf auth whoami`` (huggingface_hub installed into a
                  venv made here, HF_ENDPOINT pointed at the fake), and a
                  Node whoami on the original CLI's dependencies (commander,
                  @clack/prompts, zod, open, global fetch). Targets: arkor at
                  least 1.3x faster than gh, 4x faster than hf and Node, and
                  smaller in peak memory than all three. A peer that is not
                  there or cannot be installed is skipped, with the reason.
                  The row also times ``python -I -c 'import http.client'``,
                  the least a client on http.client can cost, and says when
                  a target lies below it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import marshal
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_RUNS = 20
WARMUPS = 3
TOKEN = "bench-token"
USER = {"id": "user-1", "email": "ada@example.com", "name": "Ada"}
ORGS = [{"slug": "ada-personal", "id": "org-1"}]

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


# ---------------------------------------------------------------------------
# Running children
# ---------------------------------------------------------------------------


class Command:
    """One thing to measure: a name, an argv, an environment, and a word that
    its output must contain (checked on the warm-up runs)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], expect: str) -> None:
        self.name, self.argv, self.env, self.expect = name, argv, env, expect
        self.times: list[float] = []  # milliseconds
        self.rss: list[int] = []  # KiB

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def median_rss(self) -> float:
        return statistics.median(self.rss)


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


def check_output(command: Command, cwd: str) -> str | None:
    """Run once with the output captured; None when it did what it should,
    else why not."""
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
    text = done.stdout + done.stderr
    if done.returncode != 0 or command.expect not in text:
        return f"{command.name}: exit {done.returncode}, expected {command.expect!r} in: {text.strip()[:300]!r}"
    return None


def measure(launcher: Launcher, commands: list[Command], runs: int, cwd: str) -> None:
    """Check each command, warm it up, then run all of them in turns."""
    for command in commands:
        problem = check_output(command, cwd)
        if problem:
            raise RuntimeError(problem)
    for _ in range(WARMUPS):
        for command in commands:
            launcher.run(command.argv, command.env)
    for i in range(runs):
        shift = i % len(commands)
        for command in commands[shift:] + commands[:shift]:
            ms, rss, status = launcher.run(command.argv, command.env)
            if status != 0:
                raise RuntimeError(f"{command.name} exited {status} on a timed run")
            command.times.append(ms)
            command.rss.append(rss)


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


class Report:
    """Prints the rows and the verdicts, and remembers the verdicts."""

    def __init__(self) -> None:
        self.results: list[tuple[str, bool]] = []  # (target, met)

    def row(self, command: Command, bare: Command, memory: bool = False) -> None:
        spread = f"{min(command.times):.1f}-{max(command.times):.1f}"
        mem = f"  {command.median_rss / 1024:5.1f} MiB" if memory else ""
        print(
            f"  {command.name:<46} {command.median:7.1f} ms  {spread:>13} ms"
            f"  {command.median / bare.median:5.2f}x bare{mem}"
        )

    def target(self, text: str, value: float, sign: str, limit: float) -> None:
        met = {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[sign]
        self.results.append((text, met))
        print(f"    {'PASS' if met else 'MISS'}  {text}: {value:.3f} (target {sign} {limit:g})")

    def summary(self) -> bool:
        missed = [text for text, met in self.results if not met]
        print()
        print(f"Targets: {len(self.results) - len(missed)} met, {len(missed)} missed.")
        for text in missed:
            print(f"  missed: {text}")
        return not missed


def header(python: str) -> None:
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
        [python, "-I", "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=False
    )
    print("arkor start-up benchmark")
    print(f"  date:    {now}")
    print(f"  uname:   {u.sysname} {u.release} {u.machine}")
    print(f"  cpu:     {cpu} ({os.cpu_count()} logical CPUs)")
    print(f"  python:  {version.stdout.strip()} (clean venv, -I)")


# ---------------------------------------------------------------------------
# Setting up: the clean venv, the homes, the scripts, the peers
# ---------------------------------------------------------------------------


class Setup:
    """Everything the rows share: the clean python, the copied module, the
    fake's URL, the homes and the floor scripts, all under one temp dir."""

    def __init__(self, root: str, url: str) -> None:
        self.root, self.url = root, url
        self.python, self.module_file = make_clean_venv(root)
        self.cwd = os.path.join(root, "cwd")
        os.makedirs(self.cwd)
        self.out_env = base_env(make_home(root, "home-signed-out"), url)
        self.in_env = base_env(make_home(root, "home-signed-in", url), url)
        self.login_env = base_env(make_home(root, "home-login"), url)
        self.floor_login_env = base_env(make_home(root, "home-login-floor"), url)
        self.floor_get = write(root, "floor_get.py", FLOOR_GET)
        self.floor_post = write(root, "floor_post.py", FLOOR_POST)

    def bare(self, env: dict[str, str]) -> Command:
        return Command("python -I -c pass", [self.python, "-I", "-c", "pass"], env, "")

    def arkor(self, args: list[str], env: dict[str, str], expect: str, name: str = "") -> Command:
        return Command(name or f"arkor {' '.join(args)}", [self.python, "-I", "-m", "arkor_cli", *args], env, expect)


def make_clean_venv(root: str) -> tuple[str, str]:
    """A venv with nothing in it but arkor_cli, compiled: its python, and the
    module's path."""
    venv = os.path.join(root, "venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    purelib = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    module_file = shutil.copy2(os.path.join(HERE, "arkor_cli.py"), purelib)
    subprocess.run([python, "-I", "-m", "compileall", "-q", module_file], check=True)
    return python, module_file


def base_env(home: str, api_url: str) -> dict[str, str]:
    """A child's whole environment: nothing is inherited from this process."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "USERPROFILE": home,
        "ARKOR_CLOUD_API_URL": api_url,
    }


def make_home(root: str, name: str, api_url: str | None = None) -> str:
    """A HOME; with api_url, signed in with the token the fake knows."""
    home = os.path.join(root, name)
    os.makedirs(home)
    if api_url is not None:
        os.makedirs(os.path.join(home, ".arkor"), mode=0o700)
        credentials = {
            "mode": "anon",
            "token": TOKEN,
            "anonymousId": "anon-bench",
            "arkorCloudApiUrl": api_url,
            "orgSlug": "ada-personal",
        }
        path = os.path.join(home, ".arkor", "credentials.json")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as f:
            json.dump(credentials, f, indent=2)
    return home


def write(folder: str, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def script_peers_on(cloud: Any) -> None:
    """Teach the fake cloud-api the routes the peers ask for."""
    from fake_cloud import Answer

    hf_user = {"type": "user", "name": "ada", "fullname": "Ada", "email": "ada@example.com", "orgs": []}
    cloud.script("GET", "/api/whoami-v2", Answer(200, {**hf_user, "auth": {"type": "access_token"}}))
    # gh: GET http://api.github.localhost/ (token scopes), then GraphQL.
    cloud.script("GET", "/", Answer(200, {}, headers={"X-Oauth-Scopes": "repo, read:org, gist"}))
    cloud.script("POST", "/graphql", Answer(200, {"data": {"viewer": {"login": "ada"}}}))
    # gh on any other host (the https row): the same under /api/v3/ and /api/.
    cloud.script("GET", "/api/v3/", Answer(200, {}, headers={"X-Oauth-Scopes": "repo, read:org, gist"}))
    cloud.script("POST", "/api/graphql", Answer(200, {"data": {"viewer": {"login": "ada"}}}))


def gh_peer(setup: Setup) -> Command | str:
    """``gh auth status`` on a loopback host, or why it cannot run.

    For github.com gh checks the token at https://api.github.com, which is
    not reachable here. For the host github.localhost it uses plain HTTP
    (http://api.github.localhost/), so HTTP_PROXY hands its requests to the
    fake; HTTPS_PROXY points there too, so that nothing could leave.
    """
    gh = shutil.which("gh")
    if gh is None:
        return "gh is not installed (Debian: apt-get install gh)"
    env = dict(setup.in_env, HTTP_PROXY=setup.url, HTTPS_PROXY=setup.url)
    return gh_command(gh, setup.root, "github.localhost", env, "gh auth status (github.localhost)")


def gh_command(gh: str, root: str, host: str, env: dict[str, str], name: str) -> Command:
    """``gh auth status`` signed in to ``host`` by a hosts.yml of its own."""
    config = tempfile.mkdtemp(prefix="gh-config-", dir=root)
    write(config, "hosts.yml", GH_HOSTS.format(host=host))
    env = dict(env, GH_CONFIG_DIR=config, GH_HOST=host, GH_NO_UPDATE_NOTIFIER="1", NO_COLOR="1")
    return Command(name, [gh, "auth", "status"], env, f"Logged in to {host}")


def hf_peer(setup: Setup) -> Command | str:
    """``hf auth whoami`` from a venv made here, or why it cannot run."""
    venv = os.path.join(setup.root, "hf-venv")
    python = os.path.join(venv, "bin", "python")
    quiet = ["install", "-q", "--disable-pip-version-check", "huggingface_hub"]
    # This interpreter's pip installs into a bare venv, so that hf, too,
    # starts without pip's and setuptools' start-up hooks; failing that, a
    # venv with its own pip.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, *quiet], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        done = subprocess.run([python, "-m", "pip", *quiet], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "pip could not install huggingface_hub: " + last_line(done.stderr)
    hf = os.path.join(venv, "bin", "hf")
    if not os.path.exists(hf):
        return "this huggingface_hub has no `hf` command"
    env = dict(setup.in_env)
    env.update(
        HF_HOME=os.path.join(setup.root, "hf-home"),
        HF_ENDPOINT=setup.url,
        HF_TOKEN="hf_benchtoken",
        HF_HUB_DISABLE_UPDATE_CHECK="1",  # else it asks pypi.org once a day
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return Command("hf auth whoami (huggingface_hub)", [hf, "auth", "whoami"], env, "ada")


def node_peer(setup: Setup) -> Command | str:
    """A Node whoami on the original CLI's dependencies, or why it cannot run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node or npm is not installed"
    project = os.path.join(setup.root, "node-whoami")
    os.makedirs(project)
    write(project, "package.json", '{"private": true, "type": "module"}\n')
    script = write(project, "whoami.mjs", NODE_WHOAMI)
    packages = ["commander", "@clack/prompts", "zod", "open"]
    npm_install = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *packages]
    done = subprocess.run(npm_install, cwd=project, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "npm install failed: " + last_line(done.stderr)
    name = "node whoami.mjs (commander, clack, zod, open)"
    return Command(name, [node, script, "whoami"], setup.in_env, "ada@example.com")


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no message)"


# ---------------------------------------------------------------------------
# The rows
# ---------------------------------------------------------------------------


def row_start_up(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nstart-up (target: each arkor command <= 2.2x bare)")
    env = setup.out_env
    bare = setup.bare(env)
    floor = Command(
        "floor: import argparse, json, os", [setup.python, "-I", "-c", "import argparse, json, os"], env, ""
    )
    commands = [
        setup.arkor(["--help"], env, "usage: arkor"),
        setup.arkor(["logout"], env, "No credentials on file.", "arkor logout (no file)"),
        setup.arkor(["whoami"], env, "Not signed in.", "arkor whoami (signed out)"),
    ]
    measure(launcher, [bare, floor, *commands], runs, setup.cwd)
    for command in (bare, floor, *commands):
        report.row(command, bare)
    for command in commands:
        report.target(f"{command.name} / bare", command.median / bare.median, "<=", 2.2)


def row_whoami(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nwhoami signed in (target: <= 1.10x the urllib script; peak RSS <= 1.05x)")
    env = setup.in_env
    bare = setup.bare(env)
    script = Command("floor: urllib GET script", [setup.python, "-I", setup.floor_get], env, "ada@example.com")
    whoami = setup.arkor(["whoami"], env, "ada@example.com", "arkor whoami (signed in)")
    measure(launcher, [bare, script, whoami], runs, setup.cwd)
    report.row(bare, bare)
    report.row(script, bare, memory=True)
    report.row(whoami, bare, memory=True)
    report.target("arkor whoami / urllib script (time)", whoami.median / script.median, "<=", 1.10)
    report.target("arkor whoami / urllib script (peak RSS)", whoami.median_rss / script.median_rss, "<=", 1.05)


def row_login(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nlogin --anonymous (target: <= 1.15x the urllib script with an atomic write)")
    bare = setup.bare(setup.out_env)
    floor_argv = [setup.python, "-I", setup.floor_post]
    script = Command("floor: urllib POST + atomic write", floor_argv, setup.floor_login_env, "Signed in anonymously")
    login = setup.arkor(["login", "--anonymous"], setup.login_env, "Signed in anonymously")
    measure(launcher, [bare, script, login], runs, setup.cwd)
    for command in (bare, script, login):
        report.row(command, bare)
    report.target("arkor login --anonymous / urllib script", login.median / script.median, "<=", 1.15)


def row_direct(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\ndirect (no target): running the file compiles all of it on every run")
    env = setup.out_env
    bare = setup.bare(env)
    module = setup.arkor(["--help"], env, "usage: arkor", "python -I -m arkor_cli --help")
    direct_argv = [setup.python, "-I", setup.module_file, "--help"]
    direct = Command("python -I arkor_cli.py --help", direct_argv, env, "usage: arkor")
    measure(launcher, [bare, module, direct], runs, setup.cwd)
    for command in (bare, module, direct):
        report.row(command, bare)


def row_peers(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\npeers (targets: arkor >= 1.3x faster than gh, >= 4x than hf and Node; less peak RSS than each)")
    print("  gh: hosts.yml for github.localhost, whose API gh calls over plain HTTP, sent to the fake by HTTP_PROXY")
    print("      (for github.com gh needs https://api.github.com, which is not reachable here); two requests")
    print("  hf: HF_ENDPOINT=<fake>, HF_TOKEN, update check off; GET /api/whoami-v2")
    print("  node: whoami.mjs importing commander, @clack/prompts, zod, open; zod-checked file, global fetch")
    found: list[tuple[Command, float]] = []
    for make, factor in ((gh_peer, 1.3), (hf_peer, 4.0), (node_peer, 4.0)):
        try:
            peer = make(setup)
        except (OSError, subprocess.SubprocessError) as exc:
            peer = str(exc)
        if isinstance(peer, str):
            print(f"  skipped {make.__name__[:-5]}: {peer}")
            continue
        problem = check_output(peer, setup.cwd)
        if problem:
            print(f"  skipped {problem}")
            continue
        found.append((peer, factor))
    if not found:
        return
    bare = setup.bare(setup.in_env)
    # The least any Python client can import and still use http.client.
    bound = Command("bound: import http.client", [setup.python, "-I", "-c", "import http.client"], setup.in_env, "")
    whoami = setup.arkor(["whoami"], setup.in_env, "ada@example.com", "arkor whoami (signed in)")
    commands = [bare, bound, whoami, *(peer for peer, _ in found)]
    measure(launcher, commands, runs, setup.cwd)
    report.row(bare, bare)
    report.row(bound, bare)
    for command in commands[2:]:
        report.row(command, bare, memory=True)
    for peer, factor in found:
        report.target(f"{peer.name} / arkor whoami (time)", peer.median / whoami.median, ">=", factor)
        if peer.median / factor < bound.median:
            print(
                f"          {factor:g}x faster than this peer is {peer.median / factor:.1f} ms or less;"
                f" importing http.client alone takes {bound.median:.1f} ms"
            )
    for peer, _ in found:
        report.target(f"arkor whoami / {peer.name} (peak RSS)", whoami.median_rss / peer.median_rss, "<", 1.0)


def system_trust_with_test_ca(root: str) -> str:
    """An SSL_CERT_DIR of the system's hashed CA directory plus the test CA,
    so that every client trusts what it trusts by default, and the fake.
    Raises OSError when this system has no such directory."""
    import ssl

    from arkor_cli import _is_hashed_ca_name

    system = ssl.get_default_verify_paths().openssl_capath  # the built-in one, whatever the environment says
    if not any(_is_hashed_ca_name(name) for name in os.listdir(system)):
        raise OSError(f"{system} has no certificates filed by hash")
    folder = os.path.join(root, "trust")
    os.makedirs(folder)
    for name in os.listdir(system):
        source = os.path.join(system, name)
        target = os.readlink(source) if os.path.islink(source) else ""
        # A link within the directory (a hash name for a .pem beside it) stays
        # one, so that gh, which skips such links as repeats, reads the same
        # certificates here as in the system's directory.
        os.symlink(target if target and os.sep not in target else source, os.path.join(folder, name))
    (test_ca,) = os.listdir(os.path.join(HERE, "tests", "fixtures", "ca-dir"))
    shutil.copy(os.path.join(HERE, "tests", "fixtures", "ca-dir", test_ca), folder)
    return folder


def row_https(launcher: Launcher, setup: Setup, report: Report, runs: int) -> None:
    print("\nwhoami over https (no target): the real cloud-api speaks https, and checking its certificate costs")
    print("  each client trusts what it trusts by default (the system's CA bundle and hashed directory)")
    print("  plus the test CA, given by SSL_CERT_DIR; gh reaches the fake as the host 127.0.0.1:<port>")
    from fake_cloud import FakeCloudApi

    try:
        trust = system_trust_with_test_ca(setup.root)
    except OSError as exc:
        print(f"  skipped: {exc}")
        return
    with FakeCloudApi(tls=True) as cloud:
        cloud.add_token(TOKEN, user=USER, orgs=ORGS)
        script_peers_on(cloud)
        env = base_env(make_home(setup.root, "home-https", cloud.url), cloud.url)
        env["SSL_CERT_DIR"] = trust
        bare = setup.bare(env)
        script = Command("floor: urllib GET script (https)", [setup.python, "-I", setup.floor_get], env, "ada@")
        whoami = setup.arkor(["whoami"], env, "ada@example.com", "arkor whoami (https)")
        commands = [bare, script, whoami]
        gh = shutil.which("gh")
        if gh is None:
            print("  skipped gh: not installed")
        else:
            commands.append(gh_command(gh, setup.root, f"127.0.0.1:{cloud.port}", env, "gh auth status (https)"))
        measure(launcher, commands, runs, setup.cwd)
    report.row(bare, bare)
    for command in commands[1:]:
        report.row(command, bare, memory=True)
    print(f"    arkor whoami / urllib script: {whoami.median / script.median:.3f}")
    if len(commands) > 3:
        print(f"    gh auth status / arkor whoami: {commands[3].median / whoami.median:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=30, help=f"timed runs per command (at least {MIN_RUNS}; default 30)"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip gh, hf and the Node script")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    runs = args.runs

    sys.path.insert(0, HERE)
    from fake_cloud import FakeCloudApi

    root = tempfile.mkdtemp(prefix="arkor-bench-")
    try:
        with FakeCloudApi() as cloud:
            cloud.add_token(TOKEN, user=USER, orgs=ORGS)
            script_peers_on(cloud)
            setup = Setup(root, cloud.url)
            header(setup.python)
            launcher = Launcher(setup.python, setup.cwd)
            try:
                _, launcher_rss, _ = launcher.run(["/bin/true"], {})
                print(f"  runs:    {runs} timed per command, after {WARMUPS} warm-ups, in rotating turns")
                print(f"  memory:  peak RSS from wait4; the launcher's floor is {launcher_rss / 1024:.1f} MiB")
                report = Report()
                for row in (row_start_up, row_whoami, row_login, row_direct, row_https):
                    row(launcher, setup, report, runs)
                if args.no_peers:
                    print("\npeers: skipped (--no-peers)")
                else:
                    row_peers(launcher, setup, report, runs)
                ok = report.summary()
            finally:
                launcher.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
