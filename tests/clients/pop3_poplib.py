#!/usr/bin/env python3
"""Drive a yubin POP3 server with Python's standard poplib, as a real client would.

usage: pop3_poplib.py HOST PORT USER PASSWORD EXPECTED_MESSAGES

The server must run with the default retention (delete-on-retrieve) and hold
EXPECTED_MESSAGES (at least 2) in INBOX. Exits non-zero with a FAIL line on any mismatch.
"""
import base64
import poplib
import sys


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    host, port, user, password, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    check(expected >= 2, "test needs at least two messages")

    p = poplib.POP3(host, port, timeout=10)
    check(p.getwelcome().startswith(b"+OK"), "greeting is +OK")
    caps = p.capa()
    for cap in ("TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
        check(cap in caps, f"CAPA lists {cap}")
    check(caps.get("SASL") == ["PLAIN"], "CAPA offers SASL PLAIN")
    check(caps.get("EXPIRE") == ["0"], "CAPA says EXPIRE 0 (retrieved mail leaves the server)")

    # A wrong password is refused with the [AUTH] response code.
    p.user(user)
    try:
        p.pass_(password + "-wrong")
        check(False, "wrong password refused")
    except poplib.error_proto as e:
        check(str(e).startswith("b'-ERR [AUTH]"), "wrong password refused with [AUTH]")

    p.user(user)
    p.pass_(password)
    count, size = p.stat()
    check(count == expected, f"STAT counts {expected} messages")
    _, listing, _ = p.list()
    sizes = {int(n): int(s) for n, s in (l.split() for l in listing)}
    check(sorted(sizes) == list(range(1, expected + 1)), "LIST numbers every message")
    check(sum(sizes.values()) == size, "LIST sizes add up to STAT")
    _, uidls, _ = p.uidl()
    uids = [l.split()[1] for l in uidls]
    check(len(set(uids)) == expected, "UIDL ids are unique")
    check(p.uidl(1).split()[2] == uids[0], "UIDL 1 matches the listing")

    _, top, _ = p.top(1, 0)
    check(b"" in top and top.index(b"") == len(top) - 1, "TOP 1 0 is the header and a blank line")
    _, lines, octets = p.retr(1)
    check(octets == sizes[1], "RETR size matches LIST (sizes count the bytes sent)")
    check(any(l.lower().startswith(b"subject:") for l in lines), "RETR returns the header")

    p.dele(2)
    try:
        p.retr(2)
        check(False, "deleted message cannot be retrieved")
    except poplib.error_proto:
        check(True, "deleted message cannot be retrieved")
    p.rset()
    check(p.stat()[0] == expected, "RSET brings the deleted message back")
    p.retr(1)
    check(p.quit().startswith(b"+OK"), "QUIT commits")

    # Log in again with AUTH PLAIN (RFC 5034, initial response): message 1 is gone,
    # message 2 (deleted, then RSET) is still there.
    p = poplib.POP3(host, port, timeout=10)
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    check(p._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK"), "AUTH PLAIN logs in")
    count2, _ = p.stat()
    check(count2 == expected - 1, "the retrieved message was removed at QUIT")
    _, uidls2, _ = p.uidl()
    uids2 = [l.split()[1] for l in uidls2]
    check(uids2 == uids[1:], "the others kept their UIDL ids")
    p.quit()
    print("poplib: all checks passed")


if __name__ == "__main__":
    main()
