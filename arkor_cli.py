"""arkor: sign in to Arkor Cloud, sign out, and say who you are.

A single-file, standard-library-only port of the ``arkor login``,
``arkor logout`` and ``arkor whoami`` commands (and ``arkor token``), for
hosts where Node is not welcome: locked-down machines, air-gapped boxes,
CI runners, notebooks.

Run it as any of::

    arkor whoami                      # installed with pipx or pip
    python3 -m arkor_cli whoami       # importable module
    python3 arkor_cli.py whoami       # the one copied file

Credentials live in ``~/.arkor/credentials.json`` (mode 0600), shared with
the Node CLI. Licensed under the MIT licence.

The map. Sections, in order, each under a banner; each uses only those
above it::

    shapes of JSON      TypedDicts for the file and the cloud's answers
    constants           bounds, and every message a user can see
    errors              ArkorError: the lines to print and the exit status
    terminal output     _Terminal: every line escaped, flushed, coloured
    checking JSON       _problem(): a value from outside against its shape
    credentials file    _OnFile (the one read), _write_credentials
    one run's context   _Context: env, streams, bounds, "can we ask?"
    changing the file   _Change: the lock, compare before writing, signals held
    HTTP                _http(): the one urllib opener, the whole-exchange deadline
    the cloud-api       _CloudApi: base URL, 426 gate, deprecation notices
    OAuth + PKCE        the authorize URL, the loopback listener, the browser
    signed-in requests  _renew(), _token(), _signed_in_request(), _revoke()
    commands            _cmd_login, _cmd_logout, _cmd_whoami, _cmd_token
    the Python API      get_token(), login(), logout(), ...: the commands' own logic
    main                argparse, and the one place errors are printed

A command's path: ``main`` → ``_cmd_*`` → (``_OnFile`` | ``_Change`` |
``_signed_in_request`` → ``_renew``) → ``_CloudApi.request`` or
``_post_form`` → ``_http`` → the opener. Layers below the commands return
what happened (or raise ArkorError); the command and ``main`` decide what
the user sees.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import sys
import time

# These are in memory anyway once the command line is read (re for argparse).
# Every other module is imported in the function that needs it, so that
# `arkor --help` and the commands that send nothing load only what they use.

# typing.TYPE_CHECKING, spelled out: typing is for the type checker alone.
TYPE_CHECKING = False

__all__ = [
    "ArkorError",
    "__version__",
    "cloud_api_url",
    "credentials_path",
    "get_token",
    "login",
    "logout",
    "main",
    "read_credentials",
]

# ---------------------------------------------------------------------------
# The shapes of JSON: the credentials file and the cloud's answers
# ---------------------------------------------------------------------------
# Each shape is written once, as a TypedDict: the type checker reads it, and at
# run time _problem() checks a value from outside against its annotations;
# _CHECKS says what each annotation (Token, Host ...) asks.

if TYPE_CHECKING:
    from collections.abc import Mapping
    from http.client import HTTPMessage, HTTPResponse
    from ssl import SSLContext
    from typing import IO, Any, Callable, Literal, TypedDict, TypeVar, Union
    from urllib.request import OpenerDirector, Request

    _T = TypeVar("_T")

    Token = str
    Name = str
    BaseUrl = str
    Host = str
    Seconds = float
    Ports = list[int]
else:

    class TypedDict(dict):
        """typing.TypedDict at run time: fields are annotations, ``total`` says if required."""

        def __init_subclass__(cls, total: bool = True) -> None:
            super().__init_subclass__()
            cls.__total__ = total


class _AnonRequired(TypedDict):
    mode: Literal["anon"]
    token: Token
    anonymousId: Name
    orgSlug: Name


class AnonCredentials(_AnonRequired, total=False):
    arkorCloudApiUrl: BaseUrl  # absent: ARKOR_CLOUD_API_URL, else the default


class _OAuthRequired(TypedDict):
    mode: Literal["oauth", "auth0"]  # "auth0": the seed era's tag for the same mode
    accessToken: Token
    refreshToken: Token
    expiresAt: Seconds  # Unix time
    auth0Domain: Host
    audience: Name
    clientId: Name


class OAuthCredentials(_OAuthRequired, total=False):
    arkorCloudApiUrl: BaseUrl  # absent in files of the Node CLI before July 2026


if TYPE_CHECKING:
    Credentials = Union[AnonCredentials, OAuthCredentials]
    _C = TypeVar("_C", AnonCredentials, OAuthCredentials)
# Both eras of the Node CLI read `mode == "anon" ? token : accessToken`.
_MODES = {"anon": AnonCredentials, "oauth": OAuthCredentials, "auth0": OAuthCredentials}


class CliConfig(TypedDict, total=False):  # GET /v1/auth/cli/config
    auth0Domain: str  # empty or absent: OAuth is not configured
    clientId: str
    audience: str
    callbackPorts: Ports  # 0: any free port


class PersonalOrg(TypedDict):
    slug: Name


class AnonymousAnswer(TypedDict):  # POST /v1/auth/anonymous
    token: Token
    anonymousId: Name
    personalOrg: PersonalOrg


class MeAnswer(TypedDict):  # GET /v1/me; orgs may be absent
    user: dict[str, Any]


class _TokenRequired(TypedDict):
    access_token: Token


class TokenAnswer(_TokenRequired, total=False):  # POST /oauth/token (RFC 6749 §5.1)
    refresh_token: Token  # rotation: the one sent is spent
    expires_in: Seconds


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

__version__ = "0.2.0"

_PROG = "arkor"
_DISTRIBUTION = "arkor-cli"
_DEFAULT_API_URL = "https://api.arkor.ai"
_CREDENTIALS_DIR = ".arkor"
_CREDENTIALS_NAME = "credentials.json"

# Bounds a request as a whole (a dripping server must not hold a CI job);
# ARKOR_HTTP_TIMEOUT overrides it.
_DEFAULT_TIMEOUT = 30.0
# Nothing we ask for is near this big; reading a larger (broken or hostile)
# answer would only cost memory.
_MAX_BODY = 1024 * 1024
# How much of an unexpected body an error message quotes.
_SNIPPET = 200
# A week: beyond it a "timeout" is a typo (and the socket layer overflows).
_MAX_SECONDS = 7 * 24 * 3600.0
# Without a bound, a login whose browser never calls back waits forever.
_DEFAULT_LOGIN_TIMEOUT = 600.0
# Renew an access token this close to its expiry rather than send it to die.
_REFRESH_MARGIN = 60
# Revoking on logout is a courtesy to the server: never make the user wait long.
_REVOKE_TIMEOUT = 5.0
# The lock's holder makes at most one request (a renewal, a sign-in, a
# revocation), which the HTTP timeout bounds; we wait that long plus as much
# again, up to this many seconds (the file itself takes milliseconds).
_LOCK_SLACK = 5.0
# After this long, a command that waits for the lock says so.
_LOCK_NOTICE = 1.0
# Browsers open idle "pre-connections": each one to the callback listener gets
# this long to send a request.
_CONNECTION_TIMEOUT = 10.0

_EXIT_OK = 0
_EXIT_FAILURE = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130

# The words a user sees, each written once: scripts, the docs and the tests
# match on these exact texts.
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
_MSG_REPLACE_ANON = "Replace the anonymous identity {anonymous_id}? It cannot be restored. [y/N] "
_MSG_REPLACED = "Replaced {who}."
_WHO_ANON = "the anonymous identity {anonymous_id}; it cannot be restored"
_WHO_OAUTH = "the OAuth sign-in at {domain}"
_MSG_ALREADY_SIGNED_IN = (
    "Already signed in {how}. Run `arkor login --anonymous` or `arkor login --oauth` to replace it."
)
_MSG_BAD_API_TIMEOUT = "login(timeout=...) is {problem}."
_MSG_API_SIGNED_IN = "Already signed in {how}; call login(replace=True) to replace it."
_HOW_ANON = "anonymously as {anonymous_id}"
_HOW_OAUTH = "with OAuth"
_MSG_REPLACE_CHANGED = "While signing in, {path} came to hold {who}. Replace it? [y/N] "
_PICKER_QUESTION = "How would you like to sign in?"
_PICKER_CHOICES = (
    ("oauth", "OAuth (browser)", "Sign in to your account"),
    ("anonymous", "Anonymous", "Throwaway token, no account"),
)
_PICKER_DEFAULT = "anonymous"
_MSG_PICKER_PROMPT = "Choose 1-{count} [{default}]: "
_MSG_PICKER_AGAIN = "Please answer a number from 1 to {count}."
_MSG_NO_CREDENTIALS = "No credentials on file."
_MSG_CONFIRM_DELETE = "Delete {path}? [y/N] "
_MSG_ANON_LOSS = "The anonymous identity {anonymous_id} cannot be restored once deleted."
_MSG_NO_TTY_TO_CONFIRM = "Nobody can be asked here (no terminal, or CI is set); pass --yes to delete without asking."
_MSG_ABORTED = "Aborted."
_MSG_REMOVED = "Removed {path}."
_MSG_CHANGED_MEANWHILE = "{path} changed while the question was open; nothing was deleted. Run `arkor logout` again."
_MSG_CHANGED_DURING_REVOKE = (
    "{path} changed while the refresh token was being revoked; the credentials now in it were not deleted."
)
_MSG_NOT_REGULAR = "{path} is not a regular file; arkor does not read or remove it."
_MSG_NOT_SIGNED_IN = "Not signed in. Run `arkor login` or `arkor login --anonymous`."
_MSG_ME_FAILED = "Failed to fetch /v1/me ({status}). Token may be expired."
# What a cloud-api status more likely means, under the line that reports it.
_MSG_NOT_FOUND = (
    "{url} was not found: is the cloud-api base URL right? It is {base} (from {source});"
    " set ARKOR_CLOUD_API_URL to the base, without /v1."
)
_MSG_SERVER_ERROR = "The cloud-api failed at {url} ({status}); try again later."
_MSG_SERVER_ERROR_SIGNED_IN = "The cloud-api failed at {url} ({status}): the token is likely fine; try again later."
_MSG_ORGS = "Orgs: {orgs}"
_MSG_UNSUPPORTED = "Arkor SDK {current} is no longer supported by the cloud API (supported: {supported}). {fix}"
_MSG_UNSUPPORTED_BARE = "Arkor SDK is no longer supported by the cloud API. {fix}"
_MSG_CLIENT_HEADER = (
    "The cloud API could not read this client's X-Arkor-Client header ({reason});"
    " a proxy on the way may be changing it. {fix}"
)
_MSG_DEPRECATED = "Arkor SDK {version} is deprecated"
_MSG_DEPRECATION = "{message} (current: {version}).{cutoff} {fix}"
_MSG_UPGRADE = "Run `{command}`."
_MSG_REPLACE_FILE = "Replace {path} with the latest arkor_cli.py."
_MSG_UNREACHABLE = "Could not reach {url}: {reason}"
_MSG_UNEXPECTED = "Unexpected answer from {method} {url} ({status}): {what}."
_MSG_MALFORMED = "Unexpected answer from {method} {url}: {what}"
_MSG_REQUEST_FAILED = "{method} {url} failed ({status}): {body}"
_MSG_TOO_LARGE = "The answer from {method} {url} ({status}) is larger than 1 MiB; refusing to read it."
_MSG_BAD_URL = "{source} is not an http(s) URL: {url}."
_MSG_BAD_PORT = "{source} has a port that is not a number from 1 to 65535: {url}."
_MSG_URL_USERINFO = "{source} holds a user name or password ({url}); arkor sends it nowhere. Remove it from the URL."
_MSG_BAD_PROXY = "{variable} is not a proxy URL (http://host:port); fix or unset it."
_MSG_BAD_HOST = "{source} is not a bare host[:port]: {value}."
_MSG_BAD_HEADER = "The {name} header for {url} holds characters HTTP cannot carry."
_MSG_INTERRUPTED = "Interrupted."
_MSG_UNRECOGNIZED = "unrecognized arguments: {arguments}"  # argparse's own words
_MSG_DID_YOU_MEAN = "Did you mean {suggestion}?"
_MSG_OUTPUT_LOST = (
    "The output of this command was lost (stdout could not be written), but its work stands:"
    " the stored credentials changed. Run `arkor whoami` to see them, rather than this command again."
)
_MSG_INTERNAL = "Internal error ({kind}). Set ARKOR_DEBUG=1 to see the traceback, and report it."
_MSG_BIND_FAILED = (
    "Unable to bind any of the loopback ports {ports}."
    " The Auth0 Application must list at least one of these as an Allowed Callback URL: {error}"
)
_MSG_NO_PORTS = "The cloud-api lists no callbackPorts for the loopback listener."
_MSG_BROWSER = "Browser: {url}"
_MSG_NO_BROWSER = "No browser was opened. Open the URL above in a browser on any device."
_MSG_PASTE = "Or, if the browser cannot reach this machine, paste the address it ended on and press Enter:"
_MSG_PASTE_AGAIN = (
    "That is not the address the browser ended on (it starts http://127.0.0.1 and holds code= and state=)."
    " Paste it again, or wait for the browser:"
)
_MSG_PASTE_OTHER_SIGN_IN = (
    "That address belongs to another sign-in (an older tab?), not to this one."
    " Paste the address this sign-in ended on, or wait for the browser:"
)
_MSG_AUTH_DENIED = "Authentication failed: {error}"
_MSG_MISSING_CODE = "Missing code/state in callback"
# What the callback listener answers the browser, in text/plain.
_MSG_CALLBACK_MISSING_CODE = "Missing code/state"
_MSG_CALLBACK_BAD_HOST = "Unexpected Host header"
_MSG_CALLBACK_NOT_FOUND = "Not found"
_MSG_CALLBACK_FINISHED = "This sign-in has already finished. You can close this tab."
_MSG_STATE_MISMATCH = "State mismatch \u2014 aborting to prevent CSRF"
_MSG_SIGNED_IN_PAGE_TITLE = "Signed in to Arkor"
_MSG_EXCHANGE_FAILED = "Auth0 token exchange failed ({status}): {body}"
_MSG_NO_REFRESH_TOKEN = (
    "Auth0 did not return a refresh token. Make sure the Application has 'offline_access' scope enabled."
)
_MSG_SIGNED_IN = "Signed in"
_MSG_LOGIN_FAILED = "Login failed"
_MSG_TIMED_OUT = "Timed out waiting for the browser callback after {seconds} s."
_MSG_SIGN_IN_AGAIN = "The session could not be renewed ({reason}). Sign in again with `arkor login --oauth`."
_MSG_REFRESH_UNREACHABLE = "Could not renew the access token ({reason}); trying the stored one."
_MSG_TOKEN_EXPIRED = (
    "The access token has expired and could not be renewed ({reason}). Try again, or run `arkor login --oauth`."
)
_MSG_ROTATED_KEPT = (
    "Auth0 sent a new refresh token in a malformed answer ({reason}); it is stored,"
    " and the access token will be renewed at the next command."
)
_MSG_ANON_401 = (
    "An anonymous token works only on the device that minted it: if this file came from another"
    " machine, `arkor login --anonymous` mints a new anonymous identity (a new workspace) here."
)
_MSG_REVOKE_FAILED = "Could not revoke the refresh token ({reason}); it stays valid until it expires."
_MSG_LOCK_TIMEOUT = "Another arkor process holds {path}; try again in a moment."
_MSG_LOCK_WAITING = "Waiting for another arkor process, which holds {path}…"
_MSG_NOT_STORED = "The renewed token serves this command only."
_MSG_CHANGED_NOT_STORED = (
    "{path} changed while the token was being renewed; the renewed token serves this command only."
)
_MSG_INVALID_FILE = (
    "{path} does not hold valid arkor credentials ({what}). Fix it, or sign in again with `arkor login`."
)
_MSG_CANNOT_READ = "Cannot read {path}: {reason}."
_MSG_CANNOT_WRITE = "Could not write {path}: {reason}."
_MSG_CANNOT_REMOVE = "Could not remove {path}: {reason}."
_MSG_NOT_PRIVATE = "Could not restrict the permissions of {path}: {reason}."
_MSG_DIRECTORY_TIGHTENED = "{path} was writable by others (mode {mode:o}); it is now 700."
_MSG_DIRECTORY_NOT_OURS = (
    "{path} is writable by others and belongs to another user (uid {uid}); arkor stores nothing there."
)
_MSG_TOO_LARGE_TO_WRITE = "Could not write {path}: the credentials would be larger than 1 MiB."
_MSG_NO_HOME = "Cannot find your home directory: {variable} is {problem}. Set it to an absolute path."
_MSG_BAD_SECONDS = "not a positive number of seconds: {text}"
_MSG_TOO_MANY_SECONDS = "more than a week ({limit:g} seconds): {text}"
_MSG_BAD_ENV_SECONDS = "{name} is {problem}."
# Why an answer or a connection failed: the ends of the messages above.
_WHY_NOT_OBJECT = "not a JSON object"
_WHY_MODES_IGNORED = "the filesystem keeps it writable by others"
_WHY_TOO_LARGE = "larger than 1 MiB"
_WHY_NOT_TEXT = "not UTF-8 text"
_WHY_FILE_NOT_JSON = "not JSON: {reason}"
_WHY_UNKNOWN_MODE = "unknown mode {mode!r}"
_WHY_NO_MODE = "no mode"
_WHY_NOT_URL = "{name} is not an http(s) URL"
_WHY_BAD_PORT = "{name} has a port that is not a number from 1 to 65535"
_WHY_USERINFO = "{name} holds a user name or password"
_WHY_UNSET = "not set"
_WHY_EMPTY_VALUE = "empty"
_WHY_RELATIVE = "relative ({value})"
_WHY_MISSING = "missing {name}"
_WHY_INVALID = "{name} is not valid"
_WHY_NOT_JSON = "not JSON ({reason})"
_WHY_JSON_ERROR = "{error} (line {line}, column {column})"
_WHY_OUT_OF_RANGE = "the number {number} is out of range"
_WHY_CONSTANT = "{constant} is not JSON"
_WHY_TOO_DEEP = "nested too deeply"
_WHY_HTML = "an HTML page"
_WHY_HTML_TITLED = "an HTML page, {title!r}"
_WHY_EMPTY = "(empty body)"
_WHY_TIMED_OUT = "timed out"
_WHY_NO_ADDRESS = "the host name has no address"
_WHY_NO_NAME = "cannot resolve the host name ({reason})"
_WHY_BAD_NAME = "the host name is not one DNS can carry"
_WHY_CUT = "the answer was cut off"
_WHY_NO_ANSWER = "the server closed the connection without answering"
_WHY_TLS = "TLS failed ({reason})"
_WHY_PLAIN_HTTP = "TLS failed ({reason}): the server may be speaking plain HTTP; check http:// or https://"
_WHY_UNTRUSTED = "TLS certificate not trusted ({reason})."
_WHY_ANSWERED = "{url} answered {status}"
_WHY_NOT_ON_FILE = "{path} no longer holds this sign-in"
_WHY_AUTH0_ERROR = "Auth0: {error}"
_WHY_AUTH0_STATUS = "Auth0 answered {status}"
_HINT_CLOCK = " Check this machine's clock, then the server's certificate."
_HINT_OTHER_HOST = " The certificate is for another host: check the URL."
_HINT_NO_CA_FILE = " {variable} names {path}, which is not a {kind}."
_HINT_OWN_CA = " If your network uses its own certificate authority, point SSL_CERT_FILE at its bundle."
_HINT_MACOS_CA = " With a python.org build of Python, run its 'Install Certificates' command once."
_HINT_PROXY = " (through the proxy {proxy} from {variable}; set NO_PROXY={host} to go direct)"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ArkorError(Exception):
    """A failure the user should read: its lines and an exit status. ``main``
    is the one place that prints it."""

    def __init__(self, *lines: str, status: int = _EXIT_FAILURE) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.status = status

    @property
    def message(self) -> str:
        return " ".join(self.lines)


class _AlreadySignedIn(ArkorError):
    """A login that may not replace the stored credentials (SPEC 5.0): said on
    stdout, no failure."""

    def __init__(self, how: str) -> None:
        super().__init__(_MSG_ALREADY_SIGNED_IN.format(how=how), status=_EXIT_OK)
        self.how = how


class _RefreshRefused(ArkorError):
    """Auth0 will not renew this session: only a new sign-in helps."""


class _MalformedTokens(ArkorError):
    """A token endpoint's 200 with something wrong in it; a refresh token in it
    is kept, never lost."""

    def __init__(self, line: str, refresh_token: str | None) -> None:
        super().__init__(line)
        self.refresh_token = refresh_token


# ---------------------------------------------------------------------------
# Terminal output
# ---------------------------------------------------------------------------


class _Terminal:
    """Where every line goes: results on stdout; notes, warnings and errors on
    stderr; each flushed as written, so a pipe's reader sees it at once. Every
    line passes _printable() here and nowhere else; a stream that fails (a full
    disk, a reader gone) is silenced, and remembered."""

    _RED, _YELLOW, _GREEN = "31", "33", "32"
    silences = True  # a stream that fails is pointed at the null device (_silence)

    def __init__(self, stdin: IO[str], stdout: IO[str], stderr: IO[str], env: Mapping[str, str]) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        # The legacy Windows console prints escape codes as text; Windows
        # Terminal (WT_SESSION) and terminals that set TERM render them; a dumb
        # one (Emacs' shell, some CI logs) renders none.
        self._colour = (
            "NO_COLOR" not in env
            and env.get("TERM") != "dumb"
            and (os.name != "nt" or "WT_SESSION" in env or "TERM" in env)
        )
        # Lost stdout is lost output; lost stderr, a lost warning that does not
        # undo an answer on stdout.
        self.lost_stdout = self.lost_stderr = False

    def _write(self, stream: IO[str], text: str) -> None:
        # A name or an org that the stream's encoding lacks (a Windows pipe is
        # cp1252) prints as an escape.
        encoding = getattr(stream, "encoding", None)
        if encoding and not text.isascii():
            text = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            if stream is self.stdout:
                self.lost_stdout = True
            else:
                self.lost_stderr = True
            if self.silences:
                _silence(stream)

    def passthrough(self, stream: IO[str], text: str) -> None:
        """Text of our own (argparse's help and usage), as it is."""
        if text:
            self._write(stream, text)

    def _emit(self, stream: IO[str], *lines: str, colour: str | None = None) -> None:
        for text in lines:
            line = _printable(text)  # before the colour: ours are the only escapes let through
            if colour and self._colour and _isatty(stream):
                line = f"\x1b[{colour}m{line}\x1b[0m"
            self._write(stream, line + "\n")

    def info(self, *lines: str) -> None:
        self._emit(self.stdout, *lines)

    def prompt(self, line: str) -> None:
        """A line a person must see to sign in (the URL, the paste prompt):
        login() in the API shows it."""
        self._emit(self.stdout, line)

    def success(self, line: str) -> None:
        self._emit(self.stdout, line, colour=self._GREEN)

    def note(self, line: str) -> None:
        """Information that must stay off stdout (``whoami --json``)."""
        self._emit(self.stderr, line)

    def warn(self, line: str) -> None:
        self._emit(self.stderr, line, colour=self._YELLOW)

    def error(self, *lines: str) -> None:
        self._emit(self.stderr, *lines, colour=self._RED)

    def break_line(self) -> None:
        """End the line a terminal's own ``^C`` echo left open."""
        if _isatty(self.stderr):
            self._write(self.stderr, "\n")

    def flush(self) -> None:
        """Flush what others wrote to the streams (argparse's help and usage)."""
        for stream in (self.stdout, self.stderr):
            self._write(stream, "")

    def interactive(self) -> bool:
        return _isatty(self.stdin) and _isatty(self.stdout)

    def ask(self, prompt: str) -> str | None:
        """Ask where a person sees it (stderr when stdout is redirected: ``arkor logout > log``)."""
        stream = self.stdout if _isatty(self.stdout) else self.stderr
        self._write(stream, _printable(prompt))
        answer = self.read_line()
        if answer is None:
            self._write(stream, "\n")  # Ctrl-D left the cursor after the prompt
        return answer

    def read_line(self) -> str | None:
        """One line, stripped, or None at the end; bytes that are not text
        become U+FFFD, matching nothing."""
        try:
            raw = getattr(self.stdin, "buffer", self.stdin).readline()
        except (OSError, ValueError):  # closed
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return text.strip() if text else None


def _printable(text: str) -> str:
    """``text`` as one line, every control or format character escaped as
    ``\\uXXXX``, as in JSON. Much of what is printed comes from servers and the
    callback (ids, org slugs, error bodies, Warning headers,
    error_description). Raw, a line break could forge a line, an escape
    sequence rewrite the terminal, its title or the clipboard, and a
    right-to-left override make one name read as another."""
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        else:  # as JSON writes it: UTF-16 code units, a surrogate pair beyond U+FFFF
            units = char.encode("utf-16-be", "surrogatepass")
            out.extend(f"\\u{units[i : i + 2].hex()}" for i in range(0, len(units), 2))
    return "".join(out)


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def _silence(stream: IO[str]) -> None:
    """Point a failed stream at the null device, so that neither our next line
    nor the exit's flush fails."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


# ---------------------------------------------------------------------------
# Checking JSON from outside against its shape
# ---------------------------------------------------------------------------


def _is_token(value: object) -> bool:
    # Tokens travel in a header, where anything but visible ASCII fails in an
    # error that quotes the token.
    return isinstance(value, str) and bool(value) and value.isascii() and value.isprintable() and " " not in value


def _is_seconds(value: object) -> bool:
    # bool is an int to Python, but never a time; _loads refuses 1e999; an
    # absurd expiry would never renew.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and -1e12 < value < 1e12


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a base URL, or None: "bad" (not http(s)), "port"
    (not a number from 1 to 65535) or "userinfo" (a user name or password)."""
    from urllib.parse import urlsplit

    if url != url.strip() or not url.isprintable():
        return "bad"
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracketed host that is not one
        return "bad"
    if parts.scheme.lower() not in ("http", "https"):
        return "bad"
    # Not by urlsplit's .port, which takes 0, and "+1" or " 1" on some Pythons,
    # and calls a bad port a bad URL.
    where = parts.netloc.rpartition("@")[2]
    if where.startswith("["):  # an IP literal: only ":port" may follow its "]"
        _, bracket, after = where.partition("]")
        if not bracket or (after and not after.startswith(":")):
            return "bad"
        port = after[1:]
    else:
        port = where.partition(":")[2]
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return "port"
    if not parts.hostname:
        return "bad"
    if "@" in parts.netloc:
        return "userinfo"
    return None


def _why_not_base_url(name: str, value: object) -> str:
    """Why the field ``name`` cannot be a base URL, in words: never quoting it
    (it may hold a password)."""
    problem = _url_problem(value) if isinstance(value, str) else "bad"
    return {"port": _WHY_BAD_PORT, "userinfo": _WHY_USERINFO}.get(problem or "", _WHY_NOT_URL).format(name=name)


def _shown(url: str) -> str:
    """``url`` as it may be printed. One that could be asked is shown whole:
    _url_problem refuses a user name or password in it, so an ``@`` is part
    of its path. Of any other, all before the last ``@`` is masked, as a user
    name and password would be, also where urlsplit would not find them."""
    if "@" not in url or _url_problem(url) is None:
        return url
    head, _, tail = url.rpartition("@")
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", head)
    return (scheme.group(0) if scheme else "") + "***@" + tail


def _is_plain_url(url: str) -> bool:
    """Only ASCII RFC 3986 characters: nothing a shell or launcher given the
    URL could read more into."""
    return re.fullmatch(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", url) is not None


def _is_host(value: object) -> bool:
    """A bare host (letters, digits, ``-`` and ``.``, or an IP literal) and an
    optional ``:port``, checked on the raw text: urlsplit would drop the tabs
    and line breaks an attacker puts in."""
    import ipaddress

    if not isinstance(value, str):
        return False
    match = re.fullmatch(r"(?:([A-Za-z0-9.-]+)|\[([0-9A-Fa-f:.]+)\])(?::([0-9]{1,5}))?", value)
    if match is None:
        return False
    name, literal, port = match.groups()
    if port is not None and not 0 < int(port) < 65536:
        return False
    if literal is not None:
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return False
        return True
    return ".." not in name and not name.startswith((".", "-"))


# What each annotation of the shapes above asks of a value.
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "Name": lambda v: isinstance(v, str) and bool(v),
    "Token": _is_token,
    "Seconds": _is_seconds,
    "Host": _is_host,
    "BaseUrl": lambda v: isinstance(v, str) and _url_problem(v) is None,
    "Ports": lambda v: isinstance(v, list) and all(_is_port(p) for p in v),
    "PersonalOrg": lambda v: _problem(PersonalOrg, v) is None,
    "dict[str, Any]": lambda v: isinstance(v, dict),
}


def _problem(shape: type, value: Any) -> str | None:
    """What is wrong with ``value`` as a ``shape``, or None. An optional field
    may be absent or null; ``mode`` is checked by whoever picks the shape;
    fields the shape does not name are let be."""
    if not isinstance(value, dict):
        return _WHY_NOT_OBJECT
    for cls in reversed(shape.__mro__):  # every shape above annotates fields of its own
        for name, annotation in getattr(cls, "__annotations__", {}).items():
            if name == "mode":
                continue
            if value.get(name) is None:
                if getattr(cls, "__total__", True):
                    return _WHY_MISSING.format(name=name)
            elif not _CHECKS[str(annotation)](value[name]):
                return _WHY_INVALID.format(name=name)
    return None


def _loads(text: str) -> Any:
    """``json.loads`` for text from outside: every failure is a ValueError,
    including nesting deep enough to exhaust the stack, and the NaN and
    infinities that Python takes but JSON (and Node) do not, so that what is
    read can always be written back as strict JSON."""
    import json

    def finite(literal: str) -> float:
        value = float(literal)
        if value in (float("inf"), float("-inf")):
            raise ValueError(_WHY_OUT_OF_RANGE.format(number=literal[:20]))
        return value

    def refuse(constant: str) -> Any:
        raise ValueError(_WHY_CONSTANT.format(constant=constant))

    try:
        # A byte order mark, as Windows editors write one, is not JSON but no harm.
        value = json.loads(text.removeprefix("\ufeff"), parse_float=finite, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ValueError(_WHY_JSON_ERROR.format(error=exc.msg, line=exc.lineno, column=exc.colno)) from None
    except RecursionError:
        raise ValueError(_WHY_TOO_DEEP) from None
    # json.dumps(indent=...) recurses in Python; 3.12's loads goes deeper in C.
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > 200:
            raise ValueError(_WHY_TOO_DEEP)
        if isinstance(item, (dict, list)):
            pending.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return value


# ---------------------------------------------------------------------------
# The credentials file
# ---------------------------------------------------------------------------


def _credentials_path(env: Mapping[str, str]) -> str:
    """The file under the home directory as os.path.expanduser finds it (HOME
    on POSIX, USERPROFILE on Windows), but never an empty or relative one: that
    would put the credentials in / or in whatever directory arkor runs in."""
    variable = "USERPROFILE" if sys.platform == "win32" else "HOME"
    home = env.get(variable)
    if home is None and sys.platform != "win32":  # as expanduser: the account's own
        import pwd

        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            home = None
    if not home:
        problem = _WHY_UNSET if home is None else _WHY_EMPTY_VALUE
        raise ArkorError(_MSG_NO_HOME.format(variable=variable, problem=problem))
    if not os.path.isabs(home):
        raise ArkorError(_MSG_NO_HOME.format(variable=variable, problem=_WHY_RELATIVE.format(value=home)))
    return os.path.join(home, _CREDENTIALS_DIR, _CREDENTIALS_NAME)


def _os_reason(exc: OSError) -> str:
    """The human part of an OSError, without the path we name ourselves."""
    return exc.strerror or str(exc)


def _present(path: str) -> bool:
    """Whether anything is at ``path``. Not os.path.lexists, which calls a
    path it cannot look at (in a folder it may not search) absent."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        pass  # there, or not: the read that follows names the problem
    return True


def _regular(info: os.stat_result, path: str) -> None:
    """Refuse anything at ``path`` but a regular file: a FIFO, a socket, a
    device or a folder planted there is never read, written through or removed.
    """
    if not stat.S_ISREG(info.st_mode):
        raise ArkorError(_MSG_NOT_REGULAR.format(path=path))


def _parse_credentials(raw: bytes, path: str) -> Credentials:
    """Check that ``raw`` holds credentials; say what is wrong if it does not."""

    def invalid(what: str) -> ArkorError:
        return ArkorError(_MSG_INVALID_FILE.format(path=path, what=what))

    if len(raw) > _MAX_BODY:
        raise invalid(_WHY_TOO_LARGE)
    try:
        data = _loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid(_WHY_NOT_TEXT) from None
    except ValueError as exc:
        raise invalid(_WHY_FILE_NOT_JSON.format(reason=exc)) from None
    if not isinstance(data, dict):
        raise invalid(_WHY_NOT_OBJECT)
    mode = data.get("mode")
    shape = _MODES.get(mode) if isinstance(mode, str) else None
    if shape is None:
        raise invalid(_WHY_UNKNOWN_MODE.format(mode=mode) if "mode" in data else _WHY_NO_MODE)
    if "arkorCloudApiUrl" in data and not _CHECKS["BaseUrl"](data["arkorCloudApiUrl"]):
        # Never read as "absent": that would send this token to the default
        # deployment, which did not issue it.
        raise invalid(_why_not_base_url("arkorCloudApiUrl", data["arkorCloudApiUrl"]))
    problem = _problem(shape, data)
    if problem:
        raise invalid(problem)
    return data  # type: ignore[return-value]


class _OnFile:
    """What the credentials file holds at one moment: the one way it is read.

    ``exists`` is false when there is no file; ``raw`` is its bytes (None
    when they cannot be read); ``stored``, the credentials in them (None when
    they are not valid credentials, and ``problem`` then says why). Anything
    but a regular file at the path raises here: it is never read or touched.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.raw: bytes | None = None
        self.stored: Credentials | None = None
        self.problem: ArkorError | None = None
        # Only a regular file is read, and the open cannot block (O_NONBLOCK: a
        # FIFO planted at the path would otherwise wait for a writer forever).
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(path, flags)
            try:
                _regular(os.fstat(fd), path)
                with open(fd, "rb", closefd=False) as f:
                    self.raw = f.read(_MAX_BODY + 1)
            finally:
                os.close(fd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            if os.path.exists(path):  # a socket cannot be opened (ENXIO): say what it is
                _regular(os.stat(path), path)
            self.problem = ArkorError(_MSG_CANNOT_READ.format(path=path, reason=_os_reason(exc)))
        if self.raw is not None:
            try:
                self.stored = _parse_credentials(self.raw, path)
            except ArkorError as exc:
                self.problem = exc
        self.exists = self.raw is not None or self.problem is not None

    @property
    def key(self) -> object:
        """What a write compares (SPEC 3.1): the same anonymous id, the same
        OAuth refresh token (a renewal elsewhere changes it), or the same
        bytes of a file that is not valid credentials; None: no file."""
        if self.stored is None:
            return ("raw", self.raw) if self.exists else None
        if self.stored["mode"] == "anon":
            return ("anon", self.stored["anonymousId"])
        return ("oauth", self.stored["refreshToken"])

    @property
    def identity(self) -> object:
        """Who the file signs in, for logout's question: a renewal meanwhile
        changes the tokens, not the identity; a new sign-in changes it."""
        if self.stored is None or self.stored["mode"] == "anon":
            return self.key
        return ("oauth", self.stored["auth0Domain"], self.stored["clientId"], self.stored["audience"])


def _read_credentials(path: str) -> Credentials | None:
    """The stored credentials, None when there is no file; an error naming a
    broken one, left as it is."""
    on_file = _OnFile(path)
    if on_file.problem is not None:
        raise on_file.problem
    return on_file.stored


def _payload(path: str, data: Credentials) -> bytes:
    """``data`` as the file's bytes, indented as the Node CLI writes it, but
    compact when that would pass the size limit (fields another tool wrote
    compactly stay so)."""
    import json

    compact: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}
    for options in ({"indent": 2}, compact):
        text = json.dumps(data, allow_nan=False, **options) + "\n"
        # A lone surrogate (JSON may escape one; Node writes "\ud800") has no
        # UTF-8: it stays escaped, as it came.
        text = re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)
        payload = text.encode("utf-8")
        if len(payload) <= _MAX_BODY:
            _parse_credentials(payload, path)  # what the next read will do; a bug if it refuses
            return payload
    raise ArkorError(_MSG_TOO_LARGE_TO_WRITE.format(path=path))


def _write_credentials(path: str, data: Credentials) -> str | None:
    """Replace the file with ``data``; a warning when it could not be made
    private. A reader sees the old file or the whole new one, never a torn one:
    the bytes go to a temporary file beside it, flushed to disk, then renamed
    over it in one step."""
    directory = os.path.dirname(path)
    payload = _payload(path, data)
    tmp = os.path.join(directory, f".{_CREDENTIALS_NAME}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    # O_EXCL: the name is created here or not at all, so a link planted at it
    # is never followed. Mode 0600 from the first instant: no one else opens it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise ArkorError(_MSG_CANNOT_WRITE.format(path=path, reason=_os_reason(exc))) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        warning = None
        # Some filesystems ignore the creation mode (a umask only narrows it),
        # and some network mounts refuse chmod: failing over it helps nobody.
        if os.name == "posix":  # Windows: the profile directory's ACL protects it
            try:
                os.chmod(tmp, 0o600)
            except OSError as exc:
                warning = _MSG_NOT_PRIVATE.format(path=path, reason=_os_reason(exc))
        _when_not_busy(lambda: os.replace(tmp, path))
    except BaseException as exc:
        # Whatever went wrong (a full disk, Ctrl-C), leave no stray file
        # behind and the old credentials as they were.
        try:
            os.remove(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ArkorError(_MSG_CANNOT_WRITE.format(path=path, reason=_os_reason(exc))) from None
        raise
    if os.name == "posix":  # the rename itself made durable; best effort
        try:
            directory_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)
        except OSError:
            pass
    return warning


def _private_directory(directory: str) -> str | None:
    """Create ``~/.arkor`` 0700, or make an existing one private: anyone who
    may write it may delete or swap the credentials and the lock. Return a
    warning when it was tightened; refuse a loose one that another user owns.
    """
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.name != "posix":  # Windows: the profile directory's ACL protects it
        return None
    info = os.stat(directory)
    if not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if info.st_uid != os.getuid():  # type: ignore[attr-defined,unused-ignore]  # POSIX only
        raise ArkorError(_MSG_DIRECTORY_NOT_OURS.format(path=directory, uid=info.st_uid))
    # As with the file (_write_credentials): a mount that refuses or ignores
    # modes (a Windows drive under WSL, vfat) gets a warning, not a failure.
    try:
        os.chmod(directory, 0o700)
        loose = os.stat(directory).st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    except OSError as exc:
        return _MSG_NOT_PRIVATE.format(path=directory, reason=_os_reason(exc))
    if loose:
        return _MSG_NOT_PRIVATE.format(path=directory, reason=_WHY_MODES_IGNORED)
    return _MSG_DIRECTORY_TIGHTENED.format(path=directory, mode=stat.S_IMODE(info.st_mode))


def _when_not_busy(change: Callable[[], None]) -> None:
    """``change`` (os.replace, os.remove), retried briefly while Windows
    says the file is busy (another process, a virus scanner or an editor has
    it open): a removal after a revocation must not give up at once."""
    attempts = 10 if os.name == "nt" else 1
    for attempt in range(1, attempts + 1):
        try:
            change()
            return
        except PermissionError:
            if attempt == attempts:
                raise
            time.sleep(0.05 * attempt)


def _try_lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # the first byte stands for the file
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------
# One run's context
# ---------------------------------------------------------------------------


class _Context:
    """What one run of a command shares: the terminal; the environment (read
    here and nowhere else) and the bounds that follow from it; the notes and
    deprecation notice said when the command ends; whether it changed the
    stored credentials (its work then stands even if its output is lost).
    ``api``: a Python API run, whose warnings go to the ``arkor`` logger, never
    to the caller's streams."""

    def __init__(self, term: _Terminal, env: Mapping[str, str], api: bool = False) -> None:
        self.term, self.env, self.api = term, env, api
        self.deprecation: str | None = None
        self.notes: list[str] = []
        self.changed = False

    @classmethod
    def of(
        cls,
        env: Mapping[str, str] | None = None,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> _Context:
        """A run on ``env`` and the streams given, or this process's own (or _missing_stream)."""
        env = os.environ if env is None else env
        stdin = stdin if stdin is not None else sys.stdin or _missing_stream()
        stdout = stdout if stdout is not None else sys.stdout or _missing_stream()
        stderr = stderr if stderr is not None else sys.stderr or _missing_stream()
        return cls(_Terminal(stdin, stdout, stderr, env), env)

    def note(self, line: str) -> None:
        """A warning to say when the command ends: once, however often met (a login locks twice)."""
        if line not in self.notes:
            self.notes.append(line)

    def warn(self, line: str) -> None:
        if self.api:
            import logging

            logger = logging.getLogger(_PROG)
            if not logger.handlers:  # a library's manners: silent unless the caller configures logging
                logger.addHandler(logging.NullHandler())
            logger.warning("%s", _printable(line))
        else:
            self.term.warn(line)

    def can_ask(self) -> bool:
        """Whether a question may be asked (SPEC 1): a person at a terminal, and not in CI."""
        return not self.api and self.term.interactive() and not self.env.get("CI")

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question whose default is No (end of input included)."""
        return (self.term.ask(question) or "").lower() in ("y", "yes")

    def lock_wait(self) -> float:
        """How long to wait for the lock: one request's bound, and room (SPEC 3.1)."""
        timeout = self.http_timeout()
        return timeout + min(timeout, _LOCK_SLACK)

    def revoke_timeout(self) -> float:
        return min(_REVOKE_TIMEOUT, self.http_timeout())

    def http_timeout(self) -> float:
        raw = self.env.get("ARKOR_HTTP_TIMEOUT", "")
        if not raw.strip():
            return _DEFAULT_TIMEOUT
        try:
            return _seconds(raw)
        except ValueError as exc:
            raise ArkorError(_MSG_BAD_ENV_SECONDS.format(name="ARKOR_HTTP_TIMEOUT", problem=exc)) from None


def _missing_stream() -> IO[str]:
    """A stream the process was started without (``arkor whoami >&-``,
    pythonw): every write fails, so the output counts as lost (see main); a
    read finds the end."""
    stream = io.StringIO()
    stream.close()
    return stream


def _seconds(text: str) -> float:
    """A positive number of seconds, at most a week; ValueError saying why not."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:  # also NaN
        raise ValueError(_MSG_BAD_SECONDS.format(text=repr(text)))
    if value > _MAX_SECONDS:
        raise ValueError(_MSG_TOO_MANY_SECONDS.format(limit=_MAX_SECONDS, text=repr(text)))
    return value


# ---------------------------------------------------------------------------
# Changing the credentials file: compare before writing, signals held
# ---------------------------------------------------------------------------


class _Change:
    """One change to the credentials file, made as every change is (SPEC 3.1):
    under a lock beside it, the file read again just before it is replaced or
    removed, and changed only when it still holds what the command read or
    showed (``expected``; by default, what is there when the lock is taken),
    since the Node CLI writes it without the lock.

    Without the lock, two refreshes at once would spend the same refresh
    token twice, and with rotation the second write could keep a token the
    server has already replaced; a login or logout in the middle would be
    overwritten. The lock file is never removed (two holders could then get
    in at once). Taking it proves that the directory can be written: a login
    takes it before it sends anything, so it never mints what it cannot store.

    ``send(request)`` holds SIGINT, SIGTERM and SIGHUP until the change is
    over: what a server has done (an identity minted, a refresh token
    rotated, a session revoked) cannot be undone, so no signal may end the
    command between the request and its outcome on disk; the request's
    deadline bounds the hold. Once the lock is released, a signal held ends
    the command as it would have: Ctrl-C with 130, SIGTERM and SIGHUP with
    their default end."""

    def __init__(self, ctx: _Context, path: str, expected: _OnFile | None = None) -> None:
        self.ctx, self.path, self._expected = ctx, path, expected
        self._wait = ctx.lock_wait()
        self._fd = -1  # the lock's, while it is held
        self._held: dict[int, Any] = {}  # signal: the handler it had
        self._caught: list[int] = []
        self.found: _OnFile  # what the file holds, as last read
        self.expected: _OnFile  # what it must still hold for a change to go ahead

    def __enter__(self) -> _Change:  # noqa: PYI034 - private, never subclassed
        self._fd = self._lock(self.path + ".lock")
        try:
            self.found = _OnFile(self.path)
        except BaseException:
            self.__exit__()
            raise
        self.expected = self._expected if self._expected is not None else self.found
        return self

    def _lock(self, path: str) -> int:
        """The lock's descriptor, once taken. A holder makes at most one
        request, so the wait is its bound (lock_wait); after a second, the
        user hears why."""
        directory = os.path.dirname(path)
        # O_NONBLOCK: a FIFO planted at the path must not hold the open.
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        flags |= getattr(os, "O_BINARY", 0)
        try:
            tightened = _private_directory(directory)
            if tightened:
                self.ctx.note(tightened)  # said when the command ends, lock or no lock
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise ArkorError(_MSG_CANNOT_WRITE.format(path=path, reason=_os_reason(exc))) from None
        try:
            if not os.access(directory, os.W_OK):  # the lock file is there, but no new file could be
                raise ArkorError(_MSG_CANNOT_WRITE.format(path=directory, reason=os.strerror(errno.EACCES)))
            _regular(os.fstat(fd), path)
            start = time.monotonic()
            said = False
            while not _try_lock(fd):
                waited = time.monotonic() - start
                if waited >= _LOCK_NOTICE and not said:  # before giving up: a wait that long is always said
                    self.ctx.warn(_MSG_LOCK_WAITING.format(path=path))
                    said = True
                if waited >= self._wait:
                    raise ArkorError(_MSG_LOCK_TIMEOUT.format(path=path))
                time.sleep(0.05)
        except BaseException:  # refused, given up, or Ctrl-C while waiting: no descriptor left open
            os.close(fd)
            raise
        return fd

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd >= 0:
                _unlock(self._fd)
                os.close(self._fd)
                self._fd = -1
        finally:
            if self._held:  # only send() held any: a change that sent nothing gives nothing back
                import signal

                held, self._held = self._held, {}
                for number, handler in held.items():
                    signal.signal(number, handler if handler is not None else signal.SIG_DFL)
                if self._caught:
                    signal.raise_signal(self._caught.pop(0))  # under the handler it had: as it would have ended

    def send(self, request: Callable[[], _T]) -> _T:
        import signal
        import threading

        # Only the main thread can set handlers: a Python API call from another holds nothing.
        if not self._held and threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                number = getattr(signal, name, None)  # no SIGHUP on Windows
                if number is not None:
                    self._held[number] = signal.signal(number, self._catch)
        return request()

    def _catch(self, number: int, frame: object) -> None:
        self._caught.append(number)

    def _unchanged(self) -> bool:
        self.found = _OnFile(self.path)
        return self.found.key == self.expected.key

    def store(self, data: Credentials) -> bool:
        """Replace the file with ``data``; False, writing nothing, when it
        changed (see ``found``)."""
        if not self._unchanged():
            return False
        warning = _write_credentials(self.path, data)
        if warning:
            self.ctx.note(warning)
        return True

    def remove(self) -> bool:
        """Remove the file; False, removing nothing, when it changed."""
        if not self._unchanged():
            return False
        try:
            _when_not_busy(lambda: os.remove(self.path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ArkorError(_MSG_CANNOT_REMOVE.format(path=self.path, reason=_os_reason(exc))) from None
        return True


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


class _Reply:
    """One HTTP answer, read whole (up to the size cap); ``cut``: the server
    hung up before the whole body came (its status still stands)."""

    def __init__(self, method: str, url: str, status: int, headers: HTTPMessage, body: bytes, cut: bool) -> None:
        self.method, self.url, self.status, self.headers, self.body, self.cut = method, url, status, headers, body, cut

    @property
    def ok(self) -> bool:
        """Success, one notion per kind of request: a read (GET) is answered
        200, with what was asked for; a change (POST), any 2xx."""
        return self.status == 200 if self.method == "GET" else 200 <= self.status < 300

    def unexpected(self, what: str) -> ArkorError:
        """The error for an answer that is not what the endpoint promises."""
        url = _shown(self.url)
        return ArkorError(_MSG_UNEXPECTED.format(method=self.method, url=url, status=self.status, what=what))

    def failed(self) -> ArkorError:
        """The error for a status the endpoint should not have answered."""
        url, body = _shown(self.url), _snippet(self)
        return ArkorError(_MSG_REQUEST_FAILED.format(method=self.method, url=url, status=self.status, body=body))

    def json(self, quote: bool = True) -> Any:
        """The body as JSON, or the error naming the endpoint and status; the
        body is quoted unless ``quote`` is false (a token endpoint's answer
        may hold tokens even when it is not valid JSON)."""
        if self.cut:
            raise self.failed()
        try:
            return _loads(self.body.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
            quoted = _snippet(self, title_only=not quote)
            raise self.unexpected(_WHY_NOT_JSON.format(reason=exc) + (f": {quoted}" if quoted else "")) from None

    def json_or_none(self) -> Any:
        """The body as JSON, or None: for bodies that only may say more."""
        try:
            return self.json()
        except ArkorError:
            return None

    def checked(self, shape: type, quote: bool = True) -> Any:
        """The body as JSON of ``shape``, or the error saying what is wrong."""
        body = self.json(quote)
        problem = _problem(shape, body)
        if problem:
            raise self.unexpected(problem)
        return body


def _snippet(reply: _Reply, title_only: bool = False) -> str:
    """At most one short line of an unexpected body, for an error message:
    an HTML page (a proxy's, a portal's) by its title, never the page.
    ``title_only``: a body that may hold tokens is quoted only if HTML."""
    text = reply.body[: _SNIPPET * 20].decode("utf-8", "replace")
    content_type = reply.headers.get("Content-Type", "")
    if "html" in content_type.lower() or re.match(r"\s*<(!doctype html|html)", text, re.IGNORECASE):
        title = re.search(r"<title[^>]*>([^<]*)</title", text, re.IGNORECASE | re.DOTALL)
        text = _WHY_HTML_TITLED.format(title=" ".join(title.group(1).split())) if title else _WHY_HTML
    elif title_only:
        return ""
    text = " ".join(text.strip().splitlines()[:1])
    if reply.cut or not text:
        return _WHY_CUT if reply.cut else _WHY_EMPTY
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "\u2026"


def _proxies(env: Mapping[str, str]) -> dict[str, str]:
    """urllib.request.getproxies_environment() on the run's ``env`` (lower
    case wins, and empty unsets), without its CGI rule (no HTTP_PROXY when
    REQUEST_METHOD is set): this is no CGI script."""
    proxies = {name[:-6].lower(): value for name, value in env.items() if value and name[-6:].lower() == "_proxy"}
    proxies.update({name[:-6].lower(): value for name, value in env.items() if name[-6:] == "_proxy"})
    return {scheme: value for scheme, value in proxies.items() if value}


def _proxy(url: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy urllib sends ``url`` through, as it may be printed, or None
    (NO_PROXY, by urllib's rule). Only ``[http://][user:pass@]host:port``:
    for https:// urllib would send a CONNECT, password and all, in clear."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass_environment(parts.netloc, proxies):  # type: ignore[attr-defined]
        return None
    try:
        kind, user, _, where = urllib.request._parse_proxy(proxy)  # type: ignore[attr-defined]
    except ValueError:  # its text quotes the proxy URL, password and all
        kind = where = ""
    if kind not in (None, "http") or not _is_host(where):
        raise ArkorError(_MSG_BAD_PROXY.format(variable=f"{parts.scheme.upper()}_PROXY"))
    return f"http://{'***@' if user is not None else ''}{where}"


def _opener(seconds: float, env: Mapping[str, str]) -> OpenerDirector:
    """urllib's opener, changed only where this CLI needs it: the proxies of
    the run's ``env``; redirects never to a URL with a password (it would
    reach DNS) or of a scheme but http(s), and without the token once the
    origin changes (urllib would forward it); a
    1xx (103 Early Hints) skipped, as http.client skips a 100; and one
    deadline, ``seconds``, for the whole exchange: the name lookup, each
    connect, a proxy's CONNECT, TLS and every read get only the time left,
    so that no server can stretch it by dripping."""
    import http.client
    import socket
    import ssl
    import threading
    import urllib.request
    from urllib.parse import urlsplit

    end, proxies = time.monotonic() + seconds, _proxies(env)

    def left() -> float:
        if time.monotonic() >= end:
            raise TimeoutError(_WHY_TIMED_OUT)
        return end - time.monotonic()

    class Socket(socket.socket):
        def recv_into(self, *args: Any, **kwargs: Any) -> int:
            self.settimeout(left())
            return super().recv_into(*args, **kwargs)

    class TLSSocket(Socket, ssl.SSLSocket):  # what the handshake turns a Socket into
        pass

    def connect(address: tuple[str, int], *_: object) -> Socket:
        found: list[Any] = []  # the addresses, or what the lookup raised

        def lookup() -> None:  # in a thread: getaddrinfo takes no timeout
            try:
                found.append(socket.getaddrinfo(*address, 0, socket.SOCK_STREAM))
            except BaseException as exc:  # noqa: BLE001 - raised below, in the caller's thread
                found.append(exc)

        thread = threading.Thread(target=lookup, name="arkor-resolve", daemon=True)
        thread.start()
        thread.join(left())
        if not found or isinstance(found[0], BaseException):
            raise found[0] if found else TimeoutError(_WHY_TIMED_OUT)
        last = OSError(_WHY_NO_ADDRESS)
        for family, kind, proto, _, where in found[0]:  # each gets only what those before it left
            sock = Socket(family, kind, proto)
            try:
                sock.settimeout(left())
                sock.connect(where)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise last

    class Response(http.client.HTTPResponse):
        def _read_status(self) -> tuple[str, int, str]:
            status: tuple[str, int, str] = super()._read_status()  # type: ignore[misc]
            while 100 < status[1] < 200:
                http.client.parse_headers(self.fp)
                status = super()._read_status()  # type: ignore[misc]
            return status

    class Connection(http.client.HTTPConnection):
        response_class = Response

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class TLSConnection(Connection, http.client.HTTPSConnection):
        pass

    class Handler(urllib.request.HTTPSHandler, urllib.request.HTTPHandler):
        def __init__(self) -> None:  # not HTTPSHandler's: it loads a trust store (3.12+) that http:// never needs
            urllib.request.AbstractHTTPHandler.__init__(self)

        def http_open(self, req: Request) -> HTTPResponse:
            return self.do_open(Connection, req)

        def https_open(self, req: Request) -> HTTPResponse:
            context = _tls_context(env)
            context.sslsocket_class = TLSSocket
            return self.do_open(TLSConnection, req, context=context)

    class Proxies(urllib.request.ProxyHandler):
        def proxy_open(self, req: Request, proxy: str, type: str) -> Any:  # urllib's NO_PROXY check reads os.environ
            return None if _proxy(req.full_url, proxies) is None else super().proxy_open(req, proxy, type)

    class Redirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: Request, fp: IO[bytes], *rest: Any) -> Request | None:
            new = None if _url_problem(rest[-1]) else super().redirect_request(req, fp, *rest)  # rest[-1]: where to
            if new is not None:
                fp.close()  # urllib would read this body whole, uncapped, before it goes on
                # urllib copies every header; the proxy's sign-in is added
                # again if the next request goes through it.
                new.remove_header("Proxy-authorization")
                if urlsplit(new.full_url)[:2] != urlsplit(req.full_url)[:2]:  # scheme, host and port, as written
                    new.remove_header("Authorization")  # a token only ever reaches the origin it was issued for
            return new

    return urllib.request.build_opener(Proxies(proxies), Redirects, Handler())


def _http(
    method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, seconds: float, env: Mapping[str, str]
) -> _Reply:
    """Send one request through the opener and read its answer, all within
    ``seconds``. Any status comes back as a reply, one whose body was cut
    off included; failing to talk to the server at all (DNS, refused, TLS,
    timeout, no answer) raises ``Could not reach <url>: <reason>``."""
    import http.client
    import urllib.error
    import urllib.request

    for name, value in headers.items():
        if not (value.isascii() and value.isprintable()):
            raise ArkorError(_MSG_BAD_HEADER.format(name=name, url=_shown(url)))
    request = urllib.request.Request(url, body, {"User-Agent": f"{_PROG}/{__version__}", **headers}, method=method)
    try:
        try:
            response = _opener(seconds, env).open(request)
        except urllib.error.HTTPError as error:  # urllib's word for any status but 2xx: an answer all the same
            response, _error = error.fp, error  # kept: the error closes its response when it goes
        try:  # up to one byte over the cap, which is refused below
            raw, cut = response.read(_MAX_BODY + 1), False
        except (http.client.IncompleteRead, ConnectionError) as exc:  # a broken chunk, or a reset
            raw, cut = getattr(exc, "partial", b""), True
        finally:
            response.close()
        # Short of its Content-Length, which http.client counts down (and
        # ignores beside chunked, RFC 9112 §6.3).
        cut = cut or (bool(response.length) and len(raw) <= _MAX_BODY)
    except (OSError, http.client.HTTPException, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot spell
        raise _unreachable(url, exc.reason if isinstance(exc, urllib.error.URLError) else exc, env) from None
    except (ValueError, OverflowError) as exc:
        # A malformed answer (a bad Location, say): our request was checked
        # before it was sent, so the text is about the answer, with no token.
        raise ArkorError(_MSG_MALFORMED.format(method=method, url=_shown(url), what=str(exc)[:_SNIPPET])) from None
    if len(raw) > _MAX_BODY:
        raise ArkorError(_MSG_TOO_LARGE.format(method=method, url=_shown(url), status=response.status))
    return _Reply(method, url, response.status, response.headers, raw, cut)


def _tls_context(env: Mapping[str, str]) -> SSLContext:
    """The system's trust store, or what ``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` name in its place, read from the run's ``env`` (OpenSSL
    would read the process's). As in OpenSSL, a named bundle that is not
    there adds nothing (the trust hint then names it)."""
    import ssl

    cafile, capath = env.get("SSL_CERT_FILE") or None, env.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return ssl.create_default_context()
    if cafile is not None and not os.path.isfile(cafile):
        cafile, capath = None, capath or cafile  # a folder lookup in a path that is no folder finds nothing
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _unreachable(url: str, reason: object, env: Mapping[str, str]) -> ArkorError:
    """``Could not reach``, naming a proxy on the way: it is then the likely culprit."""
    from urllib.parse import urlsplit

    parts, proxy, why = urlsplit(url), _proxy(url, _proxies(env)), _net_reason(reason, env)
    if proxy:
        why += _HINT_PROXY.format(proxy=proxy, variable=f"{parts.scheme.upper()}_PROXY", host=parts.hostname)
    return ArkorError(_MSG_UNREACHABLE.format(url=_shown(url), reason=why))


def _net_reason(reason: object, env: Mapping[str, str]) -> str:
    """Why a connection failed, in words, with what to do where we know it."""
    import http.client
    import socket
    import ssl

    if isinstance(reason, ssl.SSLCertVerificationError):
        text = _WHY_UNTRUSTED.format(reason=str(reason.verify_message or reason.reason).rstrip("."))
        if reason.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return text + _HINT_CLOCK
        if reason.verify_code in (62, 64):  # host name or IP address mismatch
            return text + _HINT_OTHER_HOST
        return text + _trust_hint(env)
    if isinstance(reason, ssl.SSLError):
        # An https:// URL that reached a plain-HTTP server: its answer is no TLS record.
        plain = reason.reason == "WRONG_VERSION_NUMBER"
        return (_WHY_PLAIN_HTTP if plain else _WHY_TLS).format(reason=reason.reason or reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return _WHY_TIMED_OUT
    if isinstance(reason, socket.gaierror):
        return _WHY_NO_NAME.format(reason=reason.strerror or reason)
    if isinstance(reason, UnicodeError):  # IDNA cannot spell it: a label over 63 characters, say
        return _WHY_BAD_NAME
    if isinstance(reason, http.client.RemoteDisconnected):
        return _WHY_NO_ANSWER
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return " ".join(str(reason).split())[:_SNIPPET] or type(reason).__name__


def _trust_hint(env: Mapping[str, str]) -> str:
    """What to do about a certificate this machine does not trust."""
    cafile, capath = env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR")
    if cafile and not os.path.isfile(cafile):
        return _HINT_NO_CA_FILE.format(variable="SSL_CERT_FILE", path=cafile, kind="file")
    if capath and not os.path.isdir(capath):
        return _HINT_NO_CA_FILE.format(variable="SSL_CERT_DIR", path=capath, kind="folder")
    return _HINT_OWN_CA + (_HINT_MACOS_CA if sys.platform == "darwin" else "")


# ---------------------------------------------------------------------------
# The cloud-api: base URL, version gate, deprecation notices
# ---------------------------------------------------------------------------


def _upgrade_fix(module_file: str | None = None, prefix: str | None = None, executable: str | None = None) -> str:
    """How to upgrade this copy of arkor, by how it was installed: a pipx
    venv carries ``pipx_metadata.json``, a uv tool venv ``uv-receipt.toml``;
    any other site-packages is pip's; anything else is a copied file."""
    module_file = os.path.abspath(module_file or __file__)
    prefix = sys.prefix if prefix is None else prefix
    executable = sys.executable if executable is None else executable
    parts = module_file.replace("\\", "/").split("/")
    if "site-packages" not in parts and "dist-packages" not in parts:
        return _MSG_REPLACE_FILE.format(path=module_file)
    for receipt, tool in (("pipx_metadata.json", "pipx"), ("uv-receipt.toml", "uv tool")):
        if os.path.isfile(os.path.join(prefix, receipt)):
            return _MSG_UPGRADE.format(command=f"{tool} upgrade {_DISTRIBUTION}")
    source = _installed_from(os.path.dirname(module_file)) or _DISTRIBUTION
    command = [executable, "-m", "pip", "install", "--upgrade", source]
    return _MSG_UPGRADE.format(command=" ".join(f'"{word}"' if " " in word else word for word in command))


def _installed_from(site: str) -> str | None:
    """The folder pip installed this copy from (``pip install .`` in a
    checkout), as PEP 610's direct_url.json records it; None for a copy
    from the package index or a wheel file."""
    import glob
    import json
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    for record in glob.glob(os.path.join(glob.escape(site), "arkor_cli-*.dist-info", "direct_url.json")):
        try:
            with open(record, encoding="utf-8") as f:
                origin = json.load(f)
        except (OSError, ValueError):
            continue
        url = origin.get("url") if isinstance(origin, dict) else None
        if isinstance(url, str) and url.startswith("file:") and "dir_info" in origin:
            return url2pathname(urlsplit(url).path)
    return None


def _unsupported_message(reply: _Reply) -> str:
    """The 426 message: precise with the gate's JSON body, generic without."""
    fix = _upgrade_fix()
    body = reply.json_or_none()
    if not isinstance(body, dict):
        return _MSG_UNSUPPORTED_BARE.format(fix=fix)
    reason = body.get("reason")
    if reason in ("missing", "malformed"):  # the gate could not read our X-Arkor-Client
        return _MSG_CLIENT_HEADER.format(reason=reason, fix=fix)
    current, supported = body.get("currentVersion"), body.get("supportedRange")
    if body.get("error") == "sdk_version_unsupported" and all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in (current, supported)
    ):
        return _MSG_UNSUPPORTED.format(current=current, supported=supported, fix=fix)
    return _MSG_UNSUPPORTED_BARE.format(fix=fix)


def _deprecation_message(headers: HTTPMessage) -> str:
    """The end-of-command warning for a ``Deprecation: true`` answer."""
    warning = headers.get("Warning")
    message = _MSG_DEPRECATED.format(version=__version__)
    if warning:
        # RFC 7234 warn-value: 299 <agent> "<text>" [<date>]
        match = re.match(r'\s*299\s+\S+\s+"((?:[^"\\]|\\.)*)"', warning)
        message = re.sub(r"\\(.)", r"\1", match.group(1)) if match else warning.strip()
    sunset = (headers.get("Sunset") or "").strip()
    cutoff = f" Cutoff: {sunset}." if sunset else ""
    return _MSG_DEPRECATION.format(message=message, version=__version__, cutoff=cutoff, fix=_upgrade_fix())


class _CloudApi:
    """The Arkor cloud-api at one base URL. Every answer passes the version
    gate: a 426 stops the command; a ``Deprecation`` header is recorded (the
    latest wins) in the context."""

    def __init__(self, base: str, source: str, ctx: _Context) -> None:
        self.base, self.source, self.ctx = base, source, ctx

    def check(self) -> None:
        """Refuse a base URL that cannot be asked, or must not be: one with a
        password would carry it into DNS and logs."""
        problem = _url_problem(self.base)
        if problem == "userinfo":
            raise ArkorError(_MSG_URL_USERINFO.format(source=self.source, url=_shown(self.base)))
        if problem:  # shown like any URL: never with a password, even a malformed one
            message = _MSG_BAD_PORT if problem == "port" else _MSG_BAD_URL
            raise ArkorError(message.format(source=self.source, url=repr(_shown(self.base))))

    def hint(self, reply: _Reply, signed_in: bool = False) -> str | None:
        """What a failed status more likely means, where it says more than
        the status: a 404 is most often a wrong base URL (one ending in
        /v1, say), a 5xx the cloud-api's own failure."""
        if reply.status == 404:
            return _MSG_NOT_FOUND.format(url=_shown(reply.url), base=_shown(self.base), source=self.source)
        if 500 <= reply.status < 600:
            server_error = _MSG_SERVER_ERROR_SIGNED_IN if signed_in else _MSG_SERVER_ERROR
            return server_error.format(url=_shown(reply.url), status=reply.status)
        return None

    def failed(self, reply: _Reply) -> ArkorError:
        """The error for a status the endpoint should not have answered, with its hint."""
        error = reply.failed()
        hint = self.hint(reply)
        return ArkorError(*error.lines, hint) if hint else error

    def request(self, method: str, path: str, *, token: str | None = None, json_body: Any = None) -> _Reply:
        self.check()
        headers = {"Accept": "application/json", "X-Arkor-Client": f"{_PROG}/{__version__}"}
        body = None
        if json_body is not None:
            import json

            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        reply = _http(
            method, self.base + path, headers=headers, body=body, seconds=self.ctx.http_timeout(), env=self.ctx.env
        )
        if (reply.headers.get("Deprecation") or "").strip().lower() == "true":
            self.ctx.deprecation = _deprecation_message(reply.headers)
        if reply.status == 426:
            raise ArkorError(_unsupported_message(reply))
        return reply


def _cloud_api(ctx: _Context, stored: Credentials | None = None, path: str = "") -> _CloudApi:
    """The cloud-api to talk to: ARKOR_CLOUD_API_URL, then the stored one, then the default."""
    if "ARKOR_CLOUD_API_URL" in ctx.env:  # set-but-empty is honoured, and fails loudly
        return _CloudApi(ctx.env["ARKOR_CLOUD_API_URL"].rstrip("/"), "ARKOR_CLOUD_API_URL", ctx)
    if stored is not None and "arkorCloudApiUrl" in stored:
        return _CloudApi(stored["arkorCloudApiUrl"].rstrip("/"), f"arkorCloudApiUrl in {path}", ctx)
    return _CloudApi(_DEFAULT_API_URL, "the default cloud-api URL", ctx)


# ---------------------------------------------------------------------------
# OAuth 2.0 Authorization Code + PKCE, and the loopback listener
# ---------------------------------------------------------------------------

_CALLBACK_PATH = "/callback"
# Text-mode browsers would take over the terminal the CLI is waiting in.
_TEXT_BROWSERS = frozenset({"lynx", "links", "links2", "elinks", "w3m", "www-browser"})
_SIGNED_IN_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_MSG_SIGNED_IN_PAGE_TITLE}</title></head>
<body style="font-family: system-ui, sans-serif; margin: 4rem auto; max-width: 32rem; text-align: center">
<h1>{_MSG_SIGNED_IN_PAGE_TITLE}</h1><p>The sign-in worked. You can close this tab and return to the terminal.</p>
</body></html>
""".encode()


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


def _authorize_url(config: CliConfig, redirect_uri: str, state: str, challenge: str) -> str:
    from urllib.parse import urlencode

    query = urlencode(
        {
            "response_type": "code",
            "client_id": config["clientId"],
            "redirect_uri": redirect_uri,
            "scope": "openid profile email offline_access",
            "audience": config["audience"],
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"https://{config['auth0Domain']}/authorize?{query}"


class _Callback:
    """The one answer the login waits for: a code, or why there is none. The
    first callback decides: a second tab or a replayed request changes nothing.
    """

    def __init__(self, state: str) -> None:
        import threading

        self._state = state
        self._lock = threading.Lock()
        self._decided = False
        self.done = threading.Event()  # set once the browser has its answer
        self.code: str | None = None
        self.failure: str | None = None

    def ours(self, state: str) -> bool:
        """Whether this sign-in issued ``state``, compared in constant time."""
        import hmac

        return hmac.compare_digest(state.encode("utf-8", "surrogatepass"), self._state.encode())

    def decide(self, params: Mapping[str, list[str]]) -> tuple[int, str] | None:
        """The HTTP status and text for the browser; None once the login is decided."""
        with self._lock:
            if self._decided:
                return None
            self._decided = True
        error, code, state = ((params.get(name) or [""])[0] for name in ("error", "code", "state"))
        if error:
            description = (params.get("error_description") or [""])[0]
            self.failure = _MSG_AUTH_DENIED.format(error=error) + (f". {description}" if description else "")
            return 400, self.failure
        if not code or not state:
            self.failure = _MSG_MISSING_CODE
            return 400, _MSG_CALLBACK_MISSING_CODE
        if not self.ours(state):
            # A state this process did not issue (a stale tab, a page forging
            # the request): exchanging its code could sign the user in as
            # somebody else (login CSRF, RFC 6749 §10.12).
            self.failure = _MSG_STATE_MISMATCH
            return 400, self.failure
        self.code = code
        return 200, ""


def _split_target(target: str) -> tuple[str, str, str]:
    """A request target, origin-form or absolute-form (RFC 9112 §3.2), as
    (path, "?", query); not by urlsplit, which raises on some junk."""
    target = target.partition("#")[0]
    if "://" in target.partition("?")[0]:  # absolute-form: drop the scheme and authority
        target = "/" + re.sub(r"^[^/?]*/?", "", target.split("://", 1)[1])
    return target.partition("?")


def _listen(ports: list[int], callback: _Callback) -> Any:
    """Start the loopback listener on 127.0.0.1, at the first of ``ports``
    that binds (0: any free one); ``GET /callback`` goes to ``callback``."""
    import http.server
    import socket
    import socketserver
    import threading
    from urllib.parse import parse_qs

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = _CONNECTION_TIMEOUT
        server_version = "arkor"
        sys_version = ""
        # A request line without a version (HTTP/0.9) would be answered with
        # no status line and no headers: no text/plain, no nosniff.
        default_request_version = "HTTP/1.0"

        def do_GET(self) -> None:
            port = self.connection.getsockname()[1]
            # DNS rebinding: a page on evil.example whose name resolves to
            # 127.0.0.1 arrives with its own Host; only ours are accepted.
            if self.headers.get("Host", "").lower() not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                self.send_error(400, _MSG_CALLBACK_BAD_HOST)
                return
            path, _, query = _split_target(self.path)
            if path != _CALLBACK_PATH:
                self.send_error(404, _MSG_CALLBACK_NOT_FOUND)  # a favicon probe must not end the login
                return
            outcome = callback.decide(parse_qs(query))
            if outcome is None:
                self.send_error(409, _MSG_CALLBACK_FINISHED)
                return
            try:
                if outcome[0] == 200:
                    self._send(200, "text/html; charset=utf-8", _SIGNED_IN_PAGE)
                else:
                    self.send_error(*outcome)
            finally:
                # Only now: the process may end as soon as this is set, and the
                # browser must have had the whole page first.
                callback.done.set()

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # Every error, the standard library's own (400, 414, 501 ...)
            # included, is plain text, never sniffed as HTML: these bodies
            # echo the request, and must not become a reflected-XSS page.
            text = message or self.responses.get(code, ("Error",))[0]
            self._send(code, "text/plain; charset=utf-8", text.encode("utf-8", "replace"))

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
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines hold the code; they never reach the terminal

    # Not http.server.HTTPServer: its server_bind looks its own name up with
    # getfqdn(), a reverse-DNS lookup that can stall for many seconds, for a
    # server_name that nothing here reads.
    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        request_queue_size = 64  # browsers open several idle pre-connections at once
        block_on_close = False
        # Another process could bind the same port and steal the callback: on
        # Windows SO_REUSEADDR lets it (on POSIX it only skips TIME_WAIT from a
        # last run), and SO_EXCLUSIVEADDRUSE stops it.
        allow_reuse_address = sys.platform != "win32"

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a browser giving up, junk, a reset: nothing for the user's terminal

        def server_bind(self) -> None:
            if sys.platform == "win32":
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
            super().server_bind()

    if not ports:
        raise ArkorError(_MSG_NO_PORTS)
    last: OSError | None = None
    for port in ports:
        try:
            server = Server(("127.0.0.1", port), Handler)
        except OSError as exc:
            last = exc
            continue
        # serve_forever notices shutdown() between polls: a short one frees the port at once.
        threading.Thread(target=server.serve_forever, args=(0.02,), name="arkor-callback", daemon=True).start()
        return server
    raise ArkorError(_MSG_BIND_FAILED.format(ports=", ".join(str(p) for p in ports), error=last))


def _is_text_browser(command: str) -> bool:
    words = command.split()
    return bool(words) and os.path.basename(words[0]).lower().removesuffix(".exe") in _TEXT_BROWSERS


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
    """The command that shows ``url``, and its environment; None where no
    browser can work (the printed URL is then the way in). The URL is always
    an argument of its own (webbrowser passes it on as one), never spliced
    into a command."""
    import shutil

    platform = platform or sys.platform
    if kernel is None:
        kernel = os.uname().release if hasattr(os, "uname") else ""
    which = which or shutil.which
    if not _is_plain_url(url):
        return None
    child_env = dict(env)
    webbrowser_child = [sys.executable, "-I", "-c", _BROWSER_CHILD, url, ",".join(sorted(_TEXT_BROWSERS))]
    chosen = env.get("BROWSER", "")
    if chosen:
        # Honoured as given, but for the text-mode browsers (see _TEXT_BROWSERS).
        kept = [c for c in chosen.split(os.pathsep) if c.strip() and not _is_text_browser(c)]
        if not kept:
            return None
        child_env["BROWSER"] = os.pathsep.join(kept)
        return webbrowser_child, child_env
    if platform.startswith("linux") and (env.get("WSL_DISTRO_NAME") or "microsoft" in kernel.lower()):
        # The Windows browser reaches WSL's 127.0.0.1, so the callback works.
        if which("wslview"):
            return ["wslview", url], child_env
        # PowerShell takes the URL from its environment, never from its
        # command text (it would end a quoted string at ' and at ‘ ’ ‚ ‛).
        # WSLENV carries the variable over to the Windows process.
        child_env["ARKOR_SIGN_IN_URL"] = url
        child_env["WSLENV"] = ":".join(filter(None, [env.get("WSLENV"), "ARKOR_SIGN_IN_URL"]))
        command = "Start-Process -FilePath $env:ARKOR_SIGN_IN_URL"
        return ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", command], child_env
    if platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return None  # no screen here: over SSH, in a container
    return webbrowser_child, child_env


def _open_browser(url: str, env: Mapping[str, str]) -> bool:
    """Start showing ``url`` and return at once: whether a browser was started.
    webbrowser waits for a BROWSER command to exit, and the browsers it starts
    inherit stdout and stderr, so one left open would block the login and keep
    `arkor login | tee log` from ending; run from a detached child interpreter
    with its output on the null device, it can do neither."""
    from subprocess import DEVNULL, Popen

    found = _browser_command(url, env)
    if found is None or not sys.executable:
        return False
    argv, child_env = found
    try:
        # A session of its own: Ctrl-C here must not close the user's browser.
        child = Popen(argv, env=child_env, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, start_new_session=True)
    except OSError:
        return False
    _BROWSER_PROCESSES.append(child)  # kept referenced: not reported as abandoned while it runs
    return True


def _wait_for_code(callback: _Callback, timeout: float, term: _Terminal, paste: bool) -> str:
    if paste:
        _accept_pasted_url(callback, term)
    deadline = time.monotonic() + timeout
    # Short waits: on Windows, Ctrl-C reaches Python only between them.
    while not callback.done.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            raise ArkorError(_MSG_TIMED_OUT.format(seconds=f"{timeout:g}"))
    if callback.failure is not None:
        raise ArkorError(callback.failure)
    assert callback.code is not None
    return callback.code


def _foreground(stream: IO[str]) -> bool:
    """Whether this process may read its terminal: a background job
    (`arkor login --oauth &`) that reads it is stopped by the shell."""
    if sys.platform == "win32":  # no job control
        return True
    try:
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return True


def _accept_pasted_url(callback: _Callback, term: _Terminal) -> None:
    """Let the user paste the address the browser ended on, which holds the
    code and state. Only this sign-in's answer, or an error, ends the login;
    any other line, an older tab's address included, gets the prompt again,
    where a loopback callback would have ended it."""
    import threading
    from urllib.parse import parse_qs

    term.prompt(_MSG_PASTE)

    def read() -> None:
        while not callback.done.is_set():
            text = term.read_line()
            if text is None:
                return  # end of input: the browser may still call back
            if not text:
                continue
            where, _, query = text.partition("#")[0].partition("?")
            # The address the browser ended on, and nothing else: the
            # loopback's /callback, on whatever port that browser showed.
            if not re.fullmatch(r"(https?://)?(127\.0\.0\.1|localhost)(:\d+)?/callback", where, re.IGNORECASE):
                term.prompt(_MSG_PASTE_AGAIN)
                continue
            params = parse_qs(query)
            error, code, state = ((params.get(name) or [""])[0] for name in ("error", "code", "state"))
            if error or (code and state and callback.ours(state)):
                if callback.decide(params) is not None:
                    callback.done.set()
                return
            term.prompt(_MSG_PASTE_OTHER_SIGN_IN if code and state else _MSG_PASTE_AGAIN)

    threading.Thread(target=read, name="arkor-paste", daemon=True).start()


def _post_form(url: str, form: Mapping[str, str], seconds: float, env: Mapping[str, str]) -> _Reply:
    """POST to Auth0 as RFC 6749 (and RFC 7009) says: form-encoded."""
    from urllib.parse import urlencode

    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    return _http("POST", url, headers=headers, body=urlencode(form).encode("ascii"), seconds=seconds, env=env)


def _token_answer(reply: _Reply) -> tuple[str, str | None, int]:
    """The one check of a token endpoint's 200 answer, exchange's or
    refresh's: the access token, the refresh token (None: not rotated), its
    expiry (an unknown lifetime: now). A malformed answer raises
    _MalformedTokens, with any valid refresh token it held."""
    body = reply.json_or_none()
    problem = _problem(TokenAnswer, body)
    if problem is None and not 0 <= (body.get("expires_in") or 0) < 1e9:
        problem = _WHY_INVALID.format(name="expires_in")
    if problem:
        rotated = body.get("refresh_token") if isinstance(body, dict) else None
        raise _MalformedTokens(reply.unexpected(problem).lines[0], rotated if _is_token(rotated) else None)
    return body["access_token"], body.get("refresh_token"), int(time.time() + (body.get("expires_in") or 0))


def _exchange_code(config: CliConfig, code: str, verifier: str, redirect_uri: str, ctx: _Context) -> OAuthCredentials:
    """Trade the code for tokens (RFC 6749 §4.1.3): the new credentials."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": config["clientId"],
        "redirect_uri": redirect_uri,
    }
    reply = _post_form(f"https://{config['auth0Domain']}/oauth/token", form, ctx.http_timeout(), ctx.env)
    if not reply.ok:
        raise ArkorError(_MSG_EXCHANGE_FAILED.format(status=reply.status, body=_snippet(reply)))
    access_token, refresh_token, expires_at = _token_answer(reply)
    if refresh_token is None:
        raise ArkorError(_MSG_NO_REFRESH_TOKEN)
    return {
        "mode": "oauth",
        "accessToken": access_token,
        "refreshToken": refresh_token,
        "expiresAt": expires_at,
        "auth0Domain": config["auth0Domain"],
        "audience": config["audience"],
        "clientId": config["clientId"],
    }


