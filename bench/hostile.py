#!/usr/bin/env python3
"""What hostile clients cost `yubin serve`: memory and connection slots.

A benchmark, not a test: each scenario starts a fresh `yubin serve` (temporary data
directory, ports chosen by the server, no TLS, one user), plays one kind of hostile
client against it, and prints one result line with the figures and the target. A
summary table follows. The exit status is 0 whatever the figures, and non-zero only
when a server could not start or died during a scenario.

    cargo build --release -p yubin && python3 bench/hostile.py
    python3 bench/hostile.py --quick                 # smaller figures, about 20 s
    python3 bench/hostile.py --only idle-flood --yubin /path/to/yubin

Scenarios:
  smtp-big       concurrent SMTP clients (no AUTH) each send one 24 MB message
                 (dot-stuffed, CRLF lines of at most 998 octets); peak and final RSS.
  imap-literals  connections announce a 32 MiB synchronizing literal: half as the user
                 name of a LOGIN before logging in, half as an APPEND after logging in;
                 those answered `+` are fed the literal slowly and held open; peak RSS.
  idle-flood     idle unauthenticated connections to SMTP, POP3 and IMAP at once; a
                 client logged in before the flood times NOOPs, a new client (from
                 another loopback address) tries to log in during it.
  guessing       one client makes wrong-password IMAP LOGINs as fast as the server lets
                 it, for N seconds reconnecting once the server has closed the
                 connection, then N seconds reconnecting as soon as it says BYE;
                 guesses/s, the delay of each refusal, and whether the real user can
                 still log in afterwards.

Only the Python 3 standard library is used. Server memory is VmRSS / VmHWM from
/proc/<pid>/status, sampled every 20 ms (Linux).
"""

import argparse
import errno
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

USER = "bob"
PASSWORD = "hostile-bench-pw"
# The well-behaved clients connect from this loopback address and the hostile ones from
# 127.0.0.1, so a server that limits connections per peer can tell them apart.
GOOD_SOURCE = "127.0.0.2"
LITERAL = 32 * 1024 * 1024  # 33554432, the size announced in the literal scenario
TARGET_RSS_MIB = 100
DEFAULT_YUBIN = "target/release/yubin"
TARGET_LATENCY_MS = 100


class ServerError(Exception):
    """The server could not start, or died."""


# ---------------------------------------------------------------- the server under test


class Server:
    """One `yubin serve` on a temporary data directory, with an RSS sampler."""

    def __init__(self, binary, name, extra=()):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"yubin-hostile-{name}-")
        self.data = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "serve.log")
        self.ports = {}
        self.host = "127.0.0.1"
        self.lines = []
        self.peak_rss = 0
        self.samples = 0
        self._stop = threading.Event()
        self.stopped_by_us = False
        cmd = [
            binary, "serve",
            "--data", self.data,
            "--user", f"{USER}:{PASSWORD}",
            "--smtp-port", "0", "--pop-port", "0", "--imap-port", "0",
            "--no-tls",
            *extra,
        ]
        self.log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log,
            )
        except OSError as e:
            self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise ServerError(f"cannot run {binary}: {e}") from e
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while len(self.ports) < 3:
            if self.proc.poll() is not None:
                time.sleep(0.1)  # the rest of its output
                why = (f"yubin serve exited with {self.proc.returncode} before listening; "
                       f"output: {' | '.join(self.lines[-5:]) or 'none'}; {self.log_tail()}")
                self.stop()
                raise ServerError(why)
            if time.monotonic() > deadline:
                why = f"yubin serve printed no SMTP/POP3/IMAP ports within 20 s; {self.log_tail()}"
                self.stop()
                raise ServerError(why)
            time.sleep(0.02)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _read_stdout(self):
        pat = re.compile(r"^(SMTP|POP3|IMAP) listening on (\S+):(\d+)\s*$")
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if len(self.lines) < 200:
                self.lines.append(line)
            m = pat.match(line)
            if m:
                self.host = m.group(2).strip("[]")
                self.ports[m.group(1).lower()] = int(m.group(3))

    def status(self):
        """VmRSS and VmHWM in KiB, or (None, None) once the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                text = f.read()
        except OSError:
            return None, None
        rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
        hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
        return (int(rss.group(1)) if rss else None, int(hwm.group(1)) if hwm else None)

    def threads_and_fds(self):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                t = re.search(r"^Threads:\s+(\d+)", f.read(), re.M)
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            return (int(t.group(1)) if t else None), fds
        except OSError:
            return None, None

    def _sample(self):
        while not self._stop.is_set():
            rss, _ = self.status()
            if rss is None:
                return
            self.peak_rss = max(self.peak_rss, rss)
            self.samples += 1
            self._stop.wait(0.02)

    def reset_peak(self):
        rss, _ = self.status()
        self.peak_rss = rss or 0

    def alive(self):
        return self.proc.poll() is None

    def check(self):
        if not self.alive():
            raise ServerError(
                f"yubin serve died during {self.name} (exit status {self.proc.returncode}); "
                f"{self.log_tail()}")

    def log_tail(self):
        try:
            self.log.flush()
            with open(self.log_path, "rb") as f:
                tail = f.read()[-600:].decode("utf-8", "replace").strip()
            return f"log: {tail}" if tail else "log empty"
        except OSError:
            return ""

    def count_messages(self):
        n = 0
        for sub in ("new", "cur"):
            try:
                n += len(os.listdir(os.path.join(self.data, USER, "Maildir", sub)))
            except OSError:
                pass
        return n

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL); returns whether it was alive."""
        self._stop.set()
        was_alive = self.proc.poll() is None
        if was_alive:
            self.stopped_by_us = True
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return was_alive


