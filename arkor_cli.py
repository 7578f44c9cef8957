"""arkor: sign in to Arkor Cloud, sign out, and say who you are.

A single-file, standard-library-only port of the ``arkor login``,
``arkor logout`` and ``arkor whoami`` commands, for hosts where Node is not
welcome: locked-down machines, air-gapped boxes, CI runners.

Run it as any of::

    arkor whoami                      # installed with pipx or pip
    python3 -m arkor_cli whoami       # importable module
    python3 arkor_cli.py whoami       # the one copied file

Credentials live in ``~/.arkor/credentials.json`` (mode 0600), shared with
the Node CLI. Licensed under the MIT licence.
"""

from __future__ import annotations

import os
import sys

# json, like every module a command needs, is imported where it is used: it
# brings in re, which `arkor --help`, `arkor logout` with no file and a
# signed-out `arkor whoami` have no use for (a fifth of their start-up).

# typing.TYPE_CHECKING without importing typing, which costs 3 ms at every
# start; type checkers give a module-level TYPE_CHECKING the same meaning.
TYPE_CHECKING = False

__all__ = [
    "ArkorError",
    "__version__",
    "cloud_api_url",
    "credentials_path",
    "get_token",
    "main",
    "read_credentials",
]

if TYPE_CHECKING:  # typing costs start-up time; the checker alone needs it
    from collections.abc import Mapping
    from http.client import HTTPMessage
    from typing import IO, Any, Callable, Literal, TypedDict, Union

    class AnonCredentials(TypedDict):
        mode: Literal["anon"]
        token: str
        anonymousId: str
        arkorCloudApiUrl: str
        orgSlug: str

    class Auth0Credentials(TypedDict):
        mode: Literal["auth0"]  # read also as "oauth"
        accessToken: str
        refreshToken: str
        expiresAt: float
        auth0Domain: str
        audience: str
        clientId: str
        arkorCloudApiUrl: str

    Credentials = Union[AnonCredentials, Auth0Credentials]

    class CliConfig(TypedDict):
        auth0Domain: str
        clientId: str
        audience: str
        callbackPorts: list[int]


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

__version__ = "0.1.0"

_PROG = "arkor"
_DISTRIBUTION = "arkor-cli"
_DEFAULT_API_URL = "https://api.arkor.ai"
_CREDENTIALS_DIR = ".arkor"
_CREDENTIALS_NAME = "credentials.json"

# Every request has a timeout: a silent server must not hang a CI job forever.
_DEFAULT_TIMEOUT = 30.0
# Nothing we ask for is anywhere near this big; a larger answer is a broken or
# hostile server, and reading it whole would only cost memory.
_MAX_BODY = 1024 * 1024
# How much of an unexpected body an error message quotes.
_SNIPPET = 200
# A week: beyond it, a "timeout" is a typo (and the socket layer overflows).
_MAX_TIMEOUT = 7 * 24 * 3600.0
# Without a bound, a login whose browser never calls back waits forever.
_DEFAULT_LOGIN_TIMEOUT = 600.0
# Renew an access token this close to its expiry rather than send it to die.
_REFRESH_MARGIN = 60
# Revoking on logout is a courtesy to the server: never make the user wait long.
_REVOKE_TIMEOUT = 5.0

_EXIT_OK = 0
_EXIT_FAILURE = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130

# The words a user sees. Scripts and the documentation match on them, so
# each is written once, here, and the tests compare against these exact texts.
_MSG_BOTH_MODES = "Pick one of --oauth / --anonymous, not both."
_MSG_OAUTH_IN_CI = "--oauth needs a browser callback that CI runners can't complete. Use --anonymous in CI."
_MSG_OAUTH_NOT_CONFIGURED = "OAuth is not configured for this deployment. Re-run without --oauth or pass --anonymous."
_MSG_CONTINUING_ANON = "OAuth is not configured. Continuing with an anonymous session."
_MSG_ANON_ID = "Anonymous id: {anonymous_id}"
_MSG_ANON_KEEP = (
    "This id is how Arkor Cloud recognises this client across sessions."
    " Keep `{path}` to stay signed in as the same anonymous identity."
)
_MSG_ANON_DONE = "Signed in anonymously (personal org: {org_slug})."
_MSG_ANON_NUDGE = (
    "Anonymous sessions aren't guaranteed to persist \u2014 sign in with"
    " `arkor login --oauth` to tie future work to your Arkor Cloud account."
)
_PICKER_QUESTION = "How would you like to sign in?"
_PICKER_CHOICES = (
    ("oauth", "OAuth (browser)", "Sign in to your account"),
    ("anonymous", "Anonymous", "Throwaway token, no account"),
)
_PICKER_DEFAULT = "anonymous"
_MSG_NO_CREDENTIALS = "No credentials on file."
_MSG_CONFIRM_DELETE = "Delete {path}? [y/N] "
_MSG_ANON_LOSS = "The anonymous identity {anonymous_id} cannot be restored once deleted."
_MSG_NO_TTY_TO_CONFIRM = "No terminal to confirm on; pass --yes to delete without asking."
_MSG_ABORTED = "Aborted."
_MSG_REMOVED = "Removed {path}."
_MSG_NOT_SIGNED_IN = "Not signed in. Run `arkor login` or `arkor login --anonymous`."
_MSG_ME_FAILED = "Failed to fetch /v1/me ({status}). Token may be expired."
_MSG_ORGS = "Orgs: {orgs}"
_MSG_UNSUPPORTED = "Arkor SDK {current} is no longer supported by the cloud API (supported: {supported}). {fix}"
_MSG_UNSUPPORTED_BARE = "Arkor SDK is no longer supported by the cloud API. {fix}"
_MSG_DEPRECATED = "Arkor SDK {version} is deprecated"
_MSG_DEPRECATION = "{message} (current: {version}).{cutoff} {fix}"
_MSG_UNREACHABLE = "Could not reach {url}: {reason}"
_MSG_INTERRUPTED = "Interrupted."
_MSG_BIND_FAILED = (
    "Unable to bind any of the loopback ports {ports}."
    " The Auth0 Application must list at least one of these as an Allowed Callback URL: {error}"
)
_MSG_STATE_MISMATCH = "State mismatch \u2014 aborting to prevent CSRF"
_MSG_EXCHANGE_FAILED = "Auth0 token exchange failed ({status}): {body}"
_MSG_NO_REFRESH_TOKEN = (
    "Auth0 did not return a refresh token. Make sure the Application has 'offline_access' scope enabled."
)
_MSG_SIGNED_IN = "Signed in"
_MSG_LOGIN_FAILED = "Login failed"
_MSG_TIMED_OUT = "Timed out waiting for the browser callback after {seconds} s."
_MSG_PASTE = "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:"
_MSG_SIGN_IN_AGAIN = "The session could not be renewed ({reason}). Sign in again with `arkor login --oauth`."
_MSG_REFRESH_UNREACHABLE = "Could not renew the access token ({reason}); trying the stored one."
_MSG_ANON_401 = (
    "Anonymous tokens are bound to the device that minted them. `arkor login --anonymous`"
    " mints a new anonymous identity (a new workspace)."
)
_MSG_REVOKE_FAILED = "Could not revoke the refresh token ({reason}); it stays valid until it expires."
_MSG_LOCK_TIMEOUT = "Another arkor process holds {path}; try again in a moment."
_MSG_NOT_STORED = "The renewed token serves this command only."


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ArkorError(Exception):
    """A failure the user should read: one line of text and an exit status.

    The logic raises it; ``main`` is the one place that prints it.
    """

    def __init__(self, message: str, status: int = _EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# ---------------------------------------------------------------------------
# Terminal output
# ---------------------------------------------------------------------------


class _Terminal:
    """Where every line goes: results on stdout, warnings and errors on stderr.

    Every line is flushed as it is written, so that a caller reading a pipe
    sees it at once (Python block-buffers a stdout that is not a TTY).
    """

    _RED, _YELLOW, _GREEN = "31", "33", "32"

    def __init__(self, stdin: IO[str], stdout: IO[str], stderr: IO[str], env: Mapping[str, str]) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        # The legacy Windows console prints escape codes as text; Windows
        # Terminal (WT_SESSION) and terminals that set TERM render them.
        self._colour = "NO_COLOR" not in env and (os.name != "nt" or "WT_SESSION" in env or "TERM" in env)

    def _emit(self, stream: IO[str], text: str, colour: str | None = None) -> None:
        text = _printable(text)  # before the colour: ours are the only escapes let through
        if colour and self._colour and _isatty(stream):
            text = f"\x1b[{colour}m{text}\x1b[0m"
        stream.write(text + "\n")
        stream.flush()

    def info(self, text: str) -> None:
        self._emit(self.stdout, text)

    def success(self, text: str) -> None:
        self._emit(self.stdout, text, self._GREEN)

    def warn(self, text: str) -> None:
        self._emit(self.stderr, text, self._YELLOW)

    def error(self, text: str) -> None:
        self._emit(self.stderr, text, self._RED)

    def interactive(self) -> bool:
        """Whether a person can answer a question: stdin and stdout are TTYs."""
        return _isatty(self.stdin) and _isatty(self.stdout)

    def ask(self, prompt: str) -> str | None:
        """Show ``prompt`` and read one line; None at end of input. The
        question goes where a person sees it: stdout, or stderr when stdout
        is redirected (``arkor logout > log``)."""
        stream = self.stdout if _isatty(self.stdout) else self.stderr
        stream.write(_printable(prompt))
        stream.flush()
        line = self.stdin.readline()
        return line.strip() if line else None


def _printable(text: str) -> str:
    """``text`` with every control or format character escaped as ``\\uXXXX``.

    Much of what is printed comes from servers and from the callback request
    (ids, org slugs, error bodies, Warning headers, error_description). Raw,
    an escape sequence in it could rewrite the terminal, its title or the
    clipboard, and a right-to-left override could make one name read as
    another. The escape form is also valid inside a JSON string, so
    ``whoami --json`` stays parseable. Newlines between lines are kept.
    """
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char == "\n" or char.isprintable():
            out.append(char)
        else:
            code = ord(char)
            if code > 0xFFFF:  # as JSON writes it: a surrogate pair
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
    return "".join(out)


def _one_line(text: str) -> str:
    """A value from outside, as one line: runs of whitespace, line breaks
    included, become one space."""
    return " ".join(text.split())


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


# ---------------------------------------------------------------------------
# The credentials file
# ---------------------------------------------------------------------------


def credentials_path() -> str:
    """``~/.arkor/credentials.json``: HOME on POSIX, USERPROFILE on Windows."""
    home = os.path.expanduser("~")
    if home == "~" or not home:
        raise ArkorError("Cannot find your home directory: set HOME (USERPROFILE on Windows).")
    return os.path.join(home, _CREDENTIALS_DIR, _CREDENTIALS_NAME)


# Tokens travel in an HTTP header; anything but visible ASCII in one would be
# refused there with an error that quotes the header, token and all.
_TOKEN_FIELDS = frozenset({"token", "accessToken", "refreshToken", "access_token", "refresh_token"})


def _is_token(value: object) -> bool:
    return isinstance(value, str) and value.isascii() and value.isprintable() and " " not in value and bool(value)


_REQUIRED_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "anon": {"token": str, "anonymousId": str, "arkorCloudApiUrl": str, "orgSlug": str},
    "auth0": {
        "accessToken": str,
        "refreshToken": str,
        "expiresAt": (int, float),
        "auth0Domain": str,
        "audience": str,
        "clientId": str,
        "arkorCloudApiUrl": str,
    },
}
# Newer Node releases of arkor write "oauth" for what this file calls "auth0";
# both are read so that either CLI can use a file written by the other.
_MODE_ALIASES = {"anon": "anon", "auth0": "auth0", "oauth": "auth0"}


