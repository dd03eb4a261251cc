#!/usr/bin/env python3
"""The lesson, checked with independent clients (Python's smtplib, poplib, imaplib).

usage: pop_vs_imap.py SCENARIO HOST SMTP_PORT POP_PORT IMAP_PORT [FIXTURES_DIR]

Each scenario sends mail over SMTP to alice (password "secret") on a fresh
`yubin serve --ephemeral`, reads it over IMAP and/or POP3, and asserts what the
lesson says: POP removes what it retrieves (at QUIT), IMAP keeps it.
Prints "ok: ..." per check and "PASS SCENARIO" at the end; exits non-zero on failure.
"""
import imaplib
import os
import poplib
import smtplib
import socket
import sys

USER, PASSWORD = "alice", "secret"


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


class Env:
    def __init__(self, host, smtp, pop, imap, fixtures=None):
        self.host, self.smtp, self.pop, self.imap, self.fixtures = host, smtp, pop, imap, fixtures

    def send(self, n, subject="lesson"):
        with smtplib.SMTP(self.host, self.smtp, timeout=10) as s:
            for i in range(n):
                msg = f"From: teacher@example.com\r\nTo: alice@localhost\r\nSubject: {subject} {i + 1}\r\n\r\nMessage {i + 1}.\r\n"
                s.sendmail("teacher@example.com", ["alice@localhost"], msg.encode())

    def imap_login(self):
        m = imaplib.IMAP4(self.host, self.imap, timeout=10)
        m.login(USER, PASSWORD)
        return m

    def imap_count(self):
        m = self.imap_login()
        typ, data = m.select("INBOX", readonly=True)
        check(typ == "OK", "IMAP EXAMINE INBOX")
        m.logout()
        return int(data[0])

    def imap_flags(self):
        m = self.imap_login()
        m.select("INBOX", readonly=True)
        typ, data = m.fetch("1:*", "(FLAGS)")
        m.logout()
        return [d.decode() for d in data if d]

    def pop_login(self):
        p = poplib.POP3(self.host, self.pop, timeout=10)
        p.user(USER)
        p.pass_(PASSWORD)
        return p

    def pop_count(self):
        p = self.pop_login()
        n = p.stat()[0]
        p.quit()
        return n


def imap_keeps(env):
    env.send(3)
    m = env.imap_login()
    typ, data = m.select("INBOX")
    check(int(data[0]) == 3, "IMAP sees 3 messages")
    typ, data = m.fetch("1:*", "(BODY[])")
    check(typ == "OK" and sum(1 for d in data if isinstance(d, tuple)) == 3, "IMAP fetched 3 bodies")
    m.logout()
    check(env.imap_count() == 3, "after LOGOUT and a new login, the 3 messages are still there")
    flags = env.imap_flags()
    check(len(flags) == 3 and all("\\Seen" in f for f in flags), "and they are now \\Seen")
    check(env.pop_count() == 3, "POP sees the same 3 messages")


def pop_removes(env):
    env.send(3)
    p = env.pop_login()
    count = p.stat()[0]
    for i in range(1, count + 1):
        p.retr(i)
    check(p.quit().startswith(b"+OK"), "POP RETR all, then QUIT")
    check(env.pop_count() == 0, "gone for POP")
    check(env.imap_count() == 0, "gone for IMAP too: one store")


def pop_drop_keeps(env):
    env.send(2)
    p = env.pop_login()
    p.retr(1)
    p.retr(2)
    # Drop the connection without QUIT: RFC 1939 §6, no UPDATE state, nothing removed.
    p.sock.shutdown(socket.SHUT_RDWR)
    p.sock.close()
    for _ in range(100):
        try:
            n = env.pop_count()
            break
        except poplib.error_proto as e:  # [IN-USE] until the server notices the drop
            check(b"IN-USE" in str(e).encode(), f"only IN-USE may delay us: {e}")
            import time
            time.sleep(0.05)
    check(n == 2, "dropped POP session removed nothing")
    check(env.imap_count() == 2, "IMAP agrees")


def pop_keep_retention(env):
    env.send(3)
    p = env.pop_login()
    caps = p.capa()
    check(caps.get("EXPIRE") == ["NEVER"], "CAPA says EXPIRE NEVER under --pop-retention keep")
    for i in (1, 2, 3):
        p.retr(i)
    p.dele(2)
    p.quit()
    check(env.pop_count() == 2, "RETR kept the messages; DELE removed one")
    check(env.imap_count() == 2, "IMAP agrees")


def turns(env):
    env.send(4)
    check(env.imap_count() == 4 and env.pop_count() == 4, "both see 4")
    m = env.imap_login()
    typ, data = m.select("INBOX")
    check(int(data[0]) == 4, "IMAP session selected INBOX with 4")
    m.fetch("1:2", "(BODY[])")
    # POP takes messages 1 and 3 while the IMAP session stays selected.
    p = env.pop_login()
    p.retr(1)
    p.retr(3)
    p.quit()
    check(env.pop_count() == 2, "POP now sees 2")
    typ, _ = m.noop()
    expunged = m.untagged_responses.get("EXPUNGE", [])
    check(sorted(int(x) for x in expunged) in ([1, 2], [3, 1], [1, 3]), f"the selected IMAP session saw the POP commit as EXPUNGE: {expunged}")
    typ, data = m.search(None, "ALL")
    check(len(data[0].split()) == 2, "IMAP now counts 2")
    typ, data = m.fetch("1:*", "(FLAGS)")
    flags = [d.decode() for d in data if d]
    check(len(flags) == 2 and "\\Seen" in flags[0] and "\\Seen" not in flags[1], f"message read over IMAP is \\Seen, the other not: {flags}")
    m.logout()


def corpus_check(env):
    """The corpus was sent already (by `yubin send --eml`, i.e. lettre), in file order."""
    names = sorted(f for f in os.listdir(env.fixtures) if f.endswith(".eml"))
    bodies = [open(os.path.join(env.fixtures, f), "rb").read() for f in names]
    p = env.pop_login()
    check(p.stat()[0] == len(bodies), f"{len(bodies)} corpus messages arrived")
    for i, want in enumerate(bodies, 1):
        _, lines, _ = p.retr(i)
        got = b"\r\n".join(lines) + b"\r\n"
        # Strip the trace headers SMTP added in front (Return-Path, Received and its folds).
        while got.startswith((b"Return-Path:", b"Received:", b"\t")):
            got = got.split(b"\r\n", 1)[1]
        check(got == want, f"{names[i - 1]} arrived byte-exact through SMTP and POP")
    p.quit()


SCENARIOS = {f.__name__: f for f in (imap_keeps, pop_removes, pop_drop_keeps, pop_keep_retention, turns, corpus_check)}

if __name__ == "__main__":
    scenario, host, smtp, pop, imap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    fixtures = sys.argv[6] if len(sys.argv) > 6 else None
    SCENARIOS[scenario](Env(host, smtp, pop, imap, fixtures))
    print(f"PASS {scenario}")