# ---------------------------------------------------------------------------
# Signed-in requests: the token, kept fresh
# ---------------------------------------------------------------------------


def _refresh_grant(stored: OAuthCredentials, ctx: _Context) -> OAuthCredentials:
    """``stored`` renewed with its refresh token (RFC 6749 §6), every other
    field kept, the mode tag and unknown ones included. Raises _RefreshRefused
    when Auth0 turns the token down (a 4xx such as invalid_grant), a plain,
    transient ArkorError when it cannot be asked (network, 5xx), and
    _MalformedTokens for a malformed answer."""
    form = {"grant_type": "refresh_token", "client_id": stored["clientId"], "refresh_token": stored["refreshToken"]}
    reply = _post_form(f"https://{stored['auth0Domain']}/oauth/token", form, ctx.http_timeout(), ctx.env)
    if 400 <= reply.status < 500 and reply.status not in (408, 429):
        body = reply.json_or_none()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, str) and error:
            raise _RefreshRefused(_WHY_AUTH0_ERROR.format(error=error))
        raise _RefreshRefused(_WHY_AUTH0_STATUS.format(status=reply.status))
    if not reply.ok:
        raise ArkorError(_WHY_ANSWERED.format(url=_shown(reply.url), status=reply.status))
    access_token, rotated, expires_at = _token_answer(reply)
    refresh_token = rotated or stored["refreshToken"]  # rotation: the one just sent is spent
    return {**stored, "accessToken": access_token, "refreshToken": refresh_token, "expiresAt": expires_at}