def _loads(text: str) -> Any:
    """``json.loads`` for text from outside: every way it can fail is a
    ValueError, including nesting deep enough to exhaust the stack, and the
    NaN and Infinity that Python accepts but JSON (and Node) do not."""

    import json

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _parse_credentials(text: str, path: str) -> Credentials:
    """Check that ``text`` holds credentials; say what is wrong if it does not."""

    def invalid(what: str) -> ArkorError:
        return ArkorError(
            f"{path} does not hold valid arkor credentials ({what}). Fix it, or sign in again with `arkor login`."
        )

    import json

    try:
        data = _loads(text)
    except ValueError as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise invalid(f"not JSON: {reason}") from None
    if not isinstance(data, dict):
        raise invalid("not a JSON object")
    mode = data.get("mode")
    kind = _MODE_ALIASES.get(mode) if isinstance(mode, str) else None
    if kind is None:
        raise invalid(f"unknown mode {mode!r}" if "mode" in data else "no mode")
    for field, types in _REQUIRED_FIELDS[kind].items():
        value = data.get(field)
        if field not in data:
            raise invalid(f"missing {field}")
        # bool is an int to Python, but never a valid timestamp or string;
        # 1e999 reads as infinity, and an infinite expiry would never renew.
        if isinstance(value, bool) or not isinstance(value, types):
            raise invalid(f"{field} has the wrong type")
        if isinstance(value, (int, float)) and not -1e12 < value < 1e12:
            raise invalid(f"{field} is out of range")
        if field in _TOKEN_FIELDS and not _is_token(value):
            raise invalid(f"{field} is not a token")
    data["mode"] = kind
    return data  # type: ignore[return-value]


def _read_credentials(path: str) -> Credentials | None:
    """The stored credentials, or None when there is no file.

    A file that is there but cannot be read or understood is an error that
    names it; it is never overwritten or removed here.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_BODY + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArkorError(f"Cannot read {path}: {_os_reason(exc)}.") from None
    if len(raw) > _MAX_BODY:
        raise ArkorError(f"{path} does not hold valid arkor credentials (larger than 1 MiB).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ArkorError(f"{path} does not hold valid arkor credentials (not UTF-8 text).") from None
    return _parse_credentials(text, path)


def _write_credentials(path: str, data: Credentials, term: _Terminal) -> None:
    """Replace the file at ``path`` with ``data``, atomically and privately.

    A reader sees the old file or the whole new one, never a torn one: the
    JSON goes to a temporary file in the same directory, which is flushed to
    disk and then renamed over the target in one step.
    """
    import json

    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ArkorError(f"Could not create {directory}: {_os_reason(exc)}.") from None
    payload = (json.dumps(data, indent=2) + "\n").encode("utf-8")
    tmp = os.path.join(directory, f".{_CREDENTIALS_NAME}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    # O_EXCL: the name is created here or not at all, so a link planted at it
    # is never followed. Mode 0600 from the first instant: there is no moment
    # in which another user could open the file. O_NOFOLLOW adds a second lock
    # on the same door where the platform has it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ArkorError(f"Could not write {path}: {_os_reason(exc)}.") from None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            _make_private(tmp, term)
            _replace(tmp, path)
        except BaseException:
            # Whatever went wrong (a full disk, Ctrl-C), leave no stray file
            # behind and the old credentials as they were.
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
    except OSError as exc:
        raise ArkorError(f"Could not write {path}: {_os_reason(exc)}.") from None
    _fsync_directory(directory)


def _make_private(path: str, term: _Terminal) -> None:
    """Make the file exactly 0600; a refusal is only a warning.

    The file was created 0600 (the umask can only take bits away), but some
    filesystems ignore the creation mode; some network mounts reject chmod
    too, and failing the login over it would help nobody.
    """
    if os.name != "posix":  # Windows: the profile directory's ACL protects it
        return
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        term.warn(f"Could not restrict the permissions of {path}: {_os_reason(exc)}.")


def _replace(src: str, dst: str) -> None:
    """``os.replace``, retried briefly where Windows reports the target busy.

    On Windows a file that another process holds open (a virus scanner, an
    editor, another arkor reading it) cannot be replaced for a moment.
    """
    attempts = 10 if os.name == "nt" else 1
    for attempt in range(attempts):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == attempts - 1:
                raise
            import time

            time.sleep(0.05 * (attempt + 1))


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); best effort."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _os_reason(exc: OSError) -> str:
    """The human part of an OSError, without the path we name ourselves."""
    return exc.strerror or str(exc)


class _CredentialsLock:
    """An inter-process lock beside the credentials file, held by everything
    that changes the file.

    Refreshing reads the refresh token, spends it, and writes its successor:
    two processes doing that at once would spend the same token twice, and
    with rotation the second write could keep a token the server has already
    replaced; a login or logout in the middle of it would be overwritten by
    its write. The lock makes each change one step. The lock file itself is
    never removed (removing it would let two holders in at once). Where it
    cannot even be created (a read-only directory), the change goes ahead
    unlocked, and the write itself says what is wrong.
    """

    def __init__(self, path: str, env: Mapping[str, str]) -> None:
        self.path = path + ".lock"
        # Long enough for a holder's request to time out in each of its phases.
        self.timeout = 3 * _http_timeout(env) + 2
        self._fd = -1

    def __enter__(self) -> _CredentialsLock:  # noqa: PYI034 - private, never subclassed
        import time

        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self._fd = os.open(self.path, flags, 0o600)
        except OSError:
            return self
        deadline = time.monotonic() + self.timeout
        while not _try_lock(self._fd):
            if time.monotonic() >= deadline:
                os.close(self._fd)
                self._fd = -1
                raise _LockTimeout(_MSG_LOCK_TIMEOUT.format(path=self.path))
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd >= 0:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = -1


class _LockTimeout(ArkorError):
    """Another process held the lock for longer than any request can take."""


def _store(path: str, data: Credentials, ctx: _Context) -> None:
    """Write the credentials as a login does: under the lock, atomically."""
    with _CredentialsLock(path, ctx.env):
        _write_credentials(path, data, ctx.term)


if sys.platform == "win32":

    def _try_lock(fd: int) -> bool:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the file
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:

    def _try_lock(fd: int) -> bool:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class _Reply:
    """One HTTP answer, read whole (up to the size cap)."""

    def __init__(self, method: str, url: str, status: int, headers: HTTPMessage, body: bytes) -> None:
        self.method, self.url, self.status, self.headers, self.body = method, url, status, headers, body

    def json(self, endpoint: str, quote: bool = True) -> Any:
        """The body as JSON, or a clear error naming the endpoint and status
        (quoting the body unless ``quote`` is false: a token endpoint's
        answer may hold tokens even when it is not valid JSON)."""
        try:
            return _loads(self.body.decode("utf-8-sig"))
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both
            what = f": {_snippet(self.body)}" if quote else "."
            raise ArkorError(
                f"Unexpected answer from {self.method} {endpoint} ({self.status}): not JSON{what}"
            ) from None

    def json_or_none(self) -> Any:
        """The body as JSON, or None: for bodies that only may say more."""
        try:
            return _loads(self.body.decode("utf-8-sig"))
        except ValueError:
            return None


def _snippet(body: bytes) -> str:
    """A short, one-line, printable excerpt of a body for an error message."""
    text = body.decode("utf-8", "replace")
    text = " ".join(text.split())
    if not text:
        return "(empty body)"
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "\u2026"


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: what must match for a token to go along.
    Raises ValueError for a URL that has no clear origin."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def _check_base_url(url: str, source: str) -> None:
    """Refuse a base URL urllib would choke on, naming where it came from."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ArkorError(f"{source} is not an http(s) URL: {url!r}.")