# ---------------------------------------------------------------- small client helpers


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms(x):
    return "-" if x is None else f"{x * 1000:.1f}"


def connect(host, port, source=None, timeout=10):
    """A blocking TCP connection, from `source` if that address can be used."""
    if source:
        try:
            return socket.create_connection((host, port), timeout=timeout,
                                            source_address=(source, 0))
        except OSError as e:
            if e.errno not in (errno.EADDRNOTAVAIL, errno.EINVAL):
                raise
    return socket.create_connection((host, port), timeout=timeout)


class Conn:
    """A line-reading client connection."""

    def __init__(self, host, port, source=None, timeout=10):
        self.sock = connect(host, port, source, timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def readline(self, timeout=10):
        """One line without CRLF; None at EOF. Raises socket.timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no line")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return line
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def send(self, data):
        self.sock.sendall(data)

    def wait_eof(self, timeout=30):
        """Reads until EOF; returns True if the peer closed within the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def smtp_reply(c, timeout=10):
    """The (code, last line) of a possibly multi-line SMTP reply."""
    while True:
        line = c.readline(timeout)
        if line is None:
            return None, "connection closed"
        if len(line) < 4 or line[3:4] != b"-":
            return line[:3].decode("ascii", "replace"), line.decode("utf-8", "replace")


def imap_command(c, tag, command, timeout=10):
    """Sends `tag command`; returns the tagged reply line (None at EOF) and the untagged."""
    c.send(f"{tag} {command}\r\n".encode())
    untagged = []
    while True:
        line = c.readline(timeout)
        if line is None:
            return None, untagged
        if line.startswith(tag.encode() + b" "):
            return line.decode("utf-8", "replace"), untagged
        untagged.append(line.decode("utf-8", "replace"))


def imap_login(host, port, source=None, timeout=10):
    """A logged-in IMAP connection and the time it took (connect, greeting, LOGIN);
    or (None, seconds, why)."""
    t0 = time.monotonic()
    try:
        c = Conn(host, port, source, timeout)
        greeting = c.readline(timeout)
        if greeting is None or not greeting.startswith(b"* OK"):
            c.close()
            why = "closed" if greeting is None else greeting.decode("utf-8", "replace")
            return None, time.monotonic() - t0, f"greeting: {why}"
        tagged, _ = imap_command(c, "L1", f'LOGIN {USER} "{PASSWORD}"', timeout)
        if tagged is None or not tagged.startswith("L1 OK"):
            c.close()
            return None, time.monotonic() - t0, f"login: {tagged or 'closed'}"
        return c, time.monotonic() - t0, "ok"
    except (socket.timeout, TimeoutError):
        return None, time.monotonic() - t0, "timed out"
    except OSError as e:
        return None, time.monotonic() - t0, f"error: {e}"


GREETING = {
    "smtp": (b"220", b"421"),
    "pop3": (b"+OK", b"-ERR"),
    "imap": (b"* OK", b"* BYE"),
}


def open_many(host, port, proto, n, source=None, deadline_s=30, inflight=256):
    """Opens n connections without blocking and reads each greeting. Returns the kept
    sockets (greeted, or never greeted: both hold something on the server) and counts:
    served, refused (the protocol's busy reply), closed (no greeting, EOF or reset),
    connect-error, silent (connected, no greeting by the deadline)."""
    ok_prefix, busy_prefix = GREETING[proto]
    counts = {"served": 0, "refused": 0, "closed": 0, "connect-error": 0, "silent": 0,
              "other": 0}
    refusal_sample = None
    sel = selectors.DefaultSelector()
    states = {}
    kept = []
    started = 0
    end = time.monotonic() + deadline_s

    def drop(s):
        sel.unregister(s)
        del states[s]
        s.close()

    while (started < n or states) and time.monotonic() < end:
        while started < n and len(states) < inflight:
            started += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            if source:
                try:
                    s.bind((source, 0))
                except OSError:
                    pass
            try:
                err = s.connect_ex((host, port))
            except OSError as e:
                err = e.errno
            if err not in (0, errno.EINPROGRESS):
                counts["connect-error"] += 1
                s.close()
                continue
            states[s] = ["connect", b""]
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            st = states[s]
            if st[0] == "connect":
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    counts["connect-error"] += 1
                    drop(s)
                    continue
                st[0] = "greet"
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                counts["closed"] += 1
                drop(s)
                continue
            st[1] += data
            if b"\n" not in st[1]:
                continue
            line = st[1].split(b"\n", 1)[0].rstrip(b"\r")
            if line.startswith(ok_prefix):
                counts["served"] += 1
                sel.unregister(s)
                del states[s]
                kept.append(s)
            else:
                counts["refused" if line.startswith(busy_prefix) else "other"] += 1
                refusal_sample = refusal_sample or line.decode("utf-8", "replace")
                drop(s)
    for s, st in list(states.items()):
        sel.unregister(s)
        if st[0] == "connect":
            counts["connect-error"] += 1
            s.close()
        else:
            counts["silent"] += 1
            kept.append(s)
    counts["connect-error"] += n - started
    sel.close()
    return kept, counts, refusal_sample


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# ---------------------------------------------------------------- scenarios


class Result:
    def __init__(self, name, figures, target, verdict):
        self.name, self.figures, self.target, self.verdict = name, figures, target, verdict


def rss_verdict(peak_kib):
    if peak_kib is None:
        return "-"
    return "met" if peak_kib < TARGET_RSS_MIB * 1024 else "NOT MET"


def smtp_wire(size):
    """A message of `size` octets (CRLF lines, each at most 80 octets, some starting with
    "."), dot-stuffed, with the terminating ".": built once and shared by every client."""
    header = (b"From: hostile@example.com\r\nTo: " + USER.encode() + b"@localhost\r\n"
              b"Subject: hostile bench big message\r\nMessage-ID: <big@hostile.bench>\r\n\r\n")
    lines = []
    for i in range(128):
        text = (b"%05d " % i) + b"0123456789abcdefghijklmnopqrstuvwxyz" * 2
        lines.append((b"." + text[:60]) if i % 16 == 0 else text)
    block_plain = b"".join(line + b"\r\n" for line in lines)
    block_wire = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                          for line in lines)
    repeats = max(1, (size - len(header)) // len(block_plain))
    wire = header + block_wire * repeats + b".\r\n"
    return wire, len(header) + len(block_plain) * repeats


def scenario_smtp_big(server, opts):
    clients, size = opts.smtp_clients, opts.smtp_bytes
    wire, plain_size = smtp_wire(size)
    view = memoryview(wire)
    host, port = server.host, server.ports["smtp"]
    before, _ = server.status()
    server.reset_peak()
    outcomes = [None] * clients
    barrier = threading.Barrier(clients)

    def client(i):
        c = None
        t0 = time.monotonic()
        try:
            c = Conn(host, port, timeout=30)
            code, text = smtp_reply(c, 30)
            if code != "220":
                outcomes[i] = ("greeting " + text, 0)
                return
            steps = [("EHLO hostile.bench", "250"), ("MAIL FROM:<hostile@example.com>", "250"),
                     (f"RCPT TO:<{USER}@localhost>", "250"), ("DATA", "354")]
            for cmd, want in steps:
                c.send(cmd.encode() + b"\r\n")
                code, text = smtp_reply(c, 30)
                if code != want:
                    outcomes[i] = (f"{cmd.split()[0]}: {text}", 0)
                    return
            try:
                barrier.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass
            t0 = time.monotonic()
            c.sock.settimeout(300)
            try:
                c.sock.sendall(view)
            except OSError as e:
                # The server gave up on the message mid-DATA: keep what it said, if anything.
                try:
                    code, text = smtp_reply(c, 2)
                except OSError:
                    code = None
                outcomes[i] = (code or f"cut mid-DATA ({e.strerror or e})",
                               time.monotonic() - t0)
                return
            code, text = smtp_reply(c, 300)
            outcomes[i] = (code or text, time.monotonic() - t0)
            c.send(b"QUIT\r\n")
        except (OSError, socket.timeout) as e:
            outcomes[i] = (f"error: {e}", time.monotonic() - t0)
        finally:
            if c:
                c.close()
            if outcomes[i] is None or not str(outcomes[i][0]).startswith("2"):
                barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    server.check()
    peak = server.peak_rss
    time.sleep(2)
    server.check()
    after, hwm = server.status()
    peak = max(peak, hwm or 0)
    accepted = sum(1 for o in outcomes if o and o[0] == "250")
    other = {}
    for o in outcomes:
        if o and o[0] != "250":
            other[str(o[0])] = other.get(str(o[0]), 0) + 1
    times = [o[1] for o in outcomes if o and o[0] == "250"]
    delivered = server.count_messages()
    refused = ", ".join(f"{k} x{v}" for k, v in other.items()) or "none"
    figures = (f"{clients} clients x {plain_size / 1e6:.1f} MB: {accepted} got 250 "
               f"(other replies: {refused}), {delivered} in the Maildir, {elapsed:.1f} s, "
               f"DATA p50 {pct(times, 50) or 0:.1f} s; RSS before {mib(before)} MiB, "
               f"peak {mib(peak)} MiB (VmHWM {mib(hwm)}), after {mib(after)} MiB")
    return Result("smtp-big", figures, f"under {TARGET_RSS_MIB} MiB RSS", rss_verdict(peak))


def scenario_imap_literals(server, opts):
    n = opts.literal_conns
    host, port = server.host, server.ports["imap"]
    chunk = b"x" * 16384
    before, _ = server.status()
    server.reset_peak()
    kinds = {
        "LOGIN": {"conns": [], "plus": 0, "refused": 0, "no-slot": 0, "error": 0,
                  "sample": None},
        "APPEND": {"conns": [], "plus": 0, "refused": 0, "no-slot": 0, "error": 0,
                   "sample": None},
    }
    open_deadline = time.monotonic() + 60
    not_tried = 0
    for i in range(n):
        if time.monotonic() > open_deadline:
            not_tried = n - i
            break
        kind = "LOGIN" if i % 2 == 0 else "APPEND"
        k = kinds[kind]
        try:
            if kind == "LOGIN":
                c = Conn(host, port, timeout=10)
                greeting = c.readline(10)
                if greeting is None or not greeting.startswith(b"* OK"):
                    k["no-slot"] += 1
                    k["sample"] = k["sample"] or (greeting or b"closed").decode("utf-8",
                                                                                 "replace")
                    c.close()
                    continue
                c.send(b"a LOGIN {%d}\r\n" % LITERAL)
            else:
                c, _, why = imap_login(host, port, timeout=10)
                if c is None:
                    k["no-slot"] += 1
                    k["sample"] = k["sample"] or why
                    continue
                c.send(b"a1 APPEND INBOX {%d}\r\n" % LITERAL)
            reply = c.readline(10)
            if reply is not None and reply.startswith(b"+"):
                k["plus"] += 1
                k["conns"].append(c)
            else:
                k["refused"] += 1
                k["sample"] = k["sample"] or (reply or b"closed").decode("utf-8", "replace")
                c.close()
        except (OSError, socket.timeout) as e:
            k["error"] += 1
            k["sample"] = k["sample"] or f"error: {e}"
        if i % 50 == 49:
            server.check()
    server.check()
    # Feed each literal slowly: 16 KiB per connection per round, ten rounds a second.
    # Sends never block: a connection whose socket buffers are full (the server is not
    # reading) counts as stalled and is fed no more; one the server closed counts as cut.
    rounds = max(1, opts.literal_kib // 16)
    sent = 0
    stalled = 0
    cut = 0
    feeding = kinds["LOGIN"]["conns"] + kinds["APPEND"]["conns"]
    for c in feeding:
        c.sock.setblocking(False)
    t_feed = time.monotonic()
    for _ in range(rounds):
        for c in list(feeding):
            try:
                n_sent = c.sock.send(chunk)
                sent += n_sent
                if n_sent < len(chunk):
                    stalled += 1
                    feeding.remove(c)
            except BlockingIOError:
                stalled += 1
                feeding.remove(c)
            except OSError:
                cut += 1
                feeding.remove(c)
        server.check()
        if not feeding:
            break
        time.sleep(0.1)
    feed_s = time.monotonic() - t_feed
    # Hold, then see which are still open and whether a real user gets in.
    time.sleep(opts.hold)
    server.check()
    still_open = 0
    for k in kinds.values():
        for c in k["conns"]:
            c.sock.setblocking(False)
            try:
                data = c.sock.recv(4096, socket.MSG_PEEK)
                still_open += 1 if data else 0
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
    good, t_login, why = imap_login(host, port, GOOD_SOURCE, timeout=10)
    newcomer = f"ok in {ms(t_login)} ms" if good else f"failed ({why}) after {ms(t_login)} ms"
    if good:
        good.close()
    rss, hwm = server.status()
    peak = max(server.peak_rss, hwm or 0)
    threads, fds = server.threads_and_fds()
    for k in kinds.values():
        close_all(c.sock for c in k["conns"])

    def part(name):
        k = kinds[name]
        s = (f"{name} {{{LITERAL}}} x{n // 2 + (n % 2 if name == 'LOGIN' else 0)}: "
             f"{k['plus']} got +, {k['refused']} refused")
        if k["no-slot"]:
            s += f", {k['no-slot']} not let in"
        if k["error"]:
            s += f", {k['error']} errors"
        if k["sample"]:
            s += f" ('{k['sample'][:60]}')"
        return s

    figures = (f"{part('LOGIN')}; {part('APPEND')}; "
               + (f"{not_tried} not tried (setting up took over 60 s); " if not_tried else "")
               + f"fed {sent / 1048576:.1f} MiB "
               f"(up to {opts.literal_kib} KiB each) in {feed_s:.1f} s, {stalled} stalled, {cut} cut, "
               f"{still_open} still open after {opts.hold:.0f} s; new login {newcomer}; "
               f"RSS before {mib(before)} MiB, peak {mib(peak)} MiB (VmHWM {mib(hwm)}), "
               f"held {mib(rss)} MiB; server fds {fds}")
    return Result("imap-literals", figures, f"under {TARGET_RSS_MIB} MiB RSS",
                  rss_verdict(peak))


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        return want
    except (ValueError, OSError):
        return soft


def scenario_idle_flood(server, opts):
    per = opts.flood
    host = server.host
    # A client that logged in before the flood, with INBOX selected.
    good, _, why = imap_login(host, server.ports["imap"], GOOD_SOURCE, timeout=10)
    if good is not None:
        tagged, _ = imap_command(good, "s1", "SELECT INBOX", 10)
        if not (tagged or "").startswith("s1 OK"):
            why = f"SELECT: {tagged}"
            good.close()
            good = None
    before, _ = server.status()
    server.reset_peak()
    kept = []
    counts = {}
    samples = {}
    t0 = time.monotonic()
    for proto in ("smtp", "pop3", "imap"):
        socks, c, sample = open_many(host, server.ports[proto], proto, per, deadline_s=30)
        kept += socks
        counts[proto] = c
        samples[proto] = sample
        server.check()
    flood_s = time.monotonic() - t0
    time.sleep(1)
    server.check()
    # The logged-in client during the flood.
    lat = []
    noop_fail = 0
    if good is not None:
        for i in range(opts.noops):
            t = time.monotonic()
            try:
                tagged, _ = imap_command(good, f"n{i}", "NOOP", 10)
            except (OSError, socket.timeout):
                tagged = None
            if tagged and tagged.startswith(f"n{i} OK"):
                lat.append(time.monotonic() - t)
            else:
                noop_fail += 1
                if tagged is None:
                    break
        good.close()
    # A new client during the flood.
    newc, t_new, new_why = imap_login(host, server.ports["imap"], GOOD_SOURCE, timeout=10)
    if newc is not None:
        newc.close()
    rss, hwm = server.status()
    peak = max(server.peak_rss, hwm or 0)
    threads, fds = server.threads_and_fds()
    server.check()
    close_all(kept)

    def summary(proto):
        c = counts[proto]
        s = f"{proto.upper()} {c['served']} served"
        for key in ("refused", "closed", "connect-error", "silent", "other"):
            if c[key]:
                s += f", {c[key]} {key}"
        return s

    served = sum(c["served"] + c["silent"] for c in counts.values())
    per_conn = ((rss - before) / served) if (served and rss and before) else None
    if good is None:
        logged = f"logged-in client could not log in before the flood ({why})"
    elif lat:
        logged = (f"NOOP x{len(lat)} p50 {ms(pct(lat, 50))} / p99 {ms(pct(lat, 99))} / "
                  f"max {ms(max(lat))} ms" + (f", {noop_fail} failed" if noop_fail else ""))
    else:
        logged = f"NOOP failed x{noop_fail}"
    new = (f"new client logged in in {ms(t_new)} ms" if newc is not None
           else f"new client NOT logged in ({new_why}) after {ms(t_new)} ms")
    refusal = next((s for s in samples.values() if s), None)
    figures = (f"3x{per} idle: {summary('smtp')}; {summary('pop3')}; {summary('imap')}"
               + (f" (e.g. '{refusal[:50]}')" if refusal else "")
               + f"; opened in {flood_s:.1f} s; {logged}; {new}; "
               f"RSS before {mib(before)} MiB, flood {mib(rss)} MiB "
               + (f"(+{per_conn:.1f} KiB/conn) " if per_conn is not None else "")
               + f"peak {mib(peak)} MiB; server fds {fds}, threads {threads}")
    if lat and not noop_fail:
        verdict = "met" if max(lat) <= TARGET_LATENCY_MS / 1000 else "NOT MET"
    else:
        verdict = "NOT MET"
    if newc is None:
        verdict += " (new client refused)"
    return Result("idle-flood", figures,
                  f"logged-in client served within {TARGET_LATENCY_MS} ms", verdict)


def guess_run(server, seconds, wait_close):
    """Wrong-password LOGINs for `seconds` from one client, one connection at a time.
    When the server ends a connection (BYE or EOF) the client reconnects: at once
    (`wait_close` False: a guesser need not wait), or once the server has closed it."""
    host, port = server.host, server.ports["imap"]
    r = {"delays": [], "close_waits": [], "connects": [], "refused": 0, "conns": 0,
         "guesses": 0, "other": None, "refusal": None}
    seq = 0
    t_start = time.monotonic()
    end = t_start + seconds
    while time.monotonic() < end:
        t_c = time.monotonic()
        try:
            c = Conn(host, port, timeout=10)
            greeting = c.readline(10)
        except (OSError, socket.timeout):
            r["refused"] += 1
            time.sleep(0.01)
            continue
        if greeting is None or not greeting.startswith(b"* OK"):
            r["refused"] += 1
            r["refusal"] = r["refusal"] or (greeting or b"closed").decode("utf-8", "replace")
            c.close()
            time.sleep(0.01)
            continue
        r["connects"].append(time.monotonic() - t_c)
        r["conns"] += 1
        try:
            while time.monotonic() < end:
                seq += 1
                tag = f"g{seq}".encode()
                t = time.monotonic()
                c.send(b'%s LOGIN %s "wrong%d"\r\n' % (tag, USER.encode(), seq))
                bye = False
                tagged = None
                while True:
                    line = c.readline(30)
                    if line is None:
                        bye = True
                        break
                    if line.startswith(b"* BYE"):
                        bye = True
                    if line.startswith(tag + b" "):
                        tagged = line
                        break
                if tagged is None:
                    break
                r["delays"].append(time.monotonic() - t)
                if tagged.startswith(tag + b" NO"):
                    r["guesses"] += 1
                else:
                    r["other"] = r["other"] or tagged.decode("utf-8", "replace")
                t_close = time.monotonic()
                # yubin sends its BYE after the tagged NO: look for one already here.
                if not bye and b"* BYE" not in c.buf:
                    c.sock.setblocking(False)
                    try:
                        data = c.sock.recv(65536)
                        c.buf += data
                        bye = not data or b"* BYE" in c.buf
                    except BlockingIOError:
                        pass
                    except OSError:
                        bye = True
                    c.sock.setblocking(True)
                else:
                    bye = True
                if bye:
                    if wait_close and c.wait_eof(30):
                        r["close_waits"].append(time.monotonic() - t_close)
                    break
        except (OSError, socket.timeout):
            pass
        c.close()
    r["elapsed"] = time.monotonic() - t_start
    return r


def guess_summary(r):
    rate = r["guesses"] / r["elapsed"] if r["elapsed"] else 0
    per = r["guesses"] / r["conns"] if r["conns"] else 0
    s = (f"{rate:.1f} guesses/s ({r['guesses']} in {r['elapsed']:.1f} s, {r['conns']} "
         f"connections, {per:.1f} per connection"
         + (f", {r['refused']} connections refused" if r["refused"] else "")
         + (f" ('{r['refusal'][:50]}')" if r["refusal"] else "")
         + f"), NO after p50 {ms(pct(r['delays'], 50))} / max "
         f"{ms(max(r['delays']) if r['delays'] else None)} ms")
    if r["close_waits"]:
        s += f", closed {ms(pct(r['close_waits'], 50))} ms after the last NO"
    if r["other"]:
        s += f" (other reply: '{r['other'][:50]}')"
    return s


def scenario_guessing(server, opts):
    host, port = server.host, server.ports["imap"]
    server.reset_peak()
    parts = []
    for wait_close, label in ((True, "reconnect at close"), (False, "reconnect at BYE")):
        r = guess_run(server, opts.seconds, wait_close)
        server.check()
        good, t_login, why = imap_login(host, port, GOOD_SOURCE, timeout=10)
        real = (f"ok in {ms(t_login)} ms" if good
                else f"FAILED ({why}) after {ms(t_login)} ms")
        if good:
            good.close()
        parts.append(f"{label}: {guess_summary(r)}; then the real user's login {real}")
        # Let sessions the server is still holding (a delayed close) end first.
        time.sleep(2.5)
        server.check()
    rss, hwm = server.status()
    figures = "; ".join(parts) + f"; peak RSS {mib(max(server.peak_rss, hwm or 0))} MiB"
    return Result("guessing", figures, "back-off (reported, not pass/fail)", "-")


SCENARIOS = {
    "smtp-big": scenario_smtp_big,
    "imap-literals": scenario_imap_literals,
    "idle-flood": scenario_idle_flood,
    "guessing": scenario_guessing,
}


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(
        description="What hostile clients cost yubin serve (memory and connection slots).")
    ap.add_argument("--yubin", default=DEFAULT_YUBIN,
                    help="the yubin binary (default: target/release/yubin)")
    ap.add_argument("--only", choices=sorted(SCENARIOS), help="run one scenario")
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for `yubin serve` (repeat it), e.g. "
                         "--serve-arg=--max-per-peer --serve-arg=512 to let every "
                         "attacking connection in")
    ap.add_argument("--quick", action="store_true",
                    help="smaller figures for a smoke run: 4 SMTP clients, 100 literal "
                         "connections, 3x200 idle, 2 s of guessing")
    ap.add_argument("--smtp-clients", type=int, help="smtp-big clients (default 16; quick 4)")
    ap.add_argument("--smtp-mb", type=float, default=24.0,
                    help="smtp-big message size in MB (10^6 octets; default 24)")
    ap.add_argument("--literal-conns", type=int,
                    help="imap-literals connections (default 500; quick 100)")
    ap.add_argument("--literal-kib", type=int, default=256,
                    help="KiB of the literal fed to each connection answered + "
                         "(default 256, in 16 KiB steps)")
    ap.add_argument("--hold", type=float, default=3.0,
                    help="seconds imap-literals holds the connections after feeding")
    ap.add_argument("--flood", type=int,
                    help="idle-flood connections per protocol (default 1000; quick 200)")
    ap.add_argument("--noops", type=int, default=50, help="idle-flood NOOPs (default 50)")
    ap.add_argument("--seconds", type=float,
                    help="seconds of guessing in each of its two runs (default 5; quick 2)")
    opts = ap.parse_args()
    q = opts.quick
    opts.smtp_clients = opts.smtp_clients or (4 if q else 16)
    opts.smtp_bytes = int(opts.smtp_mb * 1e6)
    opts.literal_conns = opts.literal_conns or (100 if q else 500)
    opts.flood = opts.flood or (200 if q else 1000)
    opts.seconds = opts.seconds or (2.0 if q else 5.0)

    binary = os.path.abspath(opts.yubin)
    if opts.yubin == DEFAULT_YUBIN and not os.path.exists(binary):
        # Run from elsewhere than the workspace root: the workspace's own build.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        binary = os.path.join(root, DEFAULT_YUBIN)
    if not os.access(binary, os.X_OK):
        print(f"hostile.py: no yubin binary at {binary} "
              "(cargo build --release -p yubin, or --yubin PATH)", file=sys.stderr)
        return 2
    # Room for the flood on both sides: the server inherits this limit.
    need = 3 * opts.flood + opts.literal_conns + 256
    limit = raise_nofile(need)
    if limit < need:
        print(f"note: RLIMIT_NOFILE is {limit}, below the {need} descriptors wanted; "
              "some connections will fail on the client side", file=sys.stderr)

    names = [opts.only] if opts.only else list(SCENARIOS)
    results = []
    failed = False
    print(f"yubin hostile-client benchmark: {binary}"
          f"{' (quick)' if q else ''}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; "
          f"RLIMIT_NOFILE {limit}", flush=True)
    for name in names:
        print(f"{name}: running ...", file=sys.stderr, flush=True)
        try:
            server = Server(binary, name, opts.serve_arg)
        except ServerError as e:
            print(f"{name}: SERVER FAILED TO START: {e}", flush=True)
            results.append(Result(name, f"server failed to start: {e}", "-", "CRASH"))
            failed = True
            break
        try:
            r = SCENARIOS[name](server, opts)
            if not server.alive():
                raise ServerError(f"yubin serve died (exit status {server.proc.returncode})")
        except ServerError as e:
            r = Result(name, str(e), "-", "CRASH")
            failed = True
        except Exception as e:  # a bug in this script: report it, keep going
            r = Result(name, f"benchmark error: {type(e).__name__}: {e}", "-", "ERROR")
        finally:
            alive = server.stop()
        if not alive and r.verdict != "CRASH":
            r = Result(name, r.figures + f"; server died (exit {server.proc.returncode})",
                       r.target, "CRASH")
            failed = True
        results.append(r)
        print(f"{r.name}: {r.figures}; target {r.target}: {r.verdict}", flush=True)

    print()
    print("| scenario | figures | target | result |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {r.figures} | {r.target} | {r.verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