class _Renewal:
    """What renewing an access token came to: the credentials to use, the
    ``warning`` to say, if any, and why it failed: ``refused`` (only a new
    sign-in helps) or ``unreachable`` (Auth0, or the lock, could not be had).
    """

    def __init__(self, credentials: Credentials, refused: str | None = None, unreachable: str | None = None) -> None:
        self.credentials, self.refused, self.unreachable = credentials, refused, unreachable
        self.warning: str | None = None
        if refused is not None:
            self.warning = _MSG_SIGN_IN_AGAIN.format(reason=refused)
        if unreachable is not None:
            self.warning = _MSG_REFRESH_UNREACHABLE.format(reason=unreachable)


def _renew(ctx: _Context, path: str, stale: OAuthCredentials) -> _Renewal:
    """Renew ``stale`` (expiring, or refused) under the lock, and store the
    renewal where the file still holds the refresh token spent (the Node CLI
    writes it without the lock). The file is read again first: a token another
    process renewed meanwhile is adopted rather than the old refresh token
    spent twice (with rotation, it may be dead already)."""
    try:
        with _Change(ctx, path) as change:
            current = change.found.stored
            if current is None or current.get("arkorCloudApiUrl") != stale.get("arkorCloudApiUrl"):
                # Signed out meanwhile, or signed in to another cloud-api: its
                # token must not go to the one this command is asking.
                return _Renewal(stale, unreachable=_WHY_NOT_ON_FILE.format(path=path))
            if current["mode"] == "anon":
                return _Renewal(current)  # signed in anew, meanwhile
            if current["accessToken"] != stale["accessToken"] and not _expiring(current):
                return _Renewal(current)  # renewed by another process, meanwhile
            # Never ask for a successor that could not be stored: the refresh
            # token sent for it would be spent, and the session lost.
            _payload(path, current)
            try:
                outcome = _Renewal(change.send(lambda: _refresh_grant(current, ctx)))
            except _RefreshRefused as exc:
                return _Renewal(current, refused=exc.message)
            except _MalformedTokens as exc:
                if exc.refresh_token is None:
                    raise
                # The refresh token sent is spent: its successor is kept
                # whatever else is wrong, or the next renewal would send the
                # spent one (and Auth0's reuse detection end the session).
                outcome = _Renewal({**current, "refreshToken": exc.refresh_token, "expiresAt": 0})
                outcome.warning = _MSG_ROTATED_KEPT.format(reason=exc.message)
            try:
                if not change.store(outcome.credentials):
                    outcome.warning = _MSG_CHANGED_NOT_STORED.format(path=path)
            except ArkorError as exc:
                # The old refresh token may be spent already: this command goes on with the new one.
                outcome.warning = f"{exc.message} {_MSG_NOT_STORED}"
            return outcome
    except ArkorError as exc:  # the lock, the network, a garbled answer: transient
        return _Renewal(stale, unreachable=exc.message)


