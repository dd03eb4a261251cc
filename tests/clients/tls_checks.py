#!/usr/bin/env python3
"""TLS checks with Python's ssl module, verifying yubin's certificate against its CA.

usage: tls_checks.py SCENARIO CA_FILE HOST SMTP SMTPS POP POP3S IMAP IMAPS

Scenarios: implicit, upgrade, injection, require. Prints "ok: ..." per check and
"PASS SCENARIO"; exits non-zero on failure. Certificate checks stay on: the context is
ssl.create_default_context(cafile=CA), which verifies the chain and the host name.
"""
import imaplib
import poplib
import smtplib
import socket
import ssl
import sys

USER, PASSWORD = "alice", "secret"
MSG = b"Subject: over TLS\r\n\r\nsent over TLS\r\n"


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def implicit(ctx, host, p):
    with smtplib.SMTP_SSL(host, p["smtps"], context=ctx, timeout=10) as s:
        s.login(USER, PASSWORD)
        s.sendmail("a@example.com", ["alice@localhost"], MSG)
    check(True, "SMTPS: verified handshake, AUTH, mail sent")
    pop = poplib.POP3_SSL(host, p["pop3s"], context=ctx, timeout=10)
    pop.user(USER)
    pop.pass_(PASSWORD)
    n, _ = pop.stat()
    check(n >= 1, "POP3S: verified handshake, login, the message is there")
    check("STLS" not in pop.capa(), "POP3S: CAPA does not offer STLS on a TLS connection")
    pop.quit()
    m = imaplib.IMAP4_SSL(host, p["imaps"], ssl_context=ctx, timeout=10)
    m.login(USER, PASSWORD)
    typ, data = m.select("INBOX", readonly=True)
    check(typ == "OK", "IMAPS: verified handshake, login, EXAMINE INBOX")
    m.logout()


def upgrade(ctx, host, p):
    with smtplib.SMTP(host, p["smtp"], timeout=10) as s:
        s.ehlo()
        check(s.has_extn("starttls"), "SMTP: EHLO offers STARTTLS")
        s.starttls(context=ctx)
        s.ehlo()
        check(not s.has_extn("starttls"), "SMTP: after the upgrade STARTTLS is no longer offered")
        s.login(USER, PASSWORD)
        s.sendmail("a@example.com", ["alice@localhost"], MSG)
    check(True, "SMTP STARTTLS: mail sent")
    pop = poplib.POP3(host, p["pop"], timeout=10)
    check("STLS" in pop.capa(), "POP3: CAPA offers STLS")
    pop.stls(context=ctx)
    check("STLS" not in pop.capa(), "POP3: after STLS, CAPA drops it")
    pop.user(USER)
    pop.pass_(PASSWORD)
    try:
        pop._shortcmd("STLS")
        check(False, "STLS twice is refused")
    except poplib.error_proto:
        check(True, "STLS twice is refused")
    pop.quit()
    m = imaplib.IMAP4(host, p["imap"], timeout=10)
    check("STARTTLS" in m.capabilities, "IMAP: CAPABILITY offers STARTTLS")
    m.starttls(ssl_context=ctx)
    typ, data = m.capability()
    check(b"STARTTLS" not in data[0], "IMAP: after STARTTLS, CAPABILITY drops it")
    m.login(USER, PASSWORD)
    check(m.select("INBOX")[0] == "OK", "IMAP STARTTLS: login and SELECT")
    m.logout()


