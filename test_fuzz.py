"""The fuzz driver for arkor_cli: seeded, time-bounded random input at
what arkor reads from outside itself, and at what it prints.

Run with nothing installed (a few seconds; CI runs it longer on the day's
seed)::

    python3 -m unittest test_fuzz
    ARKOR_FUZZ_SEED=20260101 ARKOR_FUZZ_SECONDS=40 python3 -m unittest test_fuzz

A failure names the seed and the iteration, so that it can be replayed and
kept as a regression test (test_arkor_cli.FuzzRegressionTest).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import socket
import tempfile
import time
import unittest
from collections.abc import Iterator
from typing import Any, Callable
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import arkor_cli
from fake_cloud import Answer, FakeCloudApi
from test_arkor_cli import reset_on_close


def send_in_pieces(sock: socket.socket, data: bytes, pieces: int) -> None:
    """Send ``data`` in about ``pieces`` parts, with a pause between them."""
    step = max(1, len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        if pieces > 1:
            time.sleep(0.001)


# Rounds each fuzz method has run, for a look after the run (see FuzzTest._rounds).
FUZZ_ROUNDS: dict[str, int] = {}


class FuzzTest(unittest.TestCase):
    """Seeded, time-bounded fuzzing of what arkor reads from outside itself
    and of what it prints. Five targets: the callback (queries, pasted
    addresses, the listener), the credentials file, HTTP answers (garbage
    servers, ``whoami`` against them), HTTP framing delivered slowly or
    endlessly, and the printer (text with control and format characters
    from every source).

    ARKOR_FUZZ_SEED picks the inputs (a fixed default, so that every run is
    the same run) and ARKOR_FUZZ_SECONDS bounds each target (default 0.3 s,
    shared by the target's methods; CI gives 40 to this class on its own).
    Each method runs at least its own minimum of rounds whatever the budget,
    so that a slow machine still tests something and no timing decides the
    outcome. A broken invariant fails with the seed, the iteration and the
    input (the first ARKOR_FUZZ_SHOW characters of its repr, default 300):
    enough to write the regression test. Standard library only: ``random``
    and sockets.
    """

    _SEED = "20251129"
    _SECONDS = 0.3
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

    def _rounds(self, target: str, share: float, minimum: int) -> Iterator[tuple[int, Any]]:
        """Iteration numbers, each with its own generator seeded from the run's
        seed, the target and the number (so that an input does not depend on
        the rounds before it): at least ``minimum`` of them, and more until
        ``share`` of the budget is spent."""
        import random

        deadline = time.monotonic() + self.seconds * share
        rounds = 0
        while rounds < minimum or time.monotonic() < deadline:
            yield rounds, random.Random(f"{self.seed}/{target}/{rounds}")
            rounds += 1
            FUZZ_ROUNDS[target] = rounds

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

        for rounds, rng in self._rounds("callback-decide", 0.3, 40):
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

        for rounds, rng in self._rounds("callback-pasted", 0.2, 15):
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
                for rounds, rng in self._rounds("callback-listener", 0.5, 15):
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
    def _credential_fields(mode: str) -> dict[str, str]:
        """The shape of each mode, spelled out (the test must fail if it
        drifts): each required field and what it must hold."""
        if mode == "anon":
            return {"token": "token", "anonymousId": "name", "orgSlug": "name"}
        return {
            "accessToken": "token",
            "refreshToken": "token",
            "expiresAt": "seconds",
            "auth0Domain": "host",
            "audience": "name",
            "clientId": "name",
        }

    @staticmethod
    def _holds(kind: str, value: object) -> bool:
        """Whether ``value`` is what a field of ``kind`` must hold (SPEC §3):
        a token travels in a header (visible ASCII, no space), a host is bare."""
        import math

        if kind == "token":
            return (
                isinstance(value, str) and value != "" and value.isascii() and value.isprintable() and " " not in value
            )
        if kind == "name":
            return isinstance(value, str) and value != ""
        if kind == "seconds":
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if kind == "host":
            return (
                isinstance(value, str)
                and re.fullmatch(r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", value) is not None
            )
        assert kind == "url", kind
        if not isinstance(value, str) or value != value.strip() or not value.isprintable():
            return False
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            return False
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc

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
        doc: list[tuple[str, object]] = [("mode", mode)]
        for field, kind in self._credential_fields(mode).items():
            if kind == "seconds":
                value: object = 1_800_000_000 + rng.randrange(10**6)
            elif kind == "host":
                value = rng.choice(
                    ("tenant.example.auth0.com", "127.0.0.1:8443", "[::1]:443", f"{field}-{rng.randrange(99)}")
                )
            else:
                value = f"{field}-{rng.randrange(10**6)}"
            doc.append((field, value))
        if rng.random() < 0.7:  # optional in both modes
            url = rng.choice(("https://api.arkor.ai", "http://127.0.0.1:8787", "https://[::1]:8443/base/"))
            doc.insert(rng.randrange(1, len(doc) + 1), ("arkorCloudApiUrl", url))
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
        if mode not in ("anon", "auth0", "oauth"):
            raise fail(f"returned mode {mode!r}")
        fields = dict(self._credential_fields(mode), arkorCloudApiUrl="url")
        for field, kind in fields.items():
            if field == "arkorCloudApiUrl" and field not in result:
                continue  # optional in both modes: absent, never null or empty
            if not self._holds(kind, result.get(field)):
                raise fail(f"returned {field}={result.get(field)!r:.80}, which is no {kind}")

    def test_credentials_text(self) -> None:
        import functools

        path = os.path.join(tempfile.gettempdir(), "arkor-fuzz", ".arkor", "credentials.json")
        for rounds, rng in self._rounds("credentials-text", 0.5, 60):
            raw = self._credentials_text(rng).encode("utf-8", "surrogatepass")

            fail = functools.partial(self._failure, "credentials-text", rounds, raw)

            try:
                result = arkor_cli._parse_credentials(raw, path)
            except arkor_cli.ArkorError as exc:
                if not exc.message.startswith(f"{path} does not hold valid arkor credentials ("):
                    raise fail(f"the error does not start with the path: {exc.message!r:.200}") from None
                continue
            except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                raise fail(f"_parse_credentials raised {type(exc).__name__}", exc) from None
            self._check_credentials(result, fail)
            # Parsed, so json parses it too (a leading BOM aside), and the mode is kept as written.
            written = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
            if written != result:
                raise fail(f"read as {result!r:.200}, not as written")

    def test_credentials_file(self) -> None:
        import functools

        home = tempfile.mkdtemp(prefix="arkor fuzz \u00e9-")
        self.addCleanup(shutil.rmtree, home, True)
        path = os.path.join(home, "credentials.json")
        for rounds, rng in self._rounds("credentials-file", 0.5, 40):
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

        server = self._garbage_server()
        closed = self._closed_port()
        for rounds, rng in self._rounds("http-reply", 0.5, 10):
            token = f"fuzz-token-{rng.randrange(16**12):012x}"
            server.requests, server.answers = [], []
            server.answer = lambda rng=rng: self._garbage_answer(rng, server.port, closed)

            fail = functools.partial(self._failure, "http-reply", rounds, server.answers)

            url = f"http://127.0.0.1:{server.port}/v1/me"
            headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
            try:
                reply = arkor_cli._http("GET", url, headers=headers, body=None, seconds=2, env={})
            except arkor_cli.ArkorError as exc:
                self._check_error(exc, url, token, fail)
            except Exception as exc:  # noqa: BLE001 - any other exception is the finding
                raise fail(f"_http raised {type(exc).__name__}", exc) from None
            else:
                self._check_reply(reply, url, fail)
            self._check_redirected_auth(server, token, fail)

    def _check_error(self, exc: Any, url: str, token: str, fail: Callable[[str], AssertionError]) -> None:
        """An ArkorError from _http: one line, about the URL asked, no token."""
        if len(exc.lines) != 1 or any(c in exc.message for c in "\r\n"):
            raise fail(f"an error of more than one line: {exc.lines!r:.500}")
        if token in exc.message or "Traceback" in exc.message:
            raise fail(f"the error holds the token or a traceback: {exc.message!r:.500}")
        starts = (f"Could not reach {url}: ", f"Unexpected answer from GET {url}", f"The answer from GET {url} (")
        if not exc.message.startswith(starts):
            raise fail(f"an error that does not name the URL asked: {exc.message!r:.300}")

    def _check_reply(self, reply: Any, url: str, fail: Callable[[str], AssertionError]) -> None:
        if not isinstance(reply, arkor_cli._Reply):
            raise fail(f"_http returned {type(reply).__name__}, not a _Reply")
        if isinstance(reply.status, bool) or not isinstance(reply.status, int) or not 100 <= reply.status <= 999:
            raise fail(f"a reply with status {reply.status!r}")
        if not isinstance(reply.body, bytes) or len(reply.body) > 1024 * 1024:
            raise fail(f"a reply body of {type(reply.body).__name__}, {len(reply.body)} long, over the 1 MiB cap")
        if (reply.method, reply.url) != ("GET", url):
            raise fail(f"a reply for {reply.method} {reply.url}, not for GET {url}")

    def test_whoami_garbage(self) -> None:
        """``arkor whoami`` against a server that answers garbage: one line of
        error at worst, never a traceback, an internal error, or the token."""
        import functools
        import io

        home = tempfile.mkdtemp(prefix="arkor-fuzz-home-")
        self.addCleanup(shutil.rmtree, home, True)
        path = os.path.join(home, ".arkor", "credentials.json")
        os.makedirs(os.path.dirname(path))
        server = self._garbage_server()
        closed = self._closed_port()
        base = f"http://127.0.0.1:{server.port}"
        for rounds, rng in self._rounds("whoami", 0.5, 8):
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
                "ARKOR_HTTP_TIMEOUT": "2",  # a bound only
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
                status = arkor_cli.main(argv, env=env, stdin=io.StringIO(""), stdout=out, stderr=err)
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

    # -- target 4: HTTP framing, delivered slowly or endlessly ------------------

    # The bound each _http call gets: what ends an endless answer.
    _FRAMING_SECONDS = 0.3

    def _chunked(self, rng: Any, body: bytes) -> bytes:
        """``body`` in valid chunked framing (RFC 9112 §7.1): random chunk
        sizes in either case of hex and with leading zeros, extensions, and
        trailer fields."""
        out = []
        start = 0
        while start < len(body):
            size = rng.randint(1, min(len(body) - start, rng.choice((1, 7, 64, 4096))))
            digits = f"{size:x}" if rng.random() < 0.5 else f"{size:X}"
            out.append(
                ("0" * rng.choice((0, 0, 1, 3)) + digits + self._chunk_extension(rng)).encode()
                + b"\r\n"
                + body[start : start + size]
                + b"\r\n"
            )
            start += size
        out.append(rng.choice((b"0", b"0", b"000")) + self._chunk_extension(rng).encode() + b"\r\n")
        for _ in range(rng.choice((0, 0, 1, rng.randint(0, 5)))):
            out.append(rng.choice((b"X-Trailer: 1\r\n", b"Server-Timing: db;dur=53\r\n", b"X-Empty:\r\n")))
        out.append(b"\r\n")
        return b"".join(out)

    @staticmethod
    def _chunk_extension(rng: Any) -> str:
        return str(rng.choice(("", "", "", ";x", ";name=value", ';q="a;b"', " ;x", ";" + "e" * rng.randint(1, 300))))

    def _framing_plan(self, rng: Any) -> dict[str, Any]:
        """One answer to deliver: its bytes (cut into pieces, with pauses),
        then an endless tail or none, and how the connection ends. ``expect``
        is the (status, body) a valid, whole answer must give; ``endless``
        marks an answer that only the deadline can end."""
        body = rng.choice(
            (
                b"",
                b"{}",
                json.dumps({"user": {"id": self._text(rng, 8)}}).encode(),
                rng.randbytes(rng.randint(0, 3000)),
                b'{"orgs": []}' * rng.randint(1, 2000),
            )
        )
        status = int(rng.choice((200, 200, 201, 400, 401, 404, 426, 500, 503)))
        head = [
            f"{rng.choice(('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'))} {status} {rng.choice(('OK', '', 'Whatever', 'x y z'))}"
        ]
        valid = True
        interim = b""
        for _ in range(rng.choice((0, 0, 0, 1, 2, rng.randint(0, 30)))):
            code = rng.choice((100, 100, 100, 100, 102, 103))
            extra = rng.choice((b"", b"X-Interim: 1\r\n", b"Link: </a.css>; rel=preload\r\n"))
            interim += b"HTTP/1.1 %d Continue\r\n" % code + extra + b"\r\n"
        for _ in range(rng.choice((0, 1, rng.randint(0, 6)))):
            head.append(
                rng.choice(("Content-Type: application/json", "X-Junk: \u00e9t\u00e9", "Cache-Control: no-store"))
            )
        framing = rng.choice(
            ("length", "length", "chunked", "chunked", "chunked", "close", "short", "long", "bad-chunk")
        )
        expected = body
        if framing == "length":
            head.append(f"Content-Length: {len(body)}")
            payload = body
        elif framing == "short":  # valid: the length says where the body ends
            cut = rng.randint(0, len(body))
            head.append(f"Content-Length: {cut}")
            payload, expected = body, body[:cut]
        elif framing == "long":  # more promised than sent, then the close
            valid = False
            head.append(f"Content-Length: {len(body) + rng.randint(1, 10**6)}")
            payload = body
        elif framing == "close":  # no length: the body ends at the close
            head.append("Connection: close")
            payload = body
        else:
            head.append("Transfer-Encoding: chunked")
            payload = self._chunked(rng, body)
            if framing == "bad-chunk":
                valid = False
                payload = self._broken_chunking(rng, payload, body)
            elif rng.random() < 0.1:  # a Content-Length beside chunked: ignored (RFC 9112 §6.3)
                head.append(f"Content-Length: {rng.randint(0, 2 * len(payload) + 1)}")
        data = interim + "".join(h + "\r\n" for h in head).encode("utf-8") + b"\r\n" + payload
        if rng.random() < 0.08:  # the status line itself goes wrong
            valid = False
            data = (
                rng.choice(
                    (
                        b"HTTP/2 200 OK\r\n",
                        b"HTTP/1.1 abc OK\r\n",
                        b"ICY 200 OK\r\n",
                        b"HTTP/1.1 99 X\r\n",
                        b"\r\n",
                        b"",
                    )
                )
                + data.partition(b"\r\n")[2]
            )
        end = "fin"
        if rng.random() < 0.1:  # an early close, or a reset
            valid = False
            data = data[: rng.randrange(len(data) + 1)]
            end = rng.choice(("fin", "rst"))
        tail = None
        if rng.random() < 0.25:
            valid = False
            data, tail = self._endless(rng)
        pieces: list[bytes] = []
        at = 0
        while at < len(data):
            step = rng.randint(1, rng.choice((1, 5, 64, 1500, len(data))))
            pieces.append(data[at : at + step])
            at += step
        pause = rng.choice((0.0, 0.0, 0.0005, 0.002))
        if len(pieces) * pause > 0.05:  # a whole answer arrives well within the bound
            pause = 0.0
        return {
            "pieces": pieces,
            "pause": pause,
            "tail": tail,
            "end": end,
            "expect": (status, expected) if valid else None,
            "endless": tail is not None,
        }

    @staticmethod
    def _broken_chunking(rng: Any, payload: bytes, body: bytes) -> bytes:
        """Chunked framing gone wrong one way or another."""
        first_line = payload.partition(b"\r\n")[0]
        rest = payload[len(first_line) :]
        return bytes(
            rng.choice(
                (
                    b"zz" + rest,
                    b"-1" + rest,
                    b"" + rest,
                    b"f" * 20 + rest,
                    b"1" * rng.randint(70000, 80000) + rest,  # longer than http.client's line limit
                    payload[: -len(b"0\r\n\r\n")] if payload.endswith(b"0\r\n\r\n") else payload[:-2],  # no last chunk
                    payload[:-2],  # no blank line after the trailers
                    b"%x\r\n" % (len(body) + 50) + body,  # a chunk longer than what comes
                    payload.replace(b"\r\n", b"\n"),
                    payload.replace(b"\r\n", b"\r"),
                    payload[:-2] + b"X-T: " + b"t" * 70000 + b"\r\n\r\n",
                )
            )
        )

    @staticmethod
    def _endless(rng: Any) -> tuple[bytes, tuple[bytes, float]]:
        """An answer that never ends: a start, and a unit repeated every interval."""
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        start, unit = rng.choice(
            (
                (b"HTTP/1.1 200 ", rng.choice((b"O", b"K", b" "))),  # the status line
                (b"HTTP/1.0 200 OK\r\nX-Drip: ", b"a"),  # a header line
                (b"HTTP/1.1 200 OK\r\n", b"X-Many: 1\r\n"),  # header lines (see below)
                (b"", b"HTTP/1.1 100 Continue\r\n\r\n"),  # interim answers, no final one
                (chunked, b"0"),  # a chunk-size line
                (chunked, b"1;x\r\na\r\n"),  # chunks of one byte
                (chunked + b"2\r\n{}\r\n0\r\n", b"X-T: a\r\n"),  # trailer lines
                (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b" "),  # the body
                (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", b""),  # nothing more, and no close
                (b"", b""),  # no answer at all
            )
        )
        interval = rng.choice((0.001, 0.005, 0.02, 0.05))
        if unit.startswith(b"X-Many"):
            # http.client refuses a 101st header line: sent no faster than 100 in
            # 0.5 s, they cannot reach it within the 0.3 s bound.
            interval = max(interval, 0.005)
        return start, (unit, interval)

    @staticmethod
    def _framing_behaviour(plan: dict[str, Any]) -> Callable[[socket.socket, Any], None]:
        """What fake_cloud.RawServer does with each connection for ``plan``."""

        def behaviour(conn: socket.socket, stop: Any) -> None:
            try:
                for piece in plan["pieces"]:
                    conn.sendall(piece)
                    if plan["pause"] and stop.wait(plan["pause"]):
                        return
                if plan["tail"] is not None:
                    unit, interval = plan["tail"]
                    while not stop.wait(interval):
                        if unit:
                            conn.sendall(unit)
                    return
                if plan["end"] == "rst":
                    reset_on_close(conn)
            except OSError:
                pass  # the client gave up: the deadline did its work

        return behaviour

    def test_http_framing(self) -> None:
        """_http against answers delivered in pieces, slowly, or without end:
        a reply or one ArkorError line within its bound, nothing else. A
        valid whole answer gives its status and body (or, on a machine too
        slow for the bound, a timeout); an endless one gives the timeout."""
        import functools
        import threading

        from fake_cloud import RawServer

        server = RawServer().start()
        self.addCleanup(server.stop)
        url = f"{server.url}/v1/me"
        timed_out = f"Could not reach {url}: timed out"
        for rounds, rng in self._rounds("http-framing", 1.0, 6):
            plan = self._framing_plan(rng)
            server.behaviour = self._framing_behaviour(plan)
            token = f"fuzz-token-{rng.randrange(16**12):012x}"
            headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}

            fail = functools.partial(self._failure, "http-framing", rounds, plan)

            outcome: list[object] = []

            def call(headers: dict[str, str] = headers, outcome: list[object] = outcome) -> None:
                try:
                    outcome.append(
                        arkor_cli._http("GET", url, headers=headers, body=None, seconds=self._FRAMING_SECONDS, env={})
                    )
                except BaseException as exc:  # noqa: BLE001 - reported below
                    outcome.append(exc)

            worker = threading.Thread(target=call, name="fuzz-http-framing", daemon=True)
            worker.start()
            worker.join(self._FRAMING_SECONDS + 15)  # a guard: only a hang reaches it
            if worker.is_alive():
                raise fail(f"_http still runs 15 s after its {self._FRAMING_SECONDS} s bound")
            (result,) = outcome
            if isinstance(result, arkor_cli.ArkorError):
                self._check_error(result, url, token, fail)
                if plan["endless"] and result.message != timed_out:
                    raise fail(f"an endless answer ended otherwise than in the timeout: {result.message!r:.300}")
                if plan["expect"] is not None and result.message != timed_out:
                    raise fail(f"a valid answer was refused: {result.message!r:.300}")
            elif isinstance(result, BaseException):
                raise fail(f"_http raised {type(result).__name__}", result)
            else:
                self._check_reply(result, url, fail)
                if plan["endless"]:
                    raise fail(f"an endless answer gave a reply: {result.status} {result.body[:100]!r}")
                if plan["expect"] is not None and (result.status, result.body) != plan["expect"]:
                    raise fail(f"read as {result.status} {result.body[:100]!r}, not as sent")

    # -- target 5: the printer -----------------------------------------------------

    # Nothing of these Unicode categories may reach a terminal: controls
    # (escape sequences, line breaks), format characters (bidi overrides,
    # zero widths), surrogates, and the line and paragraph separators.
    _UNPRINTABLE = ("Cc", "Cf", "Cs", "Zl", "Zp")
    _HOSTILE = (
        "\x1b[31m",
        "\x1b]0;pwned\x07",
        "\x1b[2J",
        "\x9b2J",
        "\r",
        "\n",
        "\r\n",
        "\x0b",
        "\x0c",
        "\x1c",
        "\x85",
        "\u2028",
        "\u2029",
        "\u202e",
        "\u2066",
        "\u200b",
        "\u200d",
        "\u00ad",
        "\u061c",
        "\ufeff",
        "\U000e0041",
        "\x00",
        "\x7f",
        "\t",
        "\udcff",
        "\ud800",
        "\U0001f600",
        "\u00e9",
        "e\u0301",
        "\\u000a",
    )

    def _hostile_text(self, rng: Any) -> str:
        """Text as a hostile server, file or callback would send it."""
        parts = [self._text(rng, 8) if rng.random() < 0.5 else ""]
        for _ in range(rng.choice((0, 1, 2, rng.randint(0, 12)))):
            parts.append(rng.choice(self._HOSTILE) if rng.random() < 0.6 else self._text(rng, 4))
        return "".join(parts)

    def _check_line(self, line: str, given: str | None, fail: Callable[[str], AssertionError]) -> None:
        """One printed line (without its newline): nothing unprintable in it,
        and text that was printable already is printed as it is."""
        import unicodedata

        bad = sorted({f"U+{ord(c):04X}" for c in line if unicodedata.category(c) in self._UNPRINTABLE})
        if bad:
            raise fail(f"printed {', '.join(bad)} in {line!r:.300}")
        if given is not None and given.isprintable() and line != given:
            raise fail(f"printable text {given!r:.200} was printed as {line!r:.200}")

    def _check_printed(
        self,
        out: str,
        given: list[str],
        colour: str | None,
        fail: Callable[[str], AssertionError],
    ) -> None:
        """What one call wrote: exactly one line, newline-terminated, per line
        given, wrapped in ``colour`` (an SGR code) when colour is on."""
        if out.count("\n") != len(given) or (given and not out.endswith("\n")):
            raise fail(f"{len(given)} line(s) given, printed as {out!r:.500}")
        for line, text in zip(out.split("\n"), given):
            if colour is not None:
                start, end = f"\x1b[{colour}m", "\x1b[0m"
                if not (line.startswith(start) and line.endswith(end)):
                    raise fail(f"a line not wrapped in colour {colour}: {line!r:.300}")
                line = line[len(start) : -len(end)]
            self._check_line(line, text, fail)

    class _Stream(io.StringIO):
        """A StringIO that may pass for a terminal, or fail every write (a full disk)."""

        def __init__(self, tty: bool = False, broken: bool = False) -> None:
            super().__init__()
            self.tty, self.broken = tty, broken

        def isatty(self) -> bool:
            return self.tty

        def write(self, text: str) -> int:
            if self.broken:
                raise OSError(28, "No space left on device")
            return super().write(text)

    def _terminal_round(self, rng: Any, seen: list[object], fail: Callable[[str], AssertionError]) -> None:
        """A few _Terminal calls with hostile text, each checked."""
        env = dict(
            rng.choice(
                ({}, {"NO_COLOR": "1"}, {"TERM": "xterm-256color"}, {"TERM": "dumb"}, {"TERM": "dumb", "NO_COLOR": ""})
            )
        )
        out, err = self._Stream(tty=rng.random() < 0.5), self._Stream(tty=rng.random() < 0.5)
        broken = rng.choice((out, err)) if rng.random() < 0.1 else None
        if broken is not None:
            broken.broken = True
        typed = [self._hostile_text(rng).replace("\n", "") for _ in range(rng.randint(0, 3))]
        term = arkor_cli._Terminal(io.StringIO("".join(t + "\n" for t in typed)), out, err, env)
        colour_on = "NO_COLOR" not in env and env.get("TERM") != "dumb" and (os.name != "nt" or "TERM" in env)
        seen.append({"env": env, "tty": (out.tty, err.tty), "broken": broken is out and "out" or broken and "err"})
        lost = False  # whether a write went to the broken stream
        for _ in range(rng.randint(1, 4)):
            method = rng.choice(("info", "success", "note", "warn", "error", "ask"))
            count = rng.choice((0, 1, 1, 2, 3)) if method in ("info", "error") else 1
            lines = [self._hostile_text(rng) for _ in range(count)]
            seen.append((method, lines))
            streams = {"info": out, "success": out, "note": err, "warn": err, "error": err}
            stream = streams.get(method) or (out if out.tty else err)
            other = err if stream is out else out
            before, before_other = stream.getvalue(), other.getvalue()
            try:
                got = getattr(term, method)(*lines)
            except Exception as exc:  # noqa: BLE001 - any exception is the finding
                raise fail(f"_Terminal.{method} raised {type(exc).__name__}", exc) from None
            if other.getvalue() != before_other:
                raise fail(f"_Terminal.{method} wrote to the other stream")
            if stream is broken:
                lost = lost or bool(lines)
                continue
            written = stream.getvalue()[len(before) :]
            if method == "ask":  # the prompt, and a line break only when the input ended there
                answer = typed.pop(0).strip() if typed else None
                if got != answer:
                    raise fail(f"ask() read {got!r:.100}, not the line typed ({answer!r:.100})")
                if written.count("\n") != (answer is None) or (answer is None and not written.endswith("\n")):
                    raise fail(f"a prompt printed as {written!r:.300}")
                self._check_line(written.rstrip("\n"), lines[0], fail)
                continue
            colour = {"success": "32", "warn": "33", "error": "31"}.get(method)
            self._check_printed(written, lines, colour if colour and colour_on and stream.tty else None, fail)
        if lost and not (term.lost_stdout if broken is out else term.lost_stderr):
            raise fail("a write failed, and the terminal did not note the lost output")

    def _run_main(self, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        """main() in process, with its own environment and streams."""
        out, err = io.StringIO(), io.StringIO()
        status = arkor_cli.main(argv, env=env, stdin=io.StringIO(""), stdout=out, stderr=err)
        return status, out.getvalue(), err.getvalue()

    def _sources_round(
        self, rng: Any, cloud: Any, home: str, seen: list[object], fail: Callable[[str], AssertionError]
    ) -> None:
        """A whole command printing hostile text from one source: the
        cloud-api's /v1/me and its Warning header, the credentials file, an
        error body, or the callback's parameters."""
        path = os.path.join(home, ".arkor", "credentials.json")
        env = {"HOME": home, "USERPROFILE": home, "PATH": os.environ.get("PATH", os.defpath)}
        env.update(ARKOR_CLOUD_API_URL=cloud.url, ARKOR_HTTP_TIMEOUT="5")
        if "SYSTEMROOT" in os.environ:
            env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
        if os.path.exists(path):
            os.remove(path)
        source = rng.choice(("me", "me", "file", "body", "callback"))
        if source == "callback":
            expected = self._state(rng)
            callback = arkor_cli._Callback(expected)
            params = {"error": [self._hostile_text(rng) or "x"], "error_description": [self._hostile_text(rng)]}
            if rng.random() < 0.3:
                params = {"code": [self._hostile_text(rng) or "c"], "state": [self._hostile_text(rng) or "s"]}
            seen.append(params)
            callback.decide(params)
            err = self._Stream()
            arkor_cli._Terminal(io.StringIO(), self._Stream(), err, {}).error("Login failed", str(callback.failure))
            self._check_printed(err.getvalue(), ["Login failed", str(callback.failure)], None, fail)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        anon = {"mode": "anon", "token": "fuzz-token-printer", "anonymousId": "a", "orgSlug": "o"}
        if source == "file":
            anon["anonymousId"] = self._hostile_text(rng) or "\x1b"
            seen.append(anon)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(anon, f)
            code, out, err = self._run_main(["logout", "--yes"], env)
            if (code, out) != (0, f"Removed {path}.\n"):
                raise fail(f"logout said {code}, {out!r:.300}")
            line = f"The anonymous identity {anon['anonymousId']} cannot be restored once deleted."
            self._check_printed(err, [line], None, fail)
            return
        with open(path, "w", encoding="utf-8") as f:
            json.dump(anon, f)
        if source == "body":
            body = self._hostile_text(rng).encode("utf-8", "surrogatepass")
            if rng.random() < 0.3:
                body = b"<html><title>" + body + b"</title>" + body
            seen.append(body)
            cloud.script("GET", "/v1/me", Answer(rng.choice((500, 200)), body=body))
            code, out, err = self._run_main(["whoami"], env)
            if code == 0:  # a 500: the documented line, and the hint
                self._check_printed(out, ["Failed to fetch /v1/me (500). Token may be expired."], None, fail)
                self._check_printed(err, [err.rstrip("\n")], None, fail)
            else:
                if out:
                    raise fail(f"a refused answer printed {out!r:.300} on stdout")
                self._check_printed(err, [err.rstrip("\n")], None, fail)  # one line
            return
        user = {self._hostile_text(rng): self._hostile_text(rng) for _ in range(rng.randint(0, 4))}
        user["id"] = self._hostile_text(rng)
        if rng.random() < 0.5:
            user["nested"] = [self._hostile_text(rng), {"k": self._hostile_text(rng)}]
        orgs = [{"slug": self._hostile_text(rng), "id": "org"} for _ in range(rng.choice((0, 1, 3)))]
        warning = self._hostile_text(rng).encode("utf-8", "surrogatepass").decode("latin-1")
        warning = warning.replace("\r", "").replace("\n", "")[:2000]  # within http.client's line limit
        headers = {"Deprecation": "true", "Warning": f'299 - "{warning}"' if rng.random() < 0.5 else warning}
        seen.append({"user": user, "orgs": orgs, "headers": headers})
        cloud.script("GET", "/v1/me", Answer(200, {"user": user, "orgs": orgs}, headers=headers))
        code, out, err = self._run_main(["whoami"], env)
        if code != 0:
            raise fail(f"whoami failed: {err!r:.300}")
        lines = out.split("\n")
        if lines.pop() != "":
            raise fail(f"stdout does not end with a newline: {out!r:.300}")
        if orgs:
            names = ", ".join(str(o["slug"] or o["id"]) for o in orgs)
            self._check_line(lines.pop(), f"Orgs: {names}", fail)
        for line in lines:
            self._check_line(line, None, fail)
        try:
            shown = json.loads("\n".join(lines))
        except ValueError as exc:
            raise fail(f"the user printed is no longer JSON ({exc}): {out!r:.500}") from None
        sent = json.loads(json.dumps(user))  # as JSON carries it: a lone surrogate pair becomes one character
        if shown != sent:
            raise fail(f"the user printed reads back as {shown!r:.300}, not {sent!r:.300}")
        self._check_printed(err, [err.rstrip("\n")], None, fail)  # the deprecation notice: one line

    def test_printer(self) -> None:
        """Every line printed is one line of printable text, whatever it carries."""
        import functools

        cloud = FakeCloudApi().start()
        self.addCleanup(cloud.stop)
        home = tempfile.mkdtemp(prefix="arkor-fuzz-printer-")
        self.addCleanup(shutil.rmtree, home, True)
        for rounds, rng in self._rounds("printer", 1.0, 60):
            seen: list[object] = []

            fail = functools.partial(self._failure, "printer", rounds, seen)

            if rounds % 4 == 3:
                self._sources_round(rng, cloud, home, seen, fail)
            else:
                self._terminal_round(rng, seen, fail)