def _expiring(stored: Credentials) -> bool:
    return stored["mode"] != "anon" and stored["expiresAt"] - time.time() <= _REFRESH_MARGIN


def _fresh(ctx: _Context, path: str, stored: Credentials) -> _Renewal:
    """``stored``, renewed first when its access token is about to expire."""
    return _renew(ctx, path, stored) if _expiring(stored) else _Renewal(stored)  # type: ignore[arg-type]


def _bearer(stored: Credentials) -> str:
    return stored["token"] if stored["mode"] == "anon" else stored["accessToken"]


def _token(ctx: _Context, path: str) -> str | None:
    """The bearer token to use now, for ``arkor token`` and get_token() alike
    (SPEC 9); None when not signed in. Renewed first near expiry: refused, it
    fails; unreachable, the stored token serves while it has not expired."""
    stored = _read_credentials(path)
    if stored is None:
        return None
    renewal = _fresh(ctx, path, stored)
    if renewal.refused is not None:
        raise ArkorError(_MSG_SIGN_IN_AGAIN.format(reason=renewal.refused))
    if renewal.unreachable is not None and stored["mode"] != "anon" and stored["expiresAt"] <= time.time():
        raise ArkorError(_MSG_TOKEN_EXPIRED.format(reason=renewal.unreachable))
    if renewal.warning is not None:
        ctx.warn(renewal.warning)
    return _bearer(renewal.credentials)