def _http_timeout(env: Mapping[str, str]) -> float:
    raw = env.get("ARKOR_HTTP_TIMEOUT")
    if raw is None or raw.strip() == "":
        return _DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= _MAX_TIMEOUT:
        raise ArkorError(f"ARKOR_HTTP_TIMEOUT must be a positive number of seconds, not {raw!r}.")
    return value


def _is_hashed_ca_name(name: str) -> bool:
    """``5dfd3959.0``: a certificate filed under its OpenSSL subject hash."""
    stem, dot, serial = name.partition(".")
    return len(stem) == 8 and dot == "." and serial.isdigit() and all(c in "0123456789abcdef" for c in stem)


def _hashed_ca_dir() -> str | None:
    """The directory of the default trust that OpenSSL reads one certificate
    at a time, when it may be tried alone first; else None.

    OpenSSL's default trust is a bundle file and a directory of certificates
    filed by subject hash. Loading the bundle parses every certificate in it
    (Debian's 140-odd take 20 ms with OpenSSL 3.0, at every start), while the
    directory is read for the one issuer a server's chain names. Where the
    directory is filled (Debian, Ubuntu, Alpine), the same authorities are in
    both. Not tried where the bundle was chosen by hand (SSL_CERT_FILE: a
    company CA is likely only there), nor on Windows, whose default trust is
    the system store. It reads the process's own environment, as OpenSSL does.
    """
    import ssl

    # A program that set urllib's documented hook (PEP 476) chose its own trust.
    chosen = ssl._create_default_https_context is not ssl.create_default_context
    if os.name == "nt" or os.environ.get("SSL_CERT_FILE") or chosen:
        return None
    directory = ssl.get_default_verify_paths().capath  # None unless it is a directory
    if directory:
        try:
            with os.scandir(directory) as entries:
                if any(_is_hashed_ca_name(entry.name) for entry in entries):
                    return directory
        except OSError:
            pass
    return None


def _opener(first_trust: Any = None, trust: Any = None) -> Any:
    """A urllib opener whose redirects never carry a token to another origin.

    urllib copies every header onto the redirected request, Authorization
    included, whatever host the Location names. A bearer token must only ever
    reach the origin it was issued for.

    HTTPS connections are verified first with ``first_trust``, when given, and
    if that cannot verify the server's certificate, on a new connection with
    ``trust`` (None: the default context http.client makes). The request is
    sent only after the handshake, so it is never sent twice; what comes
    before the handshake is: the TCP connection, and through a proxy its
    CONNECT (with any Proxy-Authorization).
    """
    import http.client
    import ssl
    import urllib.error
    import urllib.request

    class _TrustInTurn(urllib.request.HTTPSHandler):
        def https_open(self, req):  # type: ignore[no-untyped-def]
            try:
                return self.do_open(http.client.HTTPSConnection, req, context=first_trust)
            except urllib.error.URLError as exc:
                if not isinstance(exc.reason, ssl.SSLCertVerificationError):
                    raise
            return self.do_open(http.client.HTTPSConnection, req, context=trust)

    class _SameOriginAuthRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            try:
                target = _origin(newurl)
            except ValueError:  # a Location urllib could not follow anyway
                return None
            if target[0] not in ("http", "https"):
                return None  # urllib would follow to ftp: or file:; the 3xx is the answer
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None:
                if _origin(req.full_url) != target:
                    new.remove_header("Authorization")
                # urllib reads the whole body of a redirect before following
                # it, without a cap or a deadline: closed now, nothing is read.
                fp.close()
            return new

    if first_trust is None:
        return urllib.request.build_opener(_SameOriginAuthRedirect)
    # An instance given its context: from 3.12 the handler's constructor
    # would otherwise load the whole default trust at once.
    return urllib.request.build_opener(_SameOriginAuthRedirect, _TrustInTurn(context=first_trust))


def _directory_trust(directory: str) -> Any:
    """The HTTPS context http.client makes by default, but trusting the
    certificates in ``directory`` alone."""
    import ssl

    context = ssl.create_default_context(capath=directory)
    # What http.client adds to its own default context.
    if sys.version_info >= (3, 10):
        context.set_alpn_protocols(["http/1.1"])
    if context.post_handshake_auth is not None:
        context.post_handshake_auth = True
    return context


