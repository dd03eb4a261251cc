//! `yubin --trace send` shows the SMTP dialogue lettre has with the server as the servers'
//! own transcripts show it — credentials masked, the message by its first lines and a
//! count — and the message arrives exactly as it does without `--trace`.

mod common;

use std::path::{Path, PathBuf};

use common::{ServerProcess, port_of, run_with_timeout, yubin};

/// The account the tests log in as; the password is one no other text contains.
const USER: &str = "alice";
const PASSWORD: &str = "tr4ce-Pa55word";

/// A `yubin serve` on free ports, killed when dropped.
struct Served {
    _server: ServerProcess,
    _data: tempfile::TempDir,
    smtp: u16,
    smtps: u16,
    pop: u16,
    /// The local CA, when TLS is on.
    ca: Option<PathBuf>,
}

fn serve(tls: bool) -> Served {
    let data = tempfile::tempdir().unwrap();
    let account = format!("{USER}:{PASSWORD}");
    let mut args = vec![
        "serve",
        "--data",
        data.path().to_str().unwrap(),
        "--user",
        &account,
        "--smtp-port",
        "0",
        "--pop-port",
        "0",
        "--imap-port",
        "0",
    ];
    if !tls {
        args.push("--no-tls");
    }
    let (mut server, smtp) = ServerProcess::start(&args, "SMTP listening on");
    let pop = port_of(&server.wait_for("POP3 listening on"));
    let (smtps, ca) = if tls {
        let smtps = port_of(&server.wait_for("SMTPS listening on"));
        let ca = server.wait_for("TLS: trust this CA");
        (smtps, Some(PathBuf::from(ca.rsplit(": ").next().unwrap())))
    } else {
        (0, None)
    };
    Served {
        _server: server,
        _data: data,
        smtp: port_of(&smtp),
        smtps,
        pop,
        ca,
    }
}

/// `yubin [--trace] send --port PORT ARGS`: (stdout, stderr), asserting success.
fn send(trace: bool, port: u16, args: &[&str]) -> (String, String) {
    let mut cmd = yubin();
    if trace {
        cmd.arg("--trace");
    }
    cmd.args([
        "send",
        "--port",
        &port.to_string(),
        "--to",
        "alice@localhost",
    ])
    .args(args);
    let (ok, out, err) = run_with_timeout(&mut cmd, 60);
    assert!(ok, "yubin send failed:\n{out}\n{err}");
    (out, err)
}

/// Message 1 of the mailbox, as its exact bytes; POP removes it at QUIT, so the next
/// message sent is message 1 again.
fn retrieve(s: &Served) -> Vec<u8> {
    let out = yubin()
        .args(["pop", "retr", "1", "--raw", "--port", &s.pop.to_string()])
        .args(["--user", USER, "--password", PASSWORD])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pop retr failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The message as the client sent it: without the `Return-Path` and `Received` header
/// the server puts in front (RFC 5321 §4.4).
fn as_sent(stored: &[u8]) -> &[u8] {
    let mut rest = stored;
    for name in ["Return-Path:", "Received:"] {
        assert!(
            rest.starts_with(name.as_bytes()),
            "no {name} in {:?}",
            String::from_utf8_lossy(stored)
        );
        // The header, and its continuation lines (which start with white space).
        loop {
            let end = rest.iter().position(|&b| b == b'\n').unwrap() + 1;
            rest = &rest[end..];
            if !rest.starts_with(b"\t") && !rest.starts_with(b" ") {
                break;
            }
        }
    }
    rest
}

/// The lines of the transcript, the `C: `/`S: ` ones only.
fn transcript(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("C: ") || l.starts_with("S: "))
        .collect()
}

/// Fails with the whole transcript unless some line of it starts with `prefix`.
fn assert_has(lines: &[&str], prefix: &str) {
    assert!(
        lines.iter().any(|l| l.starts_with(prefix)),
        "no line starting {prefix:?} in:\n{}",
        lines.join("\n")
    );
}

/// Neither the password nor any base64 form it travels in (AUTH PLAIN's
/// `authzid NUL user NUL password`, AUTH LOGIN's password alone) is in `text`.
fn assert_no_password(text: &str) {
    let forms = [
        PASSWORD.to_owned(),
        base64(format!("\0{USER}\0{PASSWORD}").as_bytes()),
        base64(format!("{USER}\0{USER}\0{PASSWORD}").as_bytes()),
        base64(PASSWORD.as_bytes()),
    ];
    for form in forms {
        assert!(!text.contains(&form), "{form:?} is shown in:\n{text}");
    }
}

/// Standard base64 with padding (RFC 4648 §4), as SASL uses.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_is_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"\0alice\0hunter2"), "AGFsaWNlAGh1bnRlcjI=");
}