def _signed_in_request(ctx: _Context, path: str, stored: Credentials, api: _CloudApi, endpoint: str) -> _Reply:
    """GET ``endpoint`` with the stored token. An OAuth token is renewed first
    when about to expire, or once after a 401 (the request then sent again);
    an anonymous one cannot be: a 401 on it gets a hint. What the renewal
    came to is said when the command ends."""
    tried = _expiring(stored)  # a renewal that failed is not tried again after a 401
    renewal = _fresh(ctx, path, stored)
    reply = api.request("GET", endpoint, token=_bearer(renewal.credentials))
    if reply.status == 401 and renewal.credentials["mode"] == "anon":
        ctx.note(_MSG_ANON_401)
    elif reply.status == 401 and not tried:  # once, now
        renewal = _renew(ctx, path, stored)  # type: ignore[arg-type]
        if _bearer(renewal.credentials) != _bearer(stored):
            reply = api.request("GET", endpoint, token=_bearer(renewal.credentials))
    if renewal.warning is not None:
        ctx.note(renewal.warning)
    return reply


def _revoke(stored: OAuthCredentials, ctx: _Context) -> str | None:
    """Ask Auth0 to revoke the refresh token (RFC 7009), briefly; None when
    it did, else why not (best effort: the caller removes the file anyway)."""
    form = {"client_id": stored["clientId"], "token": stored["refreshToken"], "token_type_hint": "refresh_token"}
    try:
        reply = _post_form(f"https://{stored['auth0Domain']}/oauth/revoke", form, ctx.revoke_timeout(), ctx.env)
    except ArkorError as exc:
        return exc.message
    if not reply.ok:  # RFC 7009 2.2: 200 is the answer; any 2xx is no failure
        return _WHY_ANSWERED.format(url=_shown(reply.url), status=reply.status)
    return None


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def _fetch_cli_config(api: _CloudApi) -> CliConfig:
    reply = api.request("GET", "/v1/auth/cli/config")
    if not reply.ok:
        raise api.failed(reply)
    config: CliConfig = reply.checked(CliConfig)
    if config.get("auth0Domain") and not _is_host(config["auth0Domain"]):
        # Checked on the raw text, before a port is opened: it is printed in
        # the Browser: line and becomes the host of every Auth0 request.
        raise ArkorError(_MSG_BAD_HOST.format(source="The cloud-api's auth0Domain", value=repr(config["auth0Domain"])))
    return config