def _http(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
) -> _Reply:
    """Send one request and read its answer; every request goes through here.

    Any status comes back as a reply; only a failure to talk to the server
    at all (DNS, refused, TLS, timeout, a connection cut mid-answer) raises,
    as ``Could not reach <url>: <reason>``.
    """
    import http.client
    import urllib.error
    import urllib.request

    for name, value in headers.items():
        if not (value.isascii() and value.isprintable()):
            raise ArkorError(f"The {name} header for {url} holds characters HTTP cannot carry.")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
    try:
        try:
            directory = _hashed_ca_dir() if request.type == "https" else None
            first_trust = _directory_trust(directory) if directory else None
            response = _opener(first_trust).open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:  # a status >= 400 is an answer too
            response = exc
        with response:
            raw = _read_body(response, timeout)
            status = response.getcode()
            reply_headers = response.headers
            # A sized read returns short, without an error, when the server
            # hangs up early; only the promised length tells a cut answer.
            declared = reply_headers.get("Content-Length", "")
            if declared.isascii() and declared.isdigit() and len(raw) < min(int(declared[:18]), _MAX_BODY + 1):
                raise http.client.IncompleteRead(raw, int(declared) - len(raw))
    except urllib.error.URLError as exc:
        reason = _net_reason(exc.reason) + _proxy_hint(url)
        raise ArkorError(_MSG_UNREACHABLE.format(url=url, reason=reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = _net_reason(exc) + _proxy_hint(url)
        raise ArkorError(_MSG_UNREACHABLE.format(url=url, reason=reason)) from None
    except (ValueError, OverflowError) as exc:
        # urllib's own parsing of a malformed answer (a bad Location, an
        # absurd Content-Length). Our request was checked before it was sent
        # (see above), so the text is about the answer and holds no token.
        raise ArkorError(f"Unexpected answer from {method} {url}: {_printable(str(exc))[:_SNIPPET]}") from None
    if len(raw) > _MAX_BODY:
        raise ArkorError(f"The answer from {method} {url} ({status}) is larger than 1 MiB; refusing to read it.")
    return _Reply(method, url, status, reply_headers, raw)


def _read_body(response: Any, timeout: float) -> bytes:
    """Read at most the cap plus one byte, within ``timeout`` seconds in all.

    The socket timeout bounds each wait for data, not the whole: a server
    that trickles a byte a second would otherwise hold the command forever.
    read1 returns what has arrived instead of waiting for a full buffer.
    """
    import time

    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while size <= _MAX_BODY:
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        chunk = response.read1(_MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _proxy_hint(url: str) -> str:
    """Where urllib sent the request through a proxy, say so: the proxy, not
    the server, is then the likely culprit."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return ""
    try:
        shown = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    except ValueError:
        return f" (through the proxy in {parts.scheme.upper()}_PROXY, which is not a URL)"
    shown = shown._replace(netloc=shown.netloc.rpartition("@")[2])  # never print proxy credentials
    variable = f"{parts.scheme.upper()}_PROXY"
    return f" (through the proxy {shown.geturl()} from {variable}; set NO_PROXY={parts.hostname} to go direct)"


def _net_reason(reason: object) -> str:
    """Why a connection failed, in words, with what to do where we know it."""
    import http.client
    import socket
    import ssl

    if isinstance(reason, ssl.SSLCertVerificationError):
        text = f"TLS certificate not trusted ({str(reason.verify_message or reason.reason).rstrip('.')})."
        if reason.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return text + " Check this machine's clock, then the server's certificate."
        if reason.verify_code in (62, 64):  # host name or IP address mismatch
            return text + " The certificate is for another host: check the URL."
        hint = " If your network uses its own certificate authority, point SSL_CERT_FILE at its bundle."
        if sys.platform == "darwin":
            hint += " With a python.org build of Python, run its 'Install Certificates' command once."
        return text + hint
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason.reason or reason})"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason})"
    if isinstance(reason, http.client.IncompleteRead):
        return "the connection closed before the whole answer arrived"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


# ---------------------------------------------------------------------------
# The cloud-api: base URL, version gate, deprecation notices
# ---------------------------------------------------------------------------


def _upgrade_fix(module_file: str | None = None, prefix: str | None = None, executable: str | None = None) -> str:
    """The sentence that tells how to upgrade this copy of arkor.

    It follows how this file was installed: a pipx venv carries
    ``pipx_metadata.json`` and a uv tool venv ``uv-receipt.toml`` at its
    root; any other site-packages is pip's; anything else is a copied file.
    """
    module_file = os.path.abspath(module_file or __file__)
    prefix = prefix if prefix is not None else sys.prefix
    executable = executable if executable is not None else sys.executable
    parts = module_file.replace("\\", "/").split("/")
    if "site-packages" in parts or "dist-packages" in parts:
        if os.path.isfile(os.path.join(prefix, "pipx_metadata.json")):
            command = f"pipx upgrade {_DISTRIBUTION}"
        elif os.path.isfile(os.path.join(prefix, "uv-receipt.toml")):
            command = f"uv tool upgrade {_DISTRIBUTION}"
        else:
            python = f'"{executable}"' if " " in executable else executable
            command = f"{python} -m pip install --upgrade {_DISTRIBUTION}"
        return f"Run `{command}`."
    return f"Replace {module_file} with the latest arkor_cli.py."


def _unsupported_message(reply: _Reply) -> str:
    """The 426 message: precise with the gate's JSON body, generic without."""
    fix = _upgrade_fix()
    body = reply.json_or_none()
    if isinstance(body, dict) and body.get("error") == "sdk_version_unsupported":
        current, supported = body.get("currentVersion"), body.get("supportedRange")
        if isinstance(current, (str, int, float)) and isinstance(supported, (str, int, float)):
            return _MSG_UNSUPPORTED.format(current=current, supported=supported, fix=fix)
    return _MSG_UNSUPPORTED_BARE.format(fix=fix)


def _deprecation_message(headers: HTTPMessage) -> str:
    """The end-of-command warning for a ``Deprecation: true`` answer."""
    import re

    warning = headers.get("Warning")
    message = _MSG_DEPRECATED.format(version=__version__)
    if warning:
        # RFC 7234 warn-value: 299 <agent> "<text>" [<date>]
        match = re.match(r'\s*299\s+\S+\s+"((?:[^"\\]|\\.)*)"', warning)
        message = re.sub(r"\\(.)", r"\1", match.group(1)) if match else warning.strip()
    sunset = headers.get("Sunset")
    cutoff = f" Cutoff: {sunset.strip()}." if sunset and sunset.strip() else ""
    return _MSG_DEPRECATION.format(message=message, version=__version__, cutoff=cutoff, fix=_upgrade_fix())


class _Context:
    """What one run of a command shares: the terminal, the environment, and
    the latest deprecation notice, which ``main`` prints when the command ends."""

    def __init__(self, term: _Terminal, env: Mapping[str, str]) -> None:
        self.term, self.env = term, env
        self.deprecation: str | None = None

    @classmethod
    def of_process(cls) -> _Context:
        """This process's own streams and environment."""
        return cls(_Terminal(sys.stdin, sys.stdout, sys.stderr, os.environ), os.environ)


class _CloudApi:
    """The Arkor cloud-api at one base URL.

    Every answer passes the version gate here: a 426 stops the command, and
    a ``Deprecation`` header is recorded (the latest wins) in the context.
    """

    def __init__(self, base: str, source: str, ctx: _Context) -> None:
        self.base, self.source, self.ctx = base, source, ctx

    def request(self, method: str, path: str, *, token: str | None = None, json_body: Any = None) -> _Reply:
        _check_base_url(self.base, self.source)
        headers = {"Accept": "application/json", "X-Arkor-Client": f"{_PROG}/{__version__}"}
        body = None
        if json_body is not None:
            import json

            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        reply = _http(method, self.base + path, headers=headers, body=body, timeout=_http_timeout(self.ctx.env))
        if (reply.headers.get("Deprecation") or "").strip().lower() == "true":
            self.ctx.deprecation = _deprecation_message(reply.headers)
        if reply.status == 426:
            raise ArkorError(_unsupported_message(reply))
        return reply


def _cloud_api(ctx: _Context, stored: Credentials | None = None, path: str = "") -> _CloudApi:
    """The cloud-api to talk to: ARKOR_CLOUD_API_URL, then the stored one, then the default."""
    env = ctx.env
    if "ARKOR_CLOUD_API_URL" in env:  # set-but-empty is honoured, and fails loudly
        return _CloudApi(env["ARKOR_CLOUD_API_URL"].rstrip("/"), "ARKOR_CLOUD_API_URL", ctx)
    if stored is not None and stored["arkorCloudApiUrl"]:
        return _CloudApi(stored["arkorCloudApiUrl"].rstrip("/"), f"arkorCloudApiUrl in {path}", ctx)
    return _CloudApi(_DEFAULT_API_URL, "The default cloud-api URL", ctx)


def _object(value: Any, method: str, endpoint: str, status: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ArkorError(f"Unexpected answer from {method} {endpoint} ({status}): not a JSON object.")
    return value


def _string_field(obj: Mapping[str, Any], field: str, method: str, endpoint: str, status: int) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value or (field in _TOKEN_FIELDS and not _is_token(value)):
        raise ArkorError(f"Unexpected answer from {method} {endpoint} ({status}): no {field}.")
    return value


def _failed(method: str, endpoint: str, reply: _Reply) -> ArkorError:
    return ArkorError(f"{method} {endpoint} failed ({reply.status}): {_snippet(reply.body)}")


# ---------------------------------------------------------------------------
# OAuth 2.0 Authorization Code + PKCE, and the loopback listener
# ---------------------------------------------------------------------------

_OAUTH_SCOPE = "openid profile email offline_access"
_CALLBACK_PATH = "/callback"
# Browsers open idle "pre-connections" to a host they expect to use; each
# connection gets this long to send its request before it is dropped.
_CONNECTION_TIMEOUT = 10.0
# Text-mode browsers would take over the terminal the CLI is waiting in.
_TEXT_BROWSERS = frozenset({"lynx", "links", "links2", "elinks", "w3m", "www-browser"})
_SIGNED_IN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in to Arkor</title></head>
<body style="font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 32rem; text-align: center">
<h1>Signed in to Arkor</h1><p>The sign-in worked. You can close this tab and return to the terminal.</p>
</body></html>
"""


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _pkce() -> tuple[str, str, str]:
    """A PKCE verifier, its S256 challenge, and a state (RFC 7636, RFC 6749 §10.12)."""
    import hashlib
    import secrets

    verifier = _b64url(secrets.token_bytes(32))
    challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
    state = _b64url(secrets.token_bytes(16))
    return verifier, challenge, state


def _auth0_host(domain: str, source: str = "The cloud-api's auth0Domain") -> str:
    """The Auth0 domain as a bare ``host[:port]``, as the URLs need it."""
    from urllib.parse import urlsplit

    host = domain.strip()
    if host.lower().startswith("https://"):
        host = host[len("https://") :]
    host = host.rstrip("/")
    try:
        valid = bool(host) and not any(c in host for c in "/?#@ \\") and urlsplit("//" + host).port != 0
    except ValueError:  # a port that is not a number, or out of range
        valid = False
    if not valid:
        raise ArkorError(f"{source} is not a host name: {domain!r}.")
    return host


def _authorize_url(host: str, config: CliConfig, redirect_uri: str, state: str, challenge: str) -> str:
    from urllib.parse import urlencode

    query = urlencode(
        {
            "response_type": "code",
            "client_id": config["clientId"],
            "redirect_uri": redirect_uri,
            "scope": _OAUTH_SCOPE,
            "audience": config["audience"],
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"https://{host}/authorize?{query}"


class _Callback:
    """The one answer the login waits for: a code, or why there is none.

    The first callback decides; anything after it is ignored, so a second
    tab or a replayed request cannot change the outcome.
    """

    def __init__(self, state: str) -> None:
        import threading

        self._state = state
        self._lock = threading.Lock()
        self._decided = False
        self.done = threading.Event()  # set once the browser has its answer
        self.code: str | None = None
        self.failure: str | None = None

    def decide(self, params: Mapping[str, list[str]]) -> tuple[int, str] | None:
        """Check callback parameters; return the HTTP status and text for the
        browser, or None when the login was already decided."""
        import hmac

        with self._lock:
            if self._decided:
                return None
            self._decided = True
        error = (params.get("error") or [""])[0]
        code = (params.get("code") or [""])[0]
        state = (params.get("state") or [""])[0]
        if error:
            # One line, whatever the request held: it must not forge lines
            # of its own in the terminal.
            error = _one_line(error)
            description = _one_line((params.get("error_description") or [""])[0])
            self.failure = f"Authentication failed: {error}" + (f". {description}" if description else "")
            return 400, self.failure
        if not code or not state:
            self.failure = "Missing code/state in callback"
            return 400, "Missing code/state"
        if not hmac.compare_digest(state.encode("utf-8", "surrogatepass"), self._state.encode()):
            # A state this process did not issue means the callback is not the
            # answer to its sign-in (a stale tab, or a page forging the request):
            # exchanging that code could sign the user in as somebody else
            # (login CSRF, RFC 6749 §10.12). Compared in constant time.
            self.failure = _MSG_STATE_MISMATCH
            return 400, self.failure
        self.code = code
        return 200, ""


def _split_target(target: str) -> tuple[str, str, str]:
    """A request target as (path, "?", query), for origin-form ``/callback?..``
    and absolute-form ``http://127.0.0.1:port/callback?..`` (RFC 9112 §3.2)
    alike, without urlsplit, which raises on some junk a client may send."""
    target = target.partition("#")[0]
    head = target.partition("?")[0]
    if "://" in head:  # absolute-form: drop the scheme and authority
        after = target.split("://", 1)[1]
        cut = min((i for i in (after.find("/"), after.find("?")) if i >= 0), default=len(after))
        target = after[cut:]
        if not target.startswith("/"):
            target = "/" + target
    return target.partition("?")


def _listen(ports: list[int], callback: _Callback) -> Any:
    """Start the callback listener on 127.0.0.1, on the first port that binds."""
    import http.server
    import socket
    import socketserver
    import threading
    from urllib.parse import parse_qs

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = _CONNECTION_TIMEOUT
        server_version = "arkor"
        sys_version = ""

        def do_GET(self) -> None:
            port = self.connection.getsockname()[1]
            # DNS rebinding: a page on evil.example whose name resolves to
            # 127.0.0.1 arrives with its own Host; only ours are accepted.
            if self.headers.get("Host", "").lower() not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                self._text(400, "Unexpected Host header")
                return
            path, _, query = _split_target(self.path)
            if path != _CALLBACK_PATH:
                self._text(404, "Not found")  # a favicon probe must not end the login
                return
            outcome = callback.decide(parse_qs(query))
            if outcome is None:
                self._text(409, "This sign-in has already finished. You can close this tab.")
                return
            try:
                if outcome[0] == 200:
                    self._send(200, "text/html; charset=utf-8", _SIGNED_IN_PAGE)
                else:
                    self._text(*outcome)
            finally:
                # Only now: the process may end as soon as this is set, and the
                # browser must have had the whole page first.
                callback.done.set()

        def _text(self, status: int, text: str) -> None:
            # Plain text, never sniffed as HTML: these bodies echo what the
            # request carried, and must not become a reflected-XSS page.
            self._send(status, "text/plain; charset=utf-8", text.encode("utf-8"))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            # The callback URL holds the code: never hand it on as a Referer.
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines hold the code; they never reach the terminal

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        block_on_close = False
        # On Windows SO_REUSEADDR lets another process bind the same port and
        # steal the callback; on POSIX it only skips TIME_WAIT from a last run.
        allow_reuse_address = os.name != "nt"

        def handle_error(self, request: Any, client_address: Any) -> None:
            # socketserver prints a traceback to stderr when a connection
            # breaks (a browser giving up, junk, a reset): nothing for the user.
            if os.environ.get("ARKOR_DEBUG") == "1":
                super().handle_error(request, client_address)

        def server_bind(self) -> None:
            # HTTPServer.server_bind resolves its own name with getfqdn(), a
            # reverse-DNS lookup that can stall for many seconds.
            exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)  # Windows
            if exclusive is not None:
                # Without it, another process could bind the same port there.
                self.socket.setsockopt(socket.SOL_SOCKET, exclusive, 1)
            socketserver.TCPServer.server_bind(self)
            host, port = self.socket.getsockname()[:2]
            self.server_name, self.server_port = str(host), int(port)

    if not ports:
        raise ArkorError("The cloud-api lists no callbackPorts for the loopback listener.")
    last: OSError | None = None
    for port in ports:
        try:
            server = Server(("127.0.0.1", port), Handler)
        except OSError as exc:
            last = exc
            continue
        threading.Thread(target=server.serve_forever, args=(0.1,), name="arkor-callback", daemon=True).start()
        return server
    raise ArkorError(_MSG_BIND_FAILED.format(ports=", ".join(str(p) for p in ports), error=last))


def _is_text_browser(command: str) -> bool:
    words = command.strip().split()
    name = os.path.basename(words[0]).lower() if words else ""
    name = name.removesuffix(".exe")
    return name in _TEXT_BROWSERS


_BROWSER_PROCESSES: list[Any] = []

# webbrowser runs in a child interpreter: see _open_browser for why.
_BROWSER_CHILD = (
    "import os, sys, webbrowser\n"
    "browser = webbrowser.get()\n"
    "if os.path.basename(getattr(browser, 'name', '')).lower() not in sys.argv[2].split(','):\n"
    "    browser.open(sys.argv[1])\n"
)


def _browser_command(
    url: str,
    env: Mapping[str, str],
    platform: str | None = None,
    kernel: str | None = None,
    which: Callable[[str], str | None] | None = None,
) -> tuple[list[str], dict[str, str]] | None:
    """The command that shows ``url`` to the user, and its environment; None
    where no browser can work (the printed URL is then the way in)."""
    import shutil

    platform = platform or sys.platform
    if kernel is None:
        kernel = os.uname().release if hasattr(os, "uname") else ""
    which = which or shutil.which
    child_env = dict(env)
    webbrowser_child = [sys.executable, "-I", "-c", _BROWSER_CHILD, url, ",".join(sorted(_TEXT_BROWSERS))]
    chosen = env.get("BROWSER", "")
    if chosen:
        # Honoured as given, but for the text-mode browsers, which would take
        # over the terminal this command is waiting in.
        kept = [c for c in chosen.split(os.pathsep) if c.strip() and not _is_text_browser(c)]
        if not kept:
            return None
        child_env["BROWSER"] = os.pathsep.join(kept)
        return webbrowser_child, child_env
    if platform.startswith("linux"):
        if env.get("WSL_DISTRO_NAME") or "microsoft" in kernel.lower():
            # The Windows browser reaches WSL's 127.0.0.1, so the callback works.
            if which("wslview"):
                return ["wslview", url], child_env
            quoted = url.replace("'", "''")
            return [
                "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-Command",
                f"Start-Process '{quoted}'",
            ], child_env
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            return None  # no screen here: over SSH, in a container
    return webbrowser_child, child_env


def _open_browser(url: str, env: Mapping[str, str]) -> None:
    """Start showing ``url`` and return at once; failing to is never an error.

    webbrowser waits for a BROWSER command to exit, and the browsers it
    starts inherit this process's stdout and stderr, so a browser that stays
    open would block the login and keep `arkor login | tee log` from ending.
    Run from a detached child interpreter with its output on the null
    device, it can do neither.
    """
    import subprocess

    found = _browser_command(url, env)
    if found is None or not sys.executable:
        return
    argv, child_env = found
    try:
        # Kept referenced, so that it is not reported as abandoned while it runs.
        _BROWSER_PROCESSES.append(
            subprocess.Popen(
                argv,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,  # Ctrl-C here must not close the user's browser
            )
        )
    except OSError:
        pass


def _wait_for_code(callback: _Callback, timeout: float, term: _Terminal) -> str:
    """Wait for the callback (or a pasted URL) for at most ``timeout`` seconds."""
    import time

    if _isatty(term.stdin):  # `login --oauth --no-browser | tee log` over SSH, too
        _accept_pasted_url(callback, term)
    deadline = time.monotonic() + timeout
    # Short waits rather than one long one: on Windows, Ctrl-C reaches
    # Python only between waits.
    while not callback.done.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            raise ArkorError(_MSG_TIMED_OUT.format(seconds=f"{timeout:g}"))
    if callback.failure is not None:
        raise ArkorError(callback.failure)
    assert callback.code is not None
    return callback.code


def _accept_pasted_url(callback: _Callback, term: _Terminal) -> None:
    """Over SSH the browser runs elsewhere and cannot reach 127.0.0.1 here;
    the address it ended on still holds the code and state, so the user may
    paste it. It is checked exactly like a callback."""
    import threading
    from urllib.parse import parse_qs

    term.info(_MSG_PASTE)

    def read() -> None:
        while not callback.done.is_set():
            try:
                line = term.stdin.readline()
            except (OSError, ValueError):  # a closed or undecodable stdin
                return  # the browser may still call back
            if not line:
                return
            text = line.strip()
            if not text:
                continue
            query = text.partition("#")[0].partition("?")[2] if "?" in text else text
            if callback.decide(parse_qs(query)) is not None:
                callback.done.set()
            return

    threading.Thread(target=read, name="arkor-paste", daemon=True).start()


def _post_form(url: str, form: Mapping[str, str], timeout: float) -> _Reply:
    """POST to Auth0 as RFC 6749 (and RFC 7009) says: form-encoded."""
    from urllib.parse import urlencode

    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return _http("POST", url, headers=headers, body=urlencode(form).encode("ascii"), timeout=timeout)


def _expires_at(tokens: Mapping[str, Any], endpoint: str) -> int:
    """When an access token dies: now + expires_in (unknown lifetime: now)."""
    import time

    expires_in = tokens.get("expires_in", 0)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or not 0 <= expires_in < 1e9:
        raise ArkorError(f"Unexpected answer from POST {endpoint}: expires_in is not a number of seconds.")
    return int(time.time() + expires_in)


def _exchange_code(
    host: str, config: CliConfig, code: str, verifier: str, redirect_uri: str, env: Mapping[str, str]
) -> tuple[str, str, int]:
    """Trade the code for tokens (RFC 6749 §4.1.3): the access token, the
    refresh token, and when the access token expires."""
    url = f"https://{host}/oauth/token"
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": config["clientId"],
        "redirect_uri": redirect_uri,
    }
    reply = _post_form(url, form, _http_timeout(env))
    if not 200 <= reply.status < 300:
        raise ArkorError(_MSG_EXCHANGE_FAILED.format(status=reply.status, body=_snippet(reply.body)))
    tokens = _object(reply.json(url, quote=False), "POST", url, reply.status)
    access_token = _string_field(tokens, "access_token", "POST", url, reply.status)
    refresh_token = tokens.get("refresh_token")
    if not _is_token(refresh_token):
        raise ArkorError(_MSG_NO_REFRESH_TOKEN)
    return access_token, str(refresh_token), _expires_at(tokens, url)


def _login_oauth(api: _CloudApi, config: CliConfig, path: str, no_browser: bool, timeout: float, ctx: _Context) -> None:
    """Sign in through the browser; nothing is written unless it all works."""
    host = _auth0_host(config["auth0Domain"])  # before a port is taken
    verifier, challenge, state = _pkce()
    callback = _Callback(state)
    server = _listen(config["callbackPorts"], callback)
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{_CALLBACK_PATH}"
        url = _authorize_url(host, config, redirect_uri, state, challenge)
        ctx.term.info(f"Browser: {url}")
        if not no_browser:
            _open_browser(url, ctx.env)
        code = _wait_for_code(callback, timeout, ctx.term)
    finally:
        # Closed on every way out, Ctrl-C included: no listener outlives the login.
        server.shutdown()
        server.server_close()
    access_token, refresh_token, expires_at = _exchange_code(host, config, code, verifier, redirect_uri, ctx.env)
    credentials: Auth0Credentials = {
        "mode": "auth0",
        "accessToken": access_token,
        "refreshToken": refresh_token,
        "expiresAt": expires_at,
        "auth0Domain": host,
        "audience": config["audience"],
        "clientId": config["clientId"],
        "arkorCloudApiUrl": api.base,
    }
    _store(path, credentials, ctx)
    ctx.term.success(_MSG_SIGNED_IN)


# ---------------------------------------------------------------------------
# Signed-in requests: the token, kept fresh
# ---------------------------------------------------------------------------


class _RefreshRefused(ArkorError):
    """Auth0 will not renew this session: only a new sign-in helps."""


def _refresh_grant(stored: Auth0Credentials, path: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Trade the refresh token for a new access token (RFC 6749 §6).

    Raises _RefreshRefused when Auth0 turns the token down (a 4xx such as
    invalid_grant), and a plain ArkorError when it cannot be asked (network,
    5xx, a garbled answer): that one is transient and changes nothing.
    """
    url = f"https://{_auth0_host(stored['auth0Domain'], f'auth0Domain in {path}')}/oauth/token"
    form = {"grant_type": "refresh_token", "client_id": stored["clientId"], "refresh_token": stored["refreshToken"]}
    reply = _post_form(url, form, _http_timeout(env))
    if 400 <= reply.status < 500 and reply.status not in (408, 429):
        body = reply.json_or_none()
        error = body.get("error") if isinstance(body, dict) else None
        raise _RefreshRefused(
            f"Auth0: {error}" if isinstance(error, str) and error else f"Auth0 answered {reply.status}"
        )
    if not 200 <= reply.status < 300:
        raise ArkorError(f"{url} answered {reply.status}")
    tokens = _object(reply.json(url, quote=False), "POST", url, reply.status)
    _string_field(tokens, "access_token", "POST", url, reply.status)
    tokens["expiresAt"] = _expires_at(tokens, url)
    return tokens


def _renew(ctx: _Context, path: str, stale: Auth0Credentials) -> Credentials:
    """Credentials to use in place of ``stale`` (whose token is expiring or
    was refused), renewed under the lock and stored atomically.

    Under the lock the file is read again first: when another process has
    renewed it meanwhile, its token is adopted rather than the old refresh
    token spent a second time (with rotation, that one may be dead already).
    When Auth0 refuses, or cannot be asked, the stored credentials come back
    unchanged, with one warning saying which.
    """
    try:
        with _CredentialsLock(path, ctx.env):
            current = _read_credentials(path)
            if current is None or current["mode"] != "auth0":
                return current or stale  # signed out, or signed in anew, meanwhile
            if current["accessToken"] != stale["accessToken"] and not _expiring(current):
                return current
            try:
                tokens = _refresh_grant(current, path, ctx.env)
            except _RefreshRefused as exc:
                ctx.term.warn(_MSG_SIGN_IN_AGAIN.format(reason=exc.message))
                return current
            except ArkorError as exc:
                ctx.term.warn(_MSG_REFRESH_UNREACHABLE.format(reason=exc.message))
                return current
            renewed: Auth0Credentials = dict(current)  # type: ignore[assignment]
            renewed["accessToken"] = tokens["access_token"]
            renewed["expiresAt"] = tokens["expiresAt"]
            rotated = tokens.get("refresh_token")
            if isinstance(rotated, str) and _is_token(rotated):  # rotation: the old one is spent
                renewed["refreshToken"] = rotated
            try:
                _write_credentials(path, renewed, ctx.term)
            except ArkorError as exc:
                # The old refresh token may be spent already: this command
                # at least goes ahead with the new access token.
                ctx.term.warn(f"{exc.message} {_MSG_NOT_STORED}")
            return renewed
    except _LockTimeout as exc:
        ctx.term.warn(_MSG_REFRESH_UNREACHABLE.format(reason=exc.message))
        return stale


def _expiring(stored: Auth0Credentials) -> bool:
    import time

    return stored["expiresAt"] - time.time() <= _REFRESH_MARGIN


def _revoke(stored: Auth0Credentials, ctx: _Context) -> None:
    """Ask Auth0 to revoke the refresh token (RFC 7009); best effort, briefly."""
    try:
        url = f"https://{_auth0_host(stored['auth0Domain'], 'The stored auth0Domain')}/oauth/revoke"
        form = {"client_id": stored["clientId"], "token": stored["refreshToken"], "token_type_hint": "refresh_token"}
        reply = _post_form(url, form, min(_REVOKE_TIMEOUT, _http_timeout(ctx.env)))
    except ArkorError as exc:
        ctx.term.warn(_MSG_REVOKE_FAILED.format(reason=exc.message))
        return
    if not 200 <= reply.status < 300:
        ctx.term.warn(_MSG_REVOKE_FAILED.format(reason=f"{url} answered {reply.status}"))


def _bearer(stored: Credentials) -> str:
    """The token that the cloud-api takes for these credentials."""
    if stored["mode"] == "anon":
        return stored["token"]
    return stored["accessToken"]


def _signed_in_request(
    ctx: _Context, path: str, stored: Credentials, api: _CloudApi, method: str, endpoint: str
) -> _Reply:
    """``method endpoint`` on the cloud-api with the stored token.

    An OAuth token is renewed first when it is about to expire, and once
    after a 401 (then the request is sent again, once). An anonymous token
    cannot be renewed: a 401 on it gets a hint instead.
    """
    renewed = False
    if stored["mode"] == "auth0" and _expiring(stored):
        stored, renewed = _renew(ctx, path, stored), True
    reply = api.request(method, endpoint, token=_bearer(stored))
    if reply.status == 401 and stored["mode"] == "auth0" and not renewed:
        fresh = _renew(ctx, path, stored)
        if _bearer(fresh) != _bearer(stored):
            reply = api.request(method, endpoint, token=_bearer(fresh))
    elif reply.status == 401 and stored["mode"] == "anon":
        ctx.term.warn(_MSG_ANON_401)
    return reply


# ---------------------------------------------------------------------------
# The Python API: the signed-in identity, for scripts and tools
# ---------------------------------------------------------------------------
#
# What the commands below use themselves, for code that wants to talk to
# Arkor Cloud as the signed-in user without shelling out:
#
#     import arkor_cli
#     token = arkor_cli.get_token()          # None when not signed in
#     base = arkor_cli.cloud_api_url()
#
# Each reads the environment (HOME, ARKOR_CLOUD_API_URL, ...) as the CLI
# does, and raises ArkorError with the CLI's own message when something is
# wrong (a broken credentials file, say). credentials_path() stands with the
# credentials file, above.


def read_credentials(path: str | None = None) -> Credentials | None:
    """The stored credentials as a dict, or None when not signed in.

    ``"oauth"`` files written by newer Node releases come back as ``"auth0"``.
    """
    return _read_credentials(path or credentials_path())


def cloud_api_url() -> str:
    """The cloud-api base URL: ``ARKOR_CLOUD_API_URL``, else the one stored
    with the credentials, else https://api.arkor.ai (no trailing ``/``)."""
    path = credentials_path()
    api = _cloud_api(_Context.of_process(), read_credentials(path), path)
    _check_base_url(api.base, api.source)
    return api.base


def get_token() -> str | None:
    """A bearer token for the cloud-api, or None when not signed in.

    An OAuth access token that expires within a minute is renewed first and
    the renewal stored, exactly as the CLI does (a warning on stderr says so
    when Auth0 refuses or cannot be reached; the stored token is returned).
    """
    path = credentials_path()
    stored = read_credentials(path)
    if stored is None:
        return None
    if stored["mode"] == "auth0" and _expiring(stored):
        stored = _renew(_Context.of_process(), path, stored)
    return _bearer(stored)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _fetch_cli_config(api: _CloudApi) -> CliConfig:
    endpoint = "/v1/auth/cli/config"
    reply = api.request("GET", endpoint)
    if not 200 <= reply.status < 300:
        raise _failed("GET", endpoint, reply)
    body = _object(reply.json(endpoint), "GET", endpoint, reply.status)
    config: dict[str, Any] = {}
    for field in ("auth0Domain", "clientId", "audience"):
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise ArkorError(f"Unexpected answer from GET {endpoint} ({reply.status}): {field} is not a string.")
        config[field] = value or ""
    ports = body.get("callbackPorts", [])
    if not isinstance(ports, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
    ):
        raise ArkorError(
            f"Unexpected answer from GET {endpoint} ({reply.status}): callbackPorts is not a list of ports."
        )
    config["callbackPorts"] = ports
    return config  # type: ignore[return-value]


def _oauth_available(config: CliConfig) -> bool:
    return bool(config["auth0Domain"] and config["clientId"] and config["audience"])


def _login_anonymous(api: _CloudApi, path: str, term: _Terminal) -> None:
    """Mint a brand-new anonymous identity and store it over any old file."""
    endpoint = "/v1/auth/anonymous"
    reply = api.request("POST", endpoint, json_body={"kind": "cli"})
    if not 200 <= reply.status < 300:
        raise _failed("POST", endpoint, reply)
    body = _object(reply.json(endpoint), "POST", endpoint, reply.status)
    token = _string_field(body, "token", "POST", endpoint, reply.status)
    anonymous_id = _string_field(body, "anonymousId", "POST", endpoint, reply.status)
    org = _object(body.get("personalOrg"), "POST", endpoint + " personalOrg", reply.status)
    org_slug = _string_field(org, "slug", "POST", endpoint, reply.status)
    credentials: AnonCredentials = {
        "mode": "anon",
        "token": token,
        "anonymousId": anonymous_id,
        "arkorCloudApiUrl": api.base,
        "orgSlug": org_slug,
    }
    _store(path, credentials, api.ctx)
    term.info(_MSG_ANON_ID.format(anonymous_id=_one_line(anonymous_id)))
    term.info(_MSG_ANON_KEEP.format(path=path))
    term.success(_MSG_ANON_DONE.format(org_slug=_one_line(org_slug)))


def _pick_mode(term: _Terminal) -> str:
    """Ask OAuth or Anonymous; Anonymous is preselected.

    A numbered menu read a line at a time works on every terminal, over SSH
    and under screen readers, with nothing but the standard library.
    """
    term.info(_PICKER_QUESTION)
    default = next(i for i, c in enumerate(_PICKER_CHOICES, 1) if c[0] == _PICKER_DEFAULT)
    width = max(len(label) for _, label, _ in _PICKER_CHOICES)
    for number, (_, label, hint) in enumerate(_PICKER_CHOICES, 1):
        term.info(f"  {number}) {label.ljust(width)}  {hint}")
    while True:
        answer = term.ask(f"Choose 1-{len(_PICKER_CHOICES)} [{default}]: ")
        if answer is None or answer == "":
            return _PICKER_DEFAULT
        for number, (mode, label, _) in enumerate(_PICKER_CHOICES, 1):
            if answer == str(number) or answer.lower() in (mode, label.lower()):
                return mode
        term.warn(f"Please answer a number from 1 to {len(_PICKER_CHOICES)}.")


def _cmd_login(args: Any, ctx: _Context) -> int:
    term, env = ctx.term, ctx.env
    if args.oauth and args.anonymous:
        raise ArkorError(_MSG_BOTH_MODES)
    path = credentials_path()
    api = _cloud_api(ctx)
    if args.anonymous:
        _login_anonymous(api, path, term)
        return _EXIT_OK
    if args.oauth and env.get("CI"):
        # The loopback callback needs a person with a browser; in CI the
        # login could only wait until it times out.
        raise ArkorError(_MSG_OAUTH_IN_CI)
    config = _fetch_cli_config(api)
    if not _oauth_available(config):
        if args.oauth:
            raise ArkorError(_MSG_OAUTH_NOT_CONFIGURED)
        term.info(_MSG_CONTINUING_ANON)
        _login_anonymous(api, path, term)
        return _EXIT_OK
    if args.oauth:
        mode = "oauth"
    elif term.interactive() and not env.get("CI"):
        mode = _pick_mode(term)
    else:
        mode = _PICKER_DEFAULT
    if mode == "oauth":
        try:
            _login_oauth(api, config, path, args.no_browser, args.timeout, ctx)
        except ArkorError as exc:
            raise ArkorError(f"{_MSG_LOGIN_FAILED}\n{exc.message}", exc.status) from None
        return _EXIT_OK
    _login_anonymous(api, path, term)
    term.warn(_MSG_ANON_NUDGE)
    return _EXIT_OK


def _cmd_logout(args: Any, ctx: _Context) -> int:
    term = ctx.term
    path = credentials_path()
    if not os.path.lexists(path):
        term.info(_MSG_NO_CREDENTIALS)
        return _EXIT_OK
    try:
        stored = read_credentials(path)
    except ArkorError:
        stored = None  # a broken file can still be deleted; that is the way out of it
    loss = ""
    if stored is not None and stored["mode"] == "anon":
        loss = _MSG_ANON_LOSS.format(anonymous_id=stored["anonymousId"])
    if args.yes:
        if loss:
            term.warn(loss)
    elif not _isatty(term.stdin):
        term.warn(_MSG_NO_TTY_TO_CONFIRM)
        term.info(_MSG_ABORTED)
        return _EXIT_OK
    else:
        question = _MSG_CONFIRM_DELETE.format(path=path)
        answer = term.ask(f"{loss} {question}" if loss else question)
        if (answer or "").lower() not in ("y", "yes"):
            term.info(_MSG_ABORTED)
            return _EXIT_OK
    if stored is not None and stored["mode"] == "auth0":
        _revoke(stored, ctx)  # whatever it answers, the file goes
    with _CredentialsLock(path, ctx.env):  # not while a renewal is writing it back
        try:
            os.remove(path)
        except FileNotFoundError:
            pass  # removed meanwhile by another process: the outcome is the same
        except OSError as exc:
            raise ArkorError(f"Could not remove {path}: {_os_reason(exc)}.") from None
    term.success(_MSG_REMOVED.format(path=path))
    return _EXIT_OK


def _cmd_whoami(args: Any, ctx: _Context) -> int:
    term = ctx.term
    # With --json, stdout carries JSON alone; the informational lines go to stderr.
    inform = term.warn if args.json else term.info
    path = credentials_path()
    stored = read_credentials(path)
    if stored is None:
        inform(_MSG_NOT_SIGNED_IN)
        return _EXIT_OK
    api = _cloud_api(ctx, stored, path)
    endpoint = "/v1/me"
    reply = _signed_in_request(ctx, path, stored, api, "GET", endpoint)
    if reply.status != 200:
        # Scripts read this line; the exit status stays 0 as documented.
        inform(_MSG_ME_FAILED.format(status=reply.status))
        return _EXIT_OK
    import json

    body = _object(reply.json(endpoint), "GET", endpoint, reply.status)
    if args.json:
        # ASCII escapes: valid JSON whatever the terminal's or pipe's encoding.
        term.info(json.dumps(body, indent=2))
        return _EXIT_OK
    user = _object(body.get("user"), "GET", endpoint + " user", reply.status)
    orgs = body.get("orgs") or []
    if not isinstance(orgs, list) or not all(isinstance(o, dict) for o in orgs):
        raise ArkorError(f"Unexpected answer from GET {endpoint} ({reply.status}): orgs is not a list of objects.")
    term.info(json.dumps(user, indent=2, ensure_ascii=False))
    names = [_one_line(str(o.get("slug") or o.get("id") or "?")) for o in orgs]
    if names:
        term.info(_MSG_ORGS.format(orgs=", ".join(names)))
    return _EXIT_OK


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

# The help is written out by hand rather than composed by argparse: it reads
# the same on every Python (argparse's layout changed in 3.10 and in 3.13),
# and `arkor --help` prints it without importing argparse and, through it,
# gettext, locale and textwrap: a fifth of its start-up. A test holds every
# option the parser takes to a line of its command's help, and back.
_USAGE = {
    None: f"{_PROG} [-h] [--version] <command> [<options>]",
    # Within 80 columns; the second line lines up after "usage: arkor login ".
    "login": f"{_PROG} login [-h] [--oauth | --anonymous] [--no-browser]\n                   [--timeout SECONDS]",
    "logout": f"{_PROG} logout [-h] [-y]",
    "whoami": f"{_PROG} whoami [-h] [--json]",
}
_SUMMARY = {
    "login": "Sign in (OAuth in the browser, or an anonymous token).",
    "logout": "Delete the stored credentials.",
    "whoami": "Show the signed-in identity and its orgs.",
}
_HELP = {
    None: f"""usage: {_USAGE[None]}

Sign in to Arkor Cloud, sign out, and say who you are.

commands:
  login       {_SUMMARY["login"]}
  logout      {_SUMMARY["logout"]}
  whoami      {_SUMMARY["whoami"]}

options:
  -h, --help  show this help and exit
  --version   show the version and exit

environment:
  ARKOR_CLOUD_API_URL    the cloud-api (default {_DEFAULT_API_URL})
  ARKOR_HTTP_TIMEOUT     seconds before a request gives up (default {_DEFAULT_TIMEOUT:g})
  ARKOR_DEBUG=1          add the Python traceback to an error
  NO_COLOR               no colour, even on a terminal
  HTTPS_PROXY, NO_PROXY  the proxy, and the hosts that go around it
  SSL_CERT_FILE          a CA bundle to trust instead of the system's

Credentials: ~/{_CREDENTIALS_DIR}/{_CREDENTIALS_NAME}.
Run `{_PROG} <command> -h` for a command's options.
""",
    "login": f"""usage: {_USAGE["login"]}

{_SUMMARY["login"]}

options:
  -h, --help         show this help and exit
  --oauth            sign in to your account through the browser
  --anonymous        get a throwaway anonymous token
  --no-browser       print the sign-in URL without opening a browser
  --timeout SECONDS  how long to wait for the browser (default {_DEFAULT_LOGIN_TIMEOUT:g})

examples:
  {_PROG} login                   pick OAuth or Anonymous
  {_PROG} login --anonymous       a throwaway identity (CI)
  {_PROG} login --oauth --no-browser --timeout 120
                                over SSH: open the URL on another machine
""",
    "logout": f"""usage: {_USAGE["logout"]}

{_SUMMARY["logout"]}

options:
  -h, --help              show this help and exit
  -y, --yes, -f, --force  do not ask for confirmation

examples:
  {_PROG} logout
  {_PROG} logout --yes            no question asked (scripts)
""",
    "whoami": f"""usage: {_USAGE["whoami"]}

{_SUMMARY["whoami"]}

options:
  -h, --help  show this help and exit
  --json      print the whole /v1/me answer as JSON

examples:
  {_PROG} whoami
  {_PROG} whoami --json | jq -r .user.email
""",
}
_HELP_FLAGS = ("-h", "--help")


def _positive_seconds(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= _MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _parser() -> tuple[Any, dict[str, Any]]:
    """The argument parser, and each command's own parser by its name."""
    import argparse

    class ShowHelp(argparse.Action):
        """-h/--help: print the command's written-out help, and stop."""

        def __init__(self, option_strings: list[str], dest: str, **_: Any) -> None:
            super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS)

        def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
            _write_help(sys.stdout, _HELP[parser.get_default("command")])
            parser.exit()

    def command(made: Any, name: str | None) -> Any:
        made.add_argument(*_HELP_FLAGS, action=ShowHelp)
        made.set_defaults(command=name)
        return made

    # usage= everywhere keeps argparse from composing usage lines of its own.
    parser = command(argparse.ArgumentParser(prog=_PROG, usage=_USAGE[None], add_help=False), None)
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    commands = {
        name: command(subparsers.add_parser(name, prog=f"{_PROG} {name}", usage=_USAGE[name], add_help=False), name)
        for name in _SUMMARY
    }

    login = commands["login"]
    login.add_argument("--oauth", action="store_true")
    login.add_argument("--anonymous", action="store_true")
    login.add_argument("--no-browser", action="store_true")
    login.add_argument("--timeout", type=_positive_seconds, default=_DEFAULT_LOGIN_TIMEOUT, metavar="SECONDS")
    login.set_defaults(run=_cmd_login)

    logout = commands["logout"]
    logout.add_argument("-y", "--yes", "-f", "--force", dest="yes", action="store_true")
    logout.set_defaults(run=_cmd_logout)

    whoami = commands["whoami"]
    whoami.add_argument("--json", action="store_true")
    whoami.set_defaults(run=_cmd_whoami)
    return parser, commands


def _parse(argv: list[str]) -> Any:
    """The parsed arguments; SystemExit for help, --version and usage errors."""
    parser, commands = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # What follows a command's name and it does not take is that
        # command's error, shown with its usage; the rest is the top level's.
        after = argv[argv.index(args.command) + 1 :] if args.command in argv else []
        owner = commands[args.command] if all(word in after for word in extra) else parser
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        _write_help(sys.stderr, _HELP[None])
        parser.exit(_EXIT_USAGE)
    return args


# What the parser gives for the command lines that scripts, CI jobs and
# shell prompts run most: main() then skips building the parser and with it
# importing argparse (a third of a signed-out command's start-up). A test
# checks each against _parse().
_LOGIN_DEFAULTS = {"oauth": False, "anonymous": False, "no_browser": False, "timeout": _DEFAULT_LOGIN_TIMEOUT}
_BARE_COMMANDS: dict[tuple[str, ...], tuple[Callable[..., int], dict[str, Any]]] = {
    ("whoami",): (_cmd_whoami, {"json": False}),
    ("whoami", "--json"): (_cmd_whoami, {"json": True}),
    ("logout",): (_cmd_logout, {"yes": False}),
    ("logout", "--yes"): (_cmd_logout, {"yes": True}),
    ("logout", "-y"): (_cmd_logout, {"yes": True}),
    ("login",): (_cmd_login, _LOGIN_DEFAULTS),
    ("login", "--anonymous"): (_cmd_login, {**_LOGIN_DEFAULTS, "anonymous": True}),
}


def _bare_args(argv: list[str]) -> Any:
    """The parsed arguments of a command line in _BARE_COMMANDS; else None."""
    known = _BARE_COMMANDS.get(tuple(argv))
    if known is None:
        return None
    import types

    run, options = known
    return types.SimpleNamespace(command=argv[0], run=run, **options)


def _write_help(stream: IO[str], text: str) -> None:
    """Write help as argparse does: a stream that cannot take it (a closed
    descriptor) is no error. A reader that left is main()'s to handle."""
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        raise
    except OSError:
        pass


def _help_text(argv: list[str]) -> str | None:
    """The help that ``argv`` asks for and nothing else (``-h``, ``login -h``); else None."""
    if argv[-1:] and argv[-1] in _HELP_FLAGS:
        if len(argv) == 1:
            return _HELP[None]
        if len(argv) == 2 and argv[0] in _SUMMARY:
            return _HELP[argv[0]]
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the arkor command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # A process started with stdout or stderr closed (`arkor whoami >&-`), or
    # under pythonw, has None for it: what would go there goes nowhere.
    missing = [name for name in ("stdout", "stderr") if getattr(sys, name) is None]
    if not missing:
        return _main(argv)
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        for name in missing:
            setattr(sys, name, devnull)
        try:
            return _main(argv)
        finally:
            for name in missing:
                setattr(sys, name, None)


def _main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # `arkor whoami | head`: the reader left. Point stdout at devnull so
        # that the interpreter's own flush at exit stays quiet too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_FAILURE


def _run(argv: list[str]) -> int:
    text = _help_text(argv)
    if text is not None:  # before argparse, which is a fifth of the start-up
        _write_help(sys.stdout, text)
        return _EXIT_OK
    args = _bare_args(argv)
    if args is None:
        try:
            args = _parse(argv)
        except SystemExit as exc:  # help, --version and usage errors
            sys.stdout.flush()
            return exc.code if isinstance(exc.code, int) else _EXIT_USAGE
    for stream in (sys.stdout, sys.stderr):
        # A name or an org in a script that the terminal's encoding lacks
        # (a Windows pipe is cp1252) must print as an escape, not crash.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    ctx = _Context.of_process()
    term = ctx.term
    try:
        status: int = args.run(args, ctx)
    except ArkorError as exc:
        _debug_traceback(ctx.env)
        term.error(exc.message)
        status = exc.status
    except KeyboardInterrupt:
        term.error(_MSG_INTERRUPTED)
        status = _EXIT_INTERRUPTED
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, and no token in it
        _debug_traceback(ctx.env)
        term.error(f"Internal error ({type(exc).__name__}). Set ARKOR_DEBUG=1 to see the traceback, and report it.")
        status = _EXIT_FAILURE
    # A deprecation notice is said once, when the command is over, also
    # after a failure: the user should learn of it before the cutoff.
    if ctx.deprecation:
        term.warn(ctx.deprecation)
    sys.stdout.flush()
    return status


def _debug_traceback(env: Mapping[str, str]) -> None:
    if env.get("ARKOR_DEBUG") == "1":
        import traceback

        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
