//! `yubin serve --trace` as a learner reads it: every line says which session it belongs
//! to (`smtp#1`, `imap#1`), `--trace-time` adds the time of day, and a message's body is
//! shown by its first lines and a count of the rest, on both sides.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::{port_of, yubin};

fn exchange(port: u16, lines: &[String]) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    for line in lines {
        w.write_all(line.as_bytes()).unwrap();
        w.write_all(b"\r\n").unwrap();
    }
    // Read until the server closes (each exchange ends with QUIT/LOGOUT).
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
}

#[test]
fn sessions_are_labelled_timed_and_bodies_shortened() {
    let data = tempfile::tempdir().unwrap();
    let mut child = yubin()
        .args(["--trace", "--trace-time", "serve", "--no-tls", "--data"])
        .arg(data.path())
        .args(["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ports = (0, 0);
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        if line.contains("SMTP listening on") {
            ports.0 = port_of(&line);
        }
        if line.contains("IMAP listening on") {
            ports.1 = port_of(&line);
            break;
        }
        line.clear();
    }
    let mut smtp = vec![
        "EHLO learner".to_owned(),
        "MAIL FROM:<a@example.com>".to_owned(),
        "RCPT TO:<alice@localhost>".to_owned(),
        "DATA".to_owned(),
        "Subject: twenty lines".to_owned(),
        String::new(),
    ];
    for n in 1..=18 {
        smtp.push(format!("body line {n}"));
    }
    smtp.extend([".".to_owned(), "QUIT".to_owned()]);
    exchange(ports.0, &smtp);
    exchange(
        ports.1,
        &[
            "a LOGIN alice secret".to_owned(),
            "b SELECT INBOX".to_owned(),
            "c FETCH 1 BODY.PEEK[]".to_owned(),
            "d LOGOUT".to_owned(),
        ],
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut trace = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut trace)
        .unwrap();
    let _ = child.wait();

    let has = |needle: &str| trace.lines().any(|l| l.ends_with(needle));
    assert!(has("smtp#1 C: DATA"), "{trace}");
    assert!(has("smtp#1 C: Subject: twenty lines"), "{trace}");
    assert!(has("smtp#1 C: body line 4"), "{trace}");
    assert!(!has("smtp#1 C: body line 5"), "{trace}");
    assert!(has("smtp#1 C: … (14 more lines)"), "{trace}");
    assert!(has("smtp#1 C: ."), "{trace}");
    assert!(has("imap#1 C: a LOGIN alice ****"), "{trace}");
    // The FETCH of the whole message is shortened too.
    assert!(
        trace
            .lines()
            .any(|l| l.contains("imap#1 S: … (") && l.ends_with("more lines)")),
        "{trace}"
    );
    // Every transcript line starts with the time of day.
    for l in trace
        .lines()
        .filter(|l| l.contains(" C: ") || l.contains(" S: "))
    {
        let time = l.split(' ').next().unwrap();
        assert!(
            time.len() == 12 && time.as_bytes()[2] == b':' && time.as_bytes()[8] == b'.',
            "{l}"
        );
    }
}