def _login_oauth(api: _CloudApi, config: CliConfig, path: str, seen: _OnFile, args: Any, ctx: _Context) -> int:
    """Sign in through the browser; nothing is written unless it all works."""
    verifier, challenge, state = _pkce()
    callback = _Callback(state)
    server = _listen(config.get("callbackPorts") or [], callback)
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{_CALLBACK_PATH}"
        url = _authorize_url(config, redirect_uri, state, challenge)
        ctx.term.prompt(_MSG_BROWSER.format(url=url))
        if args.no_browser or not _open_browser(url, ctx.env):
            ctx.term.info(_MSG_NO_BROWSER)
        # Over SSH the browser cannot reach this machine's loopback; in a
        # notebook, neither can Colab's. There the URL it ended on is pasted.
        paste = ctx.api or (_isatty(ctx.term.stdin) and _foreground(ctx.term.stdin))
        code = _wait_for_code(callback, args.timeout, ctx.term, paste)
    finally:
        # Closed on every way out, Ctrl-C included: no listener outlives the login.
        server.shutdown()
        server.server_close()

    def exchange() -> OAuthCredentials:
        return {**_exchange_code(config, code, verifier, redirect_uri, ctx), "arkorCloudApiUrl": api.base}

    if _sign_in(ctx, path, seen, args, exchange) is not None:
        ctx.term.success(_MSG_SIGNED_IN)
    return _EXIT_OK