#[test]
fn trace_shows_the_dialogue_with_the_password_masked() {
    let s = serve(false);
    let body: String = (1..=20).map(|n| format!("body line {n}\n")).collect();
    let (out, err) = send(
        true,
        s.smtp,
        &[
            "--subject",
            "S",
            "--body",
            &body,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
    );
    assert!(out.starts_with("sent \"S\" to alice@localhost"), "{out}");
    let lines = transcript(&err);
    for prefix in [
        "S: 220 ",
        "C: EHLO ",
        "C: AUTH PLAIN ****",
        "S: 235 ",
        "C: MAIL FROM:<yubin@localhost>",
        "S: 250 ",
        "C: RCPT TO:<alice@localhost>",
        "C: DATA",
        "S: 354 ",
        "S: 250 2.0.0",
        "C: QUIT",
        "S: 221 ",
    ] {
        assert_has(&lines, prefix);
    }
    assert_no_password(&err);

    // The message: its first six lines shown as they were sent, the rest counted, then
    // the final `.`, then the server's 250 for it.
    let stored = retrieve(&s);
    let sent = String::from_utf8(as_sent(&stored).to_vec()).unwrap();
    let sent_lines: Vec<&str> = sent.strip_suffix("\r\n").unwrap().split("\r\n").collect();
    assert!(sent_lines.len() > 20, "{sent}");
    let data = lines.iter().position(|l| l.starts_with("S: 354 ")).unwrap();
    let shown: Vec<String> = sent_lines[..6].iter().map(|l| format!("C: {l}")).collect();
    assert_eq!(lines[data + 1..data + 7], shown, "{err}");
    assert!(shown.iter().any(|l| l == "C: Subject: S"), "{err}");
    assert_eq!(
        lines[data + 7],
        format!("C: … ({} more lines)", sent_lines.len() - 6),
        "{err}"
    );
    assert_eq!(lines[data + 8], "C: .", "{err}");
    assert!(lines[data + 9].starts_with("S: 250 2.0.0"), "{err}");
    assert!(!err.contains("body line 20"), "{err}");
    assert!(sent.contains("body line 20\r\n"), "{sent}");
}

#[test]
fn without_trace_nothing_is_shown() {
    let s = serve(false);
    let (out, err) = send(false, s.smtp, &["--user", USER, "--password", PASSWORD]);
    assert!(out.starts_with("sent "), "{out}");
    assert!(transcript(&err).is_empty(), "{err}");
    assert!(!retrieve(&s).is_empty());
}

/// A message with what a relay could get wrong: lines that start with a dot (stuffed on
/// the wire), a lone dot, 8-bit text, a long line, an empty last line.
fn tricky_eml(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut eml = Vec::new();
    for header in [
        "From: a@localhost",
        "To: alice@localhost",
        "Subject: =?utf-8?b?6YO15L6/?=",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
    ] {
        eml.extend_from_slice(format!("{header}\r\n").as_bytes());
    }
    eml.extend_from_slice(".starts with a dot\r\n.\r\n..two dots\r\n".as_bytes());
    eml.extend_from_slice("郵便 — 8-bit text\r\n".as_bytes());
    eml.extend_from_slice(&[b'x'; 900]);
    eml.extend_from_slice(b"\r\n");
    for n in 1..=30 {
        eml.extend_from_slice(format!("line {n}\r\n").as_bytes());
    }
    eml.extend_from_slice(b"\r\n");
    let path = dir.join("tricky.eml");
    std::fs::write(&path, &eml).unwrap();
    (path, eml)
}

#[test]
fn a_traced_message_arrives_byte_for_byte_as_an_untraced_one() {
    let s = serve(false);
    let dir = tempfile::tempdir().unwrap();
    let (path, eml) = tricky_eml(dir.path());
    let path = path.to_str().unwrap();
    let mut arrived = Vec::new();
    for trace in [true, false] {
        let (_, err) = send(trace, s.smtp, &["--eml", path]);
        if trace {
            let lines = transcript(&err);
            assert_has(&lines, "C: From: a@localhost");
            assert_has(&lines, "C: .");
            assert_has(&lines, "S: 250 2.0.0");
            assert_has(&lines, "C: QUIT");
        }
        arrived.push(retrieve(&s));
    }
    assert_eq!(as_sent(&arrived[0]), eml, "with --trace");
    assert_eq!(as_sent(&arrived[1]), eml, "without --trace");
}

#[test]
fn starttls_is_shown_until_the_handshake() {
    let s = serve(true);
    let ca = s.ca.as_ref().unwrap().to_str().unwrap();
    let (_, err) = send(
        true,
        s.smtp,
        &[
            "--starttls",
            "--ca",
            ca,
            "--subject",
            "over STARTTLS",
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
    );
    let lines = transcript(&err);
    let n = lines.len();
    assert!(n >= 4, "{err}");
    assert!(lines[0].starts_with("S: 220 "), "{err}");
    assert_has(&lines, "C: EHLO ");
    assert_has(&lines, "S: 250-STARTTLS");
    assert_eq!(lines[n - 3], "C: STARTTLS", "{err}");
    assert!(lines[n - 2].starts_with("S: 220 "), "{err}");
    assert_eq!(
        lines[n - 1],
        "S: [TLS handshake: the rest of the session is encrypted and cannot be shown]"
    );
    assert_no_password(&err);
    let sent = retrieve(&s);
    assert!(
        String::from_utf8_lossy(&sent).contains("Subject: over STARTTLS\r\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn implicit_tls_says_the_session_cannot_be_shown() {
    let s = serve(true);
    let ca = s.ca.as_ref().unwrap().to_str().unwrap();
    let (_, err) = send(
        true,
        s.smtps,
        &[
            "--tls",
            "--ca",
            ca,
            "--subject",
            "over TLS",
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
    );
    assert_eq!(
        transcript(&err),
        ["S: [TLS from the first byte: the whole session is encrypted and cannot be shown]"],
        "{err}"
    );
    assert_no_password(&err);
    let sent = retrieve(&s);
    assert!(
        String::from_utf8_lossy(&sent).contains("Subject: over TLS\r\n"),
        "{}",
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn a_server_that_is_not_there_is_said_as_without_trace() {
    // A port that was free a moment ago.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut errors = Vec::new();
    for trace in [true, false] {
        let mut cmd = yubin();
        if trace {
            cmd.arg("--trace");
        }
        cmd.args([
            "send",
            "--port",
            &port.to_string(),
            "--to",
            "alice@localhost",
        ]);
        let (ok, _, err) = run_with_timeout(&mut cmd, 60);
        assert!(!ok, "{err}");
        errors.push(err);
    }
    assert_eq!(errors[0], errors[1]);
    assert!(errors[0].contains("Connection refused"), "{}", errors[0]);
}
