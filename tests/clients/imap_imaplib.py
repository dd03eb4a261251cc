#!/usr/bin/env python3
"""Python's imaplib against a yubin IMAP server: every command (parts 1 and 2), with assertions.

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
# Message data comes as a literal however short, so imaplib hands it back as data.
assert any(isinstance(d, tuple) and d[0].endswith(b"BODY[]<0> {10}") and d[1] == b"From: Hana"
           for d in data), data
typ, data = m.fetch("1", "(BODY.PEEK[TEXT]<0.5> BODY.PEEK[]<99999999.5>)")
assert typ == "OK" and len(data[0][1]) == 5, data
assert data[1][0].endswith(b"BODY[]<99999999> {0}") and data[1][1] == b"", data
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

# Part 2: writes. CAPABILITY lists them.
m = imaplib.IMAP4(host, port, timeout=20)
for c in ("IDLE", "UIDPLUS", "MOVE"):
    assert c in m.capabilities, f"capability {c} missing from {m.capabilities}"
ok(m.login(user, password), "LOGIN")

# CREATE, RENAME (children follow), DELETE (not with children, not INBOX).
ok(m.create("Work/Q4"), "CREATE")
typ, data = m.create("Work/Q4")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], (typ, data)
ok(m.rename("Work", "Jobs"), "RENAME")
listed = b" ".join(ok(m.list('""', "Jobs*"), "LIST Jobs*"))
assert b'"Jobs/Q4"' in listed and b"Work" not in listed, listed
typ, data = m.delete("Jobs")
assert typ == "NO" and b"HASCHILDREN" in data[0], (typ, data)
typ, data = m.delete("INBOX")
assert typ == "NO", (typ, data)
typ, data = m.rename("Jobs", "Sent")
assert typ == "NO" and b"ALREADYEXISTS" in data[0], (typ, data)
typ, data = m.create("../outside")
assert typ == "NO" and b"CANNOT" in data[0], (typ, data)
ok(m.delete("Jobs/Q4"), "DELETE child")
ok(m.delete("Jobs"), "DELETE parent")

# APPEND (synchronizing literal, flags, date): APPENDUID; a missing mailbox: TRYCREATE.
draft = b"From: alice@example.com\r\nSubject: draft\r\n\r\nnot done yet\r\n"
date = imaplib.Time2Internaldate((2024, 3, 5, 9, 10, 11, 0, 0, -1))
data = ok(m.append("Drafts", r"(\Draft $Todo)", date, draft), "APPEND")
appenduid = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
assert appenduid, data
typ, data = m.append("Nowhere", None, None, draft)
assert typ == "NO" and b"TRYCREATE" in data[0], (typ, data)
typ, data = m.select("Drafts")
uid = appenduid.group(2).decode()
typ, data = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
assert b"\\Draft" in data[0][0] and b"$Todo" in data[0][0] and data[0][1] == draft, data

# STORE: FLAGS / +FLAGS / -FLAGS / .SILENT, keywords; bad flags are BAD.
typ, data = m.select("INBOX")
total = int(data[0])
data = ok(m.store("1:2", "+FLAGS", r"(\Flagged $Label)"), "STORE +FLAGS")
assert len(data) == 2 and all(b"\\Flagged $Label" in d for d in data), data
data = ok(m.store("1", "-FLAGS.SILENT", "($Label)"), "STORE .SILENT")
assert data == [None], data
data = ok(m.uid("STORE", "1", "FLAGS", r"(\Answered)"), "UID STORE FLAGS")
assert b"UID 1" in data[0] and b"\\Answered" in data[0], data
for bad in (r"(\Recent)", r"(\Bogus)"):
    try:
        m.store("1", "+FLAGS", bad)
        raise AssertionError(f"STORE {bad} must fail")
    except imaplib.IMAP4.error as e:
        assert "BAD" in str(e) or "Recent" in str(e) or "flag" in str(e), e

# COPY: COPYUID. MOVE (RFC 6851): COPYUID in an untagged OK, then EXPUNGE.
data = ok(m.copy("1:2", "Trash"), "COPY")
assert re.search(rb"\[COPYUID \d+ 1:2 \d+:\d+\]", data[0]), data
typ, data = m.copy("1", "Nowhere")
assert typ == "NO" and b"TRYCREATE" in data[0], (typ, data)
typ, data = m.uid("MOVE", "2", "Trash")
assert typ == "OK", (typ, data)
assert m.untagged_responses.pop("COPYUID", None), m.untagged_responses
assert m.untagged_responses.pop("EXPUNGE", None) == [b"2"]
typ, data = m.uid("FETCH", "2", "(UID)")
assert data == [None], "MOVE leaves no copy behind"

# EXPUNGE and UID EXPUNGE (UIDPLUS).
ok(m.store("1", "+FLAGS.SILENT", r"(\Deleted)"), "STORE \\Deleted")
typ, data = m.uid("EXPUNGE", "999")
assert typ == "OK" and not m.untagged_responses.get("EXPUNGE"), data
data = ok(m.expunge(), "EXPUNGE")
assert data == [b"1"], data
typ, data = m.select("INBOX")
assert int(data[0]) == total - 2, (total, data)

# EXAMINE: writes are refused with READ-ONLY, nothing changes.
m.select("INBOX", readonly=True)
typ, data = m._simple_command("STORE", "1", "+FLAGS", r"(\Deleted)")
assert typ == "NO" and b"READ-ONLY" in data[0], (typ, data)

# IDLE (RFC 2177): another session's APPEND arrives as EXISTS while idling; DONE ends it.
m.select("INBOX")
other = imaplib.IMAP4(host, port, timeout=20)
ok(other.login(user, password), "LOGIN other")
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+"), "IDLE continuation"
ok(other.append("INBOX", None, None, b"Subject: new\r\n\r\nnew mail\r\n"), "APPEND other")
line = m.readline()
assert line == f"* {total - 1} EXISTS\r\n".encode(), line
m.send(b"DONE\r\n")
while True:
    line = m.readline()
    if line.startswith(tag):
        assert b" OK " in line, line
        break
other.logout()
m.logout()
print("imaplib: all checks passed")