def injection(ctx, host, p):
    """Plaintext pipelined after STARTTLS must be dropped, never run inside TLS."""
    # SMTP: STARTTLS and an injected MAIL FROM in one packet.
    raw = socket.create_connection((host, p["smtp"]), timeout=10)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"EHLO me\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    raw.sendall(b"STARTTLS\r\nMAIL FROM:<attacker@example.com>\r\n")
    check(f.readline().startswith(b"220"), "SMTP: 220 ready to start TLS")
    tls = ctx.wrap_socket(raw, server_hostname=host)
    tf = tls.makefile("rb")
    tls.sendall(b"EHLO me\r\n")
    while not tf.readline().startswith(b"250 "):
        pass
    tls.sendall(b"RCPT TO:<alice@localhost>\r\n")
    line = tf.readline()
    check(line.startswith(b"503"), f"SMTP: the injected MAIL FROM was not executed ({line!r})")
    tls.close()
    # POP3: STLS and an injected USER in one packet.
    raw = socket.create_connection((host, p["pop"]), timeout=10)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"STLS\r\nUSER alice\r\n")
    check(f.readline().startswith(b"+OK"), "POP3: +OK begin TLS")
    tls = ctx.wrap_socket(raw, server_hostname=host)
    tf = tls.makefile("rb")
    tls.sendall(b"PASS secret\r\n")
    line = tf.readline()
    check(line.startswith(b"-ERR"), f"POP3: the injected USER was not executed ({line!r})")
    tls.close()
    # IMAP: STARTTLS and an injected LOGIN in one packet.
    raw = socket.create_connection((host, p["imap"]), timeout=10)
    f = raw.makefile("rb")
    f.readline()
    raw.sendall(b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    check(f.readline().startswith(b"a OK"), "IMAP: a OK begin TLS")
    tls = ctx.wrap_socket(raw, server_hostname=host)
    tf = tls.makefile("rb")
    tls.sendall(b"c SELECT INBOX\r\n")
    line = tf.readline()
    check(line.startswith(b"c BAD"), f"IMAP: the injected LOGIN was not executed ({line!r})")
    tls.close()


def require(ctx, host, p):
    pop = poplib.POP3(host, p["pop"], timeout=10)
    caps = pop.capa()
    check("USER" not in caps and "STLS" in caps, "POP3 --require-tls: CAPA offers STLS, not USER")
    try:
        pop.user(USER)
        check(False, "plaintext USER refused")
    except poplib.error_proto as e:
        check("[AUTH]" in str(e), "POP3: plaintext USER refused with [AUTH]")
    pop.stls(context=ctx)
    pop.user(USER)
    pop.pass_(PASSWORD)
    check(True, "POP3: login works after STLS")
    pop.quit()
    with smtplib.SMTP(host, p["smtp"], timeout=10) as s:
        s.ehlo()
        check(not s.has_extn("auth"), "SMTP --require-tls: no AUTH offered before TLS")
        code, _ = s.mail("a@example.com")
        check(code == 530, f"SMTP: MAIL before STARTTLS gets 530 ({code})")
        s.starttls(context=ctx)
        s.ehlo()
        check(s.has_extn("auth"), "SMTP: AUTH offered after STARTTLS")
        s.sendmail("a@example.com", ["alice@localhost"], MSG)
    check(True, "SMTP: mail accepted after STARTTLS")
    m = imaplib.IMAP4(host, p["imap"], timeout=10)
    check("LOGINDISABLED" in m.capabilities and "AUTH=PLAIN" not in m.capabilities, "IMAP --require-tls: LOGINDISABLED, no AUTH=PLAIN")
    try:
        m.login(USER, PASSWORD)
        check(False, "IMAP plaintext LOGIN refused")
    except imaplib.IMAP4.error as e:
        check("PRIVACYREQUIRED" in str(e), f"IMAP: plaintext LOGIN refused with [PRIVACYREQUIRED] ({e})")
    m.starttls(ssl_context=ctx)
    m.login(USER, PASSWORD)
    check(True, "IMAP: LOGIN works after STARTTLS")
    m.logout()


if __name__ == "__main__":
    scenario, ca, host = sys.argv[1], sys.argv[2], sys.argv[3]
    names = ["smtp", "smtps", "pop", "pop3s", "imap", "imaps"]
    ports = dict(zip(names, map(int, sys.argv[4:10])))
    ctx = ssl.create_default_context(cafile=ca)
    {"implicit": implicit, "upgrade": upgrade, "injection": injection, "require": require}[scenario](ctx, host, ports)
    print(f"PASS {scenario}")
