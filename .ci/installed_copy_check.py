"""Check an installed `arkor` command against the fake cloud-api.

    python3 .ci/installed_copy_check.py ARKOR_COMMAND EXPECTED_UPGRADE_COMMAND

Asks the installed command its version, signs in anonymously with it, reads the identity back,
and then has the fake answer 426, to see that the upgrade hint names the way
this copy was installed (pipx, or pip in a venv). Exits 1 with what differed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fake_cloud import Answer, FakeCloudApi  # after the path is set


def main() -> int:
    arkor, expected_upgrade = sys.argv[1], sys.argv[2]
    problems = []
    with FakeCloudApi() as cloud, tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "USERPROFILE": home, "ARKOR_CLOUD_API_URL": cloud.url}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            # Run from the home folder, so that the installed copy is imported, not the checkout.
            return subprocess.run(
                [arkor, *args], capture_output=True, text=True, env=env, cwd=home, timeout=60, check=False
            )

        version = run("--version")
        import arkor_cli  # the checkout's, for the version it must report

        if (version.returncode, version.stdout) != (0, f"arkor {arkor_cli.__version__}\n"):
            problems.append(f"--version: {version.returncode} {version.stdout!r} {version.stderr!r}")
        login = run("login", "--anonymous")
        if login.returncode != 0 or "Signed in anonymously (personal org: anon-org-0001)." not in login.stdout:
            problems.append(f"login --anonymous: {login.returncode} {login.stdout!r} {login.stderr!r}")
        whoami = run("whoami")
        if whoami.returncode != 0 or not whoami.stdout.endswith("Orgs: anon-org-0001\n"):
            problems.append(f"whoami: {whoami.returncode} {whoami.stdout!r} {whoami.stderr!r}")
        cloud.script("GET", "/v1/me", Answer(426, body=b""))
        gate = run("whoami")
        want = f"Arkor SDK is no longer supported by the cloud API. Run `{expected_upgrade}`.\n"
        if (gate.returncode, gate.stderr) != (1, want):
            problems.append(f"426 hint: {gate.returncode} {gate.stderr!r}, expected {want!r}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