def _sign_in(ctx: _Context, path: str, seen: _OnFile, args: Any, request: Callable[[], _C]) -> _C | None:
    """Make the request that mints credentials and store them in place of
    ``seen``, signals held from the request to the file; a file changed
    meanwhile is decided about as SPEC 5.0 and 3.1 say. None: not stored."""
    with _Change(ctx, path, seen) as change:
        credentials = change.send(request)
        stored = change.store(credentials)
        while not stored and not ctx.can_ask():  # decided without a question: lock and signals still held
            if not _may_replace(change.found, args, ctx, changed=True):
                return None
            change.expected = change.found
            stored = change.store(credentials)
    while not stored:  # a person is asked again: never with the lock or the signals held
        if not _may_replace(change.found, args, ctx, changed=True):
            return None
        with _Change(ctx, path, change.found) as change:
            stored = change.store(credentials)
    # The command's own work now stands: output it cannot write does not undo it (see main).
    ctx.changed = True
    if change.found.stored is not None and not ctx.can_ask():  # replaced where nobody could be asked
        ctx.warn(_MSG_REPLACED.format(who=_who(change.found.stored)))
    return credentials


def _who(stored: Credentials) -> str:
    if stored["mode"] == "anon":
        return _WHO_ANON.format(anonymous_id=stored["anonymousId"])
    return _WHO_OAUTH.format(domain=stored["auth0Domain"])


def _how(stored: Credentials) -> str:
    if stored["mode"] == "anon":
        return _HOW_ANON.format(anonymous_id=stored["anonymousId"])
    return _HOW_OAUTH


def _login_anonymous(api: _CloudApi, path: str, seen: _OnFile, args: Any, ctx: _Context) -> int:
    """Mint a brand-new anonymous identity and store it in place of ``seen``."""

    def mint() -> AnonCredentials:
        reply = api.request("POST", "/v1/auth/anonymous", json_body={"kind": "cli"})
        if not reply.ok:
            raise api.failed(reply)
        answer: AnonymousAnswer = reply.checked(AnonymousAnswer, quote=False)  # it holds the new token
        return {
            "mode": "anon",
            "token": answer["token"],
            "anonymousId": answer["anonymousId"],
            "arkorCloudApiUrl": api.base,
            "orgSlug": answer["personalOrg"]["slug"],
        }

    credentials = _sign_in(ctx, path, seen, args, mint)
    if credentials is not None:
        ctx.term.info(_MSG_ANON_ID.format(anonymous_id=credentials["anonymousId"]), _MSG_ANON_KEEP.format(path=path))
        ctx.term.success(_MSG_ANON_DONE.format(org_slug=credentials["orgSlug"]))
    return _EXIT_OK


def _may_replace(on_file: _OnFile, args: Any, ctx: _Context, changed: bool = False) -> bool:
    """Whether a login may replace what is on file (SPEC 5.0, 3.1); when not,
    it has said why. Where nobody can be asked: only when told to
    (``replace``). An anonymous identity is lost for good once replaced, so a
    person is asked first; so is one about a file that changed while the
    login ran (``changed``)."""
    stored = on_file.stored
    if not ctx.can_ask():
        if not args.replace and on_file.problem is not None:
            raise on_file.problem
        if not args.replace and stored is not None:
            raise _AlreadySignedIn(_how(stored))
        return True  # no file, or told to replace: said once it is done (see _sign_in)
    if changed and stored is not None:
        question = _MSG_REPLACE_CHANGED.format(path=on_file.path, who=_who(stored))
    elif stored is not None and stored["mode"] == "anon":
        question = _MSG_REPLACE_ANON.format(anonymous_id=stored["anonymousId"])
    else:
        return True  # no file, OAuth credentials, or a broken file: replaced, as a login always has
    if ctx.confirm(question):
        return True
    ctx.term.info(_MSG_ABORTED)
    return False


def _pick_mode(ctx: _Context) -> str | None:
    """Ask OAuth or Anonymous, Anonymous preselected; None at end of input.

    A numbered menu read a line at a time works on every terminal, over SSH
    and under screen readers, with nothing but the standard library.
    """
    term = ctx.term
    if not ctx.can_ask():
        return _PICKER_DEFAULT
    count = len(_PICKER_CHOICES)
    default = [mode for mode, _, _ in _PICKER_CHOICES].index(_PICKER_DEFAULT) + 1
    width = max(len(label) for _, label, _ in _PICKER_CHOICES)
    term.info(_PICKER_QUESTION)
    term.info(*(f"  {n}) {label.ljust(width)}  {hint}" for n, (_, label, hint) in enumerate(_PICKER_CHOICES, 1)))
    while True:
        answer = term.ask(_MSG_PICKER_PROMPT.format(count=count, default=default))
        if answer is None:
            return None
        if answer == "":
            return _PICKER_DEFAULT
        for number, (mode, label, _) in enumerate(_PICKER_CHOICES, 1):
            if answer == str(number) or answer.lower() in (mode, label.lower()):
                return mode
        term.warn(_MSG_PICKER_AGAIN.format(count=count))


def _cmd_login(args: Any, ctx: _Context) -> int:
    if args.oauth and args.anonymous:
        raise ArkorError(_MSG_BOTH_MODES)
    if args.oauth and ctx.env.get("CI"):
        # The loopback callback needs a person with a browser: in CI the login could only time out.
        raise ArkorError(_MSG_OAUTH_IN_CI)
    if not hasattr(args, "replace"):  # a login that names its mode may replace what is stored
        args.replace = args.oauth or args.anonymous
    path = _credentials_path(ctx.env)
    with _Change(ctx, path) as change:  # before anything is sent: a login never mints what it cannot store
        seen = change.found
    if not _may_replace(seen, args, ctx):
        return _EXIT_OK
    api = _cloud_api(ctx)
    if args.anonymous:
        return _login_anonymous(api, path, seen, args, ctx)
    config = _fetch_cli_config(api)
    if not (config.get("auth0Domain") and config.get("clientId") and config.get("audience")):
        if args.oauth:
            raise ArkorError(_MSG_OAUTH_NOT_CONFIGURED)
        ctx.term.info(_MSG_CONTINUING_ANON)
        return _login_anonymous(api, path, seen, args, ctx)
    mode = "oauth" if args.oauth else _pick_mode(ctx)
    if mode is None:
        ctx.term.info(_MSG_ABORTED)
        return _EXIT_FAILURE
    if mode == "oauth":
        try:
            return _login_oauth(api, config, path, seen, args, ctx)
        except _AlreadySignedIn:
            raise
        except ArkorError as exc:
            raise ArkorError(_MSG_LOGIN_FAILED, *exc.lines, status=exc.status) from None
    status = _login_anonymous(api, path, seen, args, ctx)
    if ctx.changed:  # picked, not asked for: say what it gives up
        ctx.warn(_MSG_ANON_NUDGE)
    return status


def _confirm_logout(args: Any, path: str, stored: Credentials | None, ctx: _Context) -> bool:
    loss = ""
    if stored is not None and stored["mode"] == "anon":
        loss = _MSG_ANON_LOSS.format(anonymous_id=stored["anonymousId"])
    if args.yes:
        if loss:
            ctx.warn(loss)
        return True
    if not ctx.can_ask():
        ctx.warn(_MSG_NO_TTY_TO_CONFIRM)
        return False
    question = _MSG_CONFIRM_DELETE.format(path=path)
    return ctx.confirm(f"{loss} {question}" if loss else question)


def _remove_credentials(ctx: _Context, path: str, shown: _OnFile, revoke: bool = True) -> bool:
    """Revoke (OAuth) and remove the credentials the user saw (``shown``);
    False when there were none by then. Under the lock, lest a renewal in
    flight write them back; once a revocation is sent, the file goes whatever
    Auth0 answered, but only if it still holds what was revoked (SPEC 3.1)."""
    with _Change(ctx, path) as change:
        if not change.found.exists and not _present(path):
            return False  # removed meanwhile: the outcome is the same
        if change.found.identity != shown.identity:
            raise ArkorError(_MSG_CHANGED_MEANWHILE.format(path=path))
        current = change.found.stored
        if revoke and current is not None and current["mode"] != "anon":
            failure = change.send(lambda: _revoke(current, ctx))
            if failure is not None:
                ctx.note(_MSG_REVOKE_FAILED.format(reason=failure))
        if not change.remove():
            raise ArkorError(_MSG_CHANGED_DURING_REVOKE.format(path=path))
    ctx.changed = True
    return True


def _cmd_logout(args: Any, ctx: _Context) -> int:
    path = _credentials_path(ctx.env)
    if _present(path):
        shown = _OnFile(path)  # a broken file can still be deleted: that is the way out of it
        if not _confirm_logout(args, path, shown.stored, ctx):
            ctx.term.info(_MSG_ABORTED)
            return _EXIT_OK
        if _remove_credentials(ctx, path, shown):
            ctx.term.success(_MSG_REMOVED.format(path=path))
            return _EXIT_OK
    ctx.term.info(_MSG_NO_CREDENTIALS)  # none, or removed meanwhile
    return _EXIT_OK


def _cmd_token(args: Any, ctx: _Context) -> int:
    token = _token(ctx, _credentials_path(ctx.env))
    if token is None:
        raise ArkorError(_MSG_NOT_SIGNED_IN)
    ctx.term.info(token)  # stdout alone: `$(arkor token)`
    return _EXIT_OK


