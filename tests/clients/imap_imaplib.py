#!/usr/bin/env python3
"""Python's imaplib against a yubin IMAP server: every part-1 command, with assertions.

Usage: imap_imaplib.py HOST PORT USER PASSWORD

Expects INBOX to hold the corpus (tests/fixtures/corpus, delivered in file-name order)
and nothing to be \\Seen yet. Exits non-zero on the first failed check.
"""
import base64
import imaplib
import re
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def ok(result, what):
    typ, data = result
    assert typ == "OK", f"{what}: {typ} {data!r}"
    return data


m = imaplib.IMAP4(host, port, timeout=20)
caps = m.capabilities
for c in ("IMAP4REV1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "NAMESPACE", "UNSELECT",
          "SPECIAL-USE", "CHILDREN", "AUTH=PLAIN"):
    assert c in caps, f"capability {c} missing from {caps}"
ok(m.noop(), "NOOP before login")

# Wrong state and wrong password answer without ending the session.
try:
    m.select("INBOX")
    raise AssertionError("SELECT before login must fail")
except imaplib.IMAP4.error:
    pass
try:
    m.login(user, password + "-wrong")
    raise AssertionError("a wrong password must fail")
except imaplib.IMAP4.error as e:
    assert "AUTHENTICATIONFAILED" in str(e), e

# AUTHENTICATE PLAIN (imaplib answers the `+` continuation).
typ, _ = m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
assert typ == "OK"

ok(m.xatom("ID", '("name" "imaplib")'), "ID")
assert m.untagged_responses.pop("ID")[0].startswith(b'("name" "yubin"')
ok(m.xatom("NAMESPACE"), "NAMESPACE")
ok(m.xatom("ENABLE", "CONDSTORE"), "ENABLE")

data = ok(m.list(), "LIST")
names = {}
for line in data:
    attrs, delim, name = re.match(rb'\((.*?)\) "(.)" "?(.*?)"?$', line).groups()
    names[name.decode()] = attrs.decode().split()
assert "INBOX" in names and names["INBOX"][0] in ("\\HasNoChildren", "\\HasChildren"), names
assert "\\Sent" in names["Sent"] and "\\Trash" in names["Trash"], names
data = ok(m.list('""', "%"), "LIST %")
assert all(b"/" not in l.rsplit(b" ", 1)[1] for l in data)
ok(m.subscribe("Trash"), "SUBSCRIBE")
assert any(b'"Trash"' in l for l in ok(m.lsub(), "LSUB"))
ok(m.unsubscribe("Trash"), "UNSUBSCRIBE")
assert not any(b'"Trash"' in l for l in ok(m.lsub(), "LSUB after UNSUBSCRIBE"))

status = ok(m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"), "STATUS")[0]
total = int(re.search(rb"MESSAGES (\d+)", status).group(1))
assert total >= 6, status
assert int(re.search(rb"UNSEEN (\d+)", status).group(1)) == total, status

# EXAMINE: read-only, and FETCH BODY[] sets nothing.
typ, data = m.select("INBOX", readonly=True)
assert typ == "OK" and int(data[0]) == total
typ, data = m.fetch("1", "(BODY[])")
assert typ == "OK"
typ, data = m.fetch("1", "(FLAGS)")
assert b"\\Seen" not in data[0], data
ok(m.unselect() if hasattr(m, "unselect") else m.xatom("UNSELECT"), "UNSELECT")

# SELECT and every FETCH item.
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) == total
assert m.untagged_responses.get("UIDVALIDITY") or True
typ, data = m.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
assert typ == "OK"
envelopes = [d for d in data if isinstance(d, bytes) and b"ENVELOPE" in d]
assert len(envelopes) == total, data
assert b'"Plain hello"' in envelopes[0]
for macro in ("ALL", "FAST", "FULL"):
    typ, data = m.fetch("1", macro)
    assert typ == "OK" and b"RFC822.SIZE" in data[0], (macro, data)
typ, data = m.fetch("6", "(BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY.PEEK[2.MIME])")
parts = [d[1] for d in data if isinstance(d, tuple)]
assert parts[0].startswith(b"From: Hanako Yamada"), parts
assert parts[1].startswith(b"Hello Alice,"), parts
assert parts[2].startswith(b"Content-Type: message/rfc822"), parts
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
assert data[0][1].startswith(b"From: ") and data[0][1].endswith(b"\r\n\r\n"), data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)] BODY.PEEK[]<0.10> RFC822.HEADER)")
assert typ == "OK"
assert any(isinstance(d, tuple) and b'BODY[]<0> "From: Hana"' in d[0] for d in data), data
typ, data = m.fetch("1:*", "(FLAGS)")
assert all(b"\\Seen" not in d for d in data), data

# FETCH BODY[] sets \Seen and reports it; RFC822.TEXT too; PEEK never.
typ, data = m.fetch("2", "(BODY[TEXT])")
assert b"\\Seen" in data[0][0] or b"\\Seen" in data[1], data
typ, data = m.uid("FETCH", "3", "(RFC822)")
assert typ == "OK"
typ, data = m.fetch("2:3", "(FLAGS)")
assert all(b"\\Seen" in d for d in data), data

# SEARCH: flags, headers, bodies, dates, sets, OR/NOT/parentheses, UTF-8 Japanese.
def search(*criteria, charset=None, uid=False):
    if uid:
        typ, data = m.uid("SEARCH", *(["CHARSET", charset] if charset else []), *criteria)
    else:
        typ, data = m.search(charset, *criteria)
    assert typ == "OK", (criteria, data)
    return [int(x) for x in data[0].split()]

assert search("ALL") == list(range(1, total + 1))
assert search("SEEN") == [2, 3]
assert search("UNSEEN")[0] == 1
assert search("SUBJECT", '"plain hello"') == [1, 6]
assert search("FROM", "dave") == [4, 6] or 6 in search("FROM", "dave")
assert search("OR", "FROM", "carol", "FROM", "bob") == [4, 5]
assert search("NOT", "(SEEN)", "1:3") == [1]
assert search("HEADER", "Message-ID", "fwd-6") == [6]
assert search("SENTON", "14-Mar-2026")[0] == 1
assert search("LARGER", "100000") == [total] or search("LARGER", "100000")[-1] == total
m.literal = "件名".encode()
assert search("SUBJECT", charset="UTF-8") == [3], "ISO-2022-JP subject found by a UTF-8 word"
m.literal = "日本語".encode()
assert 3 in search("BODY", charset="UTF-8")
assert search("UID", "1:2", uid=True) == [1, 2]
# imaplib raises only on BAD; a NO comes back as the status.
typ, data = m.search("KOI8-R", "ALL")
assert typ == "NO" and b"BADCHARSET" in data[0], (typ, data)

# Bad input answers BAD and the session goes on.
for bad in ("FETCH 1:x FLAGS", f"FETCH {total + 1} FLAGS", "FROB"):
    name, _, args = bad.partition(" ")
    imaplib.Commands.setdefault(name, ("SELECTED",))
    try:
        m._simple_command(name, *([args] if args else []))
        raise AssertionError(f"{bad} must fail")
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e), e
ok(m.check(), "CHECK")
ok(m.noop(), "NOOP")
ok(m.close(), "CLOSE")
m.logout()

# The mail stays on the server.
m = imaplib.IMAP4(host, port, timeout=20)
ok(m.login(user, password), "LOGIN")
typ, data = m.select("INBOX")
assert int(data[0]) == total, "IMAP keeps the mail"
m.logout()
print("imaplib: all checks passed")