def _cmd_whoami(args: Any, ctx: _Context) -> int:
    import json

    term = ctx.term
    # With --json, stdout carries JSON alone; the informational lines go to stderr.
    inform = term.note if args.json else term.info
    path = _credentials_path(ctx.env)
    stored = _read_credentials(path)
    # Plain whoami keeps the Node CLI's 0 for both informational cases; with
    # --json, `arkor whoami --json > me.json` must not pass with an empty file.
    uninformed = _EXIT_FAILURE if args.json else _EXIT_OK
    if stored is None:
        inform(_MSG_NOT_SIGNED_IN)
        return uninformed
    api = _cloud_api(ctx, stored, path)
    reply = _signed_in_request(ctx, path, stored, api, "/v1/me")
    if not reply.ok:
        inform(_MSG_ME_FAILED.format(status=reply.status))  # scripts read this line
        hint = api.hint(reply, signed_in=True)
        if hint:
            term.warn(hint)
        return uninformed
    if args.json:
        body = reply.json()
        if not isinstance(body, dict):
            raise reply.unexpected(_WHY_NOT_OBJECT)
        # Strict JSON (_loads let no NaN or infinity in), in ASCII: valid
        # whatever the terminal's or pipe's encoding.
        term.info(*json.dumps(body, indent=2, allow_nan=False).split("\n"))
        return _EXIT_OK
    me: MeAnswer = reply.checked(MeAnswer)
    orgs = me.get("orgs") or []
    if not isinstance(orgs, list) or not all(isinstance(o, dict) for o in orgs):
        raise reply.unexpected(_WHY_INVALID.format(name="orgs"))
    term.info(*json.dumps(me["user"], indent=2, ensure_ascii=False).split("\n"))
    names = [str(o.get("slug") or o.get("id") or "?") for o in orgs]
    if names:
        term.info(_MSG_ORGS.format(orgs=", ".join(names)))
    return _EXIT_OK


# ---------------------------------------------------------------------------
# The Python API: the signed-in identity, for scripts and tools
# ---------------------------------------------------------------------------
#
# For code that talks to Arkor Cloud as the signed-in user: each function
# reads the environment as the CLI does, and raises the CLI's own ArkorError.


def _api_context() -> _Context:
    ctx = _Context.of()
    ctx.api = True
    return ctx


def _say_notes(ctx: _Context) -> None:
    """Say what the layers below recorded (a failed renewal or revocation, a
    folder made private) and a deprecation notice when the command is over,
    also after a failure: the user should learn of it before the cutoff."""
    for line in ctx.notes + ([ctx.deprecation] if ctx.deprecation else []):
        ctx.warn(line)


def credentials_path() -> str:
    """``~/.arkor/credentials.json``: HOME on POSIX, USERPROFILE on Windows."""
    return _credentials_path(os.environ)


def read_credentials(path: str | None = None) -> Credentials | None:
    """The stored credentials as a dict, as written (``mode`` is ``"anon"``,
    ``"oauth"``, or the seed era's ``"auth0"``), or None when not signed in."""
    return _read_credentials(path or credentials_path())


def cloud_api_url() -> str:
    """The cloud-api base URL: ``ARKOR_CLOUD_API_URL``, else the one stored
    with the credentials (read only then: a broken file cannot fail a URL it
    would not decide), else https://api.arkor.ai; no trailing ``/``."""
    ctx = _api_context()
    if "ARKOR_CLOUD_API_URL" in ctx.env:
        api = _cloud_api(ctx)
    else:
        path = credentials_path()
        api = _cloud_api(ctx, read_credentials(path), path)
    api.check()
    return api.base


def get_token() -> str | None:
    """A bearer token for the cloud-api, or None when not signed in. As with
    ``arkor token``, an OAuth access token that expires within a minute is
    renewed and stored first: a renewal Auth0 refuses raises ArkorError, and
    one that cannot reach Auth0 returns the stored token while it has not
    expired (with a warning logged)."""
    ctx = _api_context()
    try:
        return _token(ctx, credentials_path())
    finally:
        _say_notes(ctx)


def login(
    *,
    anonymous: bool = False,
    replace: bool = False,
    open_browser: bool = True,
    timeout: float = _DEFAULT_LOGIN_TIMEOUT,
) -> dict[str, str]:
    """Sign in from Python, a notebook included; return the public part of
    the stored credentials (the mode, and the anonymous id or the OAuth
    domain and audience; never a token).

    Without ``anonymous=True`` it is the OAuth flow: it prints the authorize
    URL and takes the loopback callback or the address the browser ended
    on, pasted at the ``input()`` prompt (in Colab the browser cannot reach
    the kernel's loopback), whichever comes first. With credentials on file
    and ``replace=False`` it raises ArkorError naming them, before anything
    is sent. It asks nothing else; failures raise ArkorError.
    """
    import argparse

    try:
        seconds = _seconds(str(timeout))  # checked as --timeout is
    except ValueError as exc:
        raise ArkorError(_MSG_BAD_API_TIMEOUT.format(problem=exc)) from None
    ctx = _api_context()
    ctx.term = term = _SignInTerminal(ctx, show=not anonymous)
    args = argparse.Namespace(
        anonymous=anonymous, oauth=not anonymous, replace=replace, no_browser=not open_browser, timeout=seconds
    )
    try:
        _cmd_login(args, ctx)
        stored = _read_credentials(_credentials_path(ctx.env))
    except _AlreadySignedIn as exc:
        raise ArkorError(_MSG_API_SIGNED_IN.format(how=exc.how)) from None
    finally:
        term.finished = True  # a paste prompt still waiting reads no more
        _say_notes(ctx)
    if stored is None:  # a login that stored nothing has said why by raising
        raise ArkorError(_MSG_NOT_SIGNED_IN)
    if stored["mode"] == "anon":
        return {"mode": "anon", "anonymousId": stored["anonymousId"], "orgSlug": stored["orgSlug"]}
    return {"mode": stored["mode"], "auth0Domain": stored["auth0Domain"], "audience": stored["audience"]}


def logout(*, revoke: bool = True) -> bool:
    """Remove the stored credentials without asking, revoking an OAuth
    refresh token first (``revoke``); whether a file was removed."""
    ctx = _api_context()
    path = _credentials_path(ctx.env)
    try:
        return _present(path) and _remove_credentials(ctx, path, _OnFile(path), revoke)
    finally:
        _say_notes(ctx)


class _SignInTerminal(_Terminal):
    """login()'s terminal: the caller's stdout shows only the prompts of an
    OAuth sign-in (``show``), the authorize URL and the paste prompt.

    The paste is read in a thread that may still wait when the sign-in ends
    by the loopback; one waiting inside sys.stdin's buffer at exit would hold
    its lock, and the interpreter abort at shutdown. So stdin is read from
    its descriptor, and no more once the sign-in is over (``finished``): what
    the script's user types next is the script's own."""

    silences = False  # the caller's sys.stdout stays the caller's, failed or not

    def __init__(self, ctx: _Context, show: bool) -> None:
        super().__init__(io.StringIO(), io.StringIO(), io.StringIO(), ctx.env)
        self._ctx = ctx
        self._prompts = ctx.term.stdout if show else self.stdout
        self.finished = False

    def prompt(self, line: str) -> None:
        self._emit(self._prompts, line)

    def warn(self, line: str) -> None:
        self._ctx.warn(line)  # to the logger, never the caller's stderr

    def read_line(self) -> str | None:
        import builtins

        if getattr(builtins.input, "__module__", None) != "builtins":  # a notebook's text box: stdin is no terminal
            try:
                return str(builtins.input()).strip()
            except (EOFError, OSError, ValueError):
                return None
        line = b""
        try:
            fd = sys.stdin.fileno()
            while not line.endswith(b"\n") and self._readable(fd):
                byte = os.read(fd, 1)
                if not byte:
                    break
                line += byte
        except (AttributeError, OSError, ValueError):  # no stdin at all
            pass
        return line.decode("utf-8", "replace").strip() if line else None

    def _readable(self, fd: int) -> bool:
        """Wait until ``fd`` has input; False once the sign-in is over."""
        if os.name == "nt":  # select() takes sockets only there: a blocking read
            return not self.finished
        import select

        while not self.finished:
            ready = select.select([fd], [], [], 0.1)[0]
            if ready and not self.finished:  # input typed after the end is not ours
                return True
        return False


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

_ENVIRONMENT = f"""\
environment:
  ARKOR_CLOUD_API_URL   the cloud-api (default {_DEFAULT_API_URL})
  ARKOR_HTTP_TIMEOUT    seconds a request may take in all (default {_DEFAULT_TIMEOUT:g})
  ARKOR_DEBUG=1         add the Python traceback to an error
  CI                    set: never ask, and refuse --oauth
  BROWSER               the browser login opens (not a text-mode one)
  DISPLAY, WAYLAND_DISPLAY
                        neither on Linux: no browser; paste the URL instead
  HTTPS_PROXY, HTTP_PROXY
                        the proxies for https:// and http:// URLs
  NO_PROXY              hosts that go around the proxies
  SSL_CERT_FILE         a CA bundle to trust instead of the system's
  SSL_CERT_DIR          a folder of CA certificates to trust instead
  NO_COLOR              no colour, even on a terminal
  HOME, USERPROFILE     where ~/{_CREDENTIALS_DIR} is (USERPROFILE on Windows)
"""


def _parser(term: _Terminal) -> Any:
    import argparse
    import functools

    def command(name: str, run: Callable[[Any, _Context], int], summary: str) -> Any:
        made = subparsers.add_parser(name, help=summary, description=summary, formatter_class=formatter)
        made.set_defaults(run=run)
        return made

    def seconds(text: str) -> float:
        try:
            return _seconds(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    class Parser(argparse.ArgumentParser):
        typo: tuple[str, list[str]] | None = None  # a word not understood, and the words it may have meant

        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            words = sys.argv[1:] if args is None else list(args)
            first = words[0].partition("=")[0] if words else ""
            if first.startswith("-") and first not in self._option_string_actions:
                # Found before argparse may stop at the missing command
                # (`arkor --versoin`) and never report the flag.
                self.typo = (first, list(self._option_string_actions))
            # Reported here, what a command's parser did not know comes under
            # its usage, not the top one's.
            namespace, extras = super().parse_known_args(words, namespace)
            if extras:
                typed = extras[0].partition("=")[0]
                if not typed.startswith("-"):
                    typed = "--" + typed  # `arkor whoami json` meant --json
                self.typo = (typed, list(self._option_string_actions))
                self.error(_MSG_UNRECOGNIZED.format(arguments=" ".join(extras)))
            return namespace, extras

        def _check_value(self, action: Any, value: Any) -> None:  # where argparse checks a command name
            try:
                super()._check_value(action, value)
            except argparse.ArgumentError:
                if isinstance(value, str) and action.choices:
                    self.typo = (value, [str(c) for c in action.choices])
                raise

        def error(self, message: str) -> Any:  # it quotes argv: one line, escaped
            import difflib  # only now: a run without a usage error never pays for it

            near_miss = difflib.get_close_matches(*self.typo, n=1) if self.typo else []
            hint = ("\n" + _MSG_DID_YOU_MEAN.format(suggestion=near_miss[0])) if near_miss else ""
            super().error(_printable(message) + hint)

        def _print_message(self, message: str, file: object = None) -> None:  # help, usage, --version
            term.passthrough(term.stderr if file is sys.stderr else term.stdout, message)

    # The help on 80 columns whatever the terminal, as git's and gh's: the same
    # in a pipe, a log and a test.
    formatter = functools.partial(argparse.RawDescriptionHelpFormatter, width=80 - 2)  # argparse keeps a margin of 2
    parser = Parser(
        prog=_PROG,
        description="Sign in to Arkor Cloud, sign out, and say who you are.",
        epilog=_ENVIRONMENT + f"\nRun `{_PROG} <command> -h` for a command's options.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="<command>", required=True)

    login = command("login", _cmd_login, "Sign in (OAuth in the browser, or an anonymous token).")
    login.add_argument("--oauth", action="store_true", help="sign in to your account through the browser")
    login.add_argument("--anonymous", action="store_true", help="get a throwaway anonymous token (CI)")
    login.add_argument("--no-browser", action="store_true", help="print the sign-in URL without opening a browser")
    login.add_argument(
        "--timeout",
        type=seconds,
        default=_DEFAULT_LOGIN_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the browser (default {_DEFAULT_LOGIN_TIMEOUT:g})",
    )
    logout = command("logout", _cmd_logout, "Delete the stored credentials.")
    logout.add_argument("-y", "--yes", "-f", "--force", dest="yes", action="store_true", help="do not ask first")
    whoami = command("whoami", _cmd_whoami, "Show the signed-in identity and its orgs.")
    whoami.add_argument("--json", action="store_true", help="print the whole /v1/me answer as JSON")
    command("token", _cmd_token, "Print the bearer token, for curl and other tools.")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the arkor command line; return the exit status. ``env`` and the
    streams default to the process's own: a test or an embedding program
    passes its own instead."""
    ctx = _Context.of(env, stdin, stdout, stderr)
    term = ctx.term
    try:
        args = _parser(term).parse_args(argv)  # None: sys.argv[1:]
        status: int = args.run(args, ctx)
    except SystemExit as exc:  # argparse: help, --version and usage errors
        status = exc.code if isinstance(exc.code, int) else _EXIT_USAGE
    except _AlreadySignedIn as exc:  # an answer, not a failure
        term.info(*exc.lines)
        status = exc.status
    except ArkorError as exc:
        _debug_traceback(ctx)
        term.error(*exc.lines)
        status = exc.status
    except KeyboardInterrupt:
        term.break_line()
        term.error(_MSG_INTERRUPTED)
        status = _EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, and no token in it
        _debug_traceback(ctx)
        term.error(_MSG_INTERNAL.format(kind=type(exc).__name__))
        status = _EXIT_FAILURE
    _say_notes(ctx)
    term.flush()
    if term.lost_stdout and status == _EXIT_OK:
        if not ctx.changed:
            return _EXIT_FAILURE  # what was asked for was the output, and it was lost
        term.warn(_MSG_OUTPUT_LOST)  # its work stands: a retry would replace it
    return status


def _debug_traceback(ctx: _Context) -> None:
    """With ARKOR_DEBUG=1, the traceback of the error being handled, each line
    escaped: server text inside an exception is text from outside."""
    if ctx.env.get("ARKOR_DEBUG") == "1":
        import traceback

        ctx.term.error(*traceback.format_exc().rstrip("\n").split("\n"))


if __name__ == "__main__":
    sys.exit(main())
