//! The four server commands share one set of listener flags: `smtp serve` exists beside
//! `pop serve` and `imap serve`, each takes --idle-timeout, --login-timeout and the TLS
//! flags as `serve` does, and offers STARTTLS/STLS with the local CA.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{ServerProcess, port_of};

fn start(protocol: &str, data: &std::path::Path, extra: &[&str]) -> (ServerProcess, u16) {
    let mut args = vec![
        protocol,
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--port",
        "0",
    ];
    args.extend_from_slice(extra);
    let marker = format!(
        "{} listening on",
        protocol.to_uppercase().replace("POP", "POP3")
    );
    let (server, line) = ServerProcess::start(&args, &marker);
    (server, port_of(&line))
}

/// Connects, reads the greeting, sends `line`, returns every line until `last` matches.
fn ask(port: u16, line: &str, last: impl Fn(&str) -> bool) -> Vec<String> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            return lines;
        }
        let done = last(&l);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

#[test]
fn smtp_serve_runs_alone_and_offers_starttls() {
    let data = tempfile::tempdir().unwrap();
    let (_s, port) = start("smtp", data.path(), &[]);
    let reply = ask(port, "EHLO test", |l| l.starts_with("250 "));
    assert!(reply.iter().any(|l| l.contains("STARTTLS")), "{reply:?}");
}

#[test]
fn pop_and_imap_serve_offer_the_upgrade_and_take_the_shared_flags() {
    let data = tempfile::tempdir().unwrap();
    let (_p, pop) = start(
        "pop",
        data.path(),
        &["--login-timeout", "30", "--max-per-peer", "4"],
    );
    let capa = ask(pop, "CAPA", |l| l.starts_with('.'));
    assert!(capa.iter().any(|l| l.trim_end() == "STLS"), "{capa:?}");
    let (_i, imap) = start(
        "imap",
        data.path(),
        &["--idle-timeout", "1800", "--require-tls"],
    );
    let caps = ask(imap, "a CAPABILITY", |l| l.starts_with("a "));
    let line = caps.iter().find(|l| l.starts_with("* CAPABILITY")).unwrap();
    assert!(
        line.contains("STARTTLS") && line.contains("LOGINDISABLED"),
        "{line}"
    );
    // --no-tls: nothing to upgrade to.
    let (_n, plain) = start("imap", data.path(), &["--no-tls"]);
    let caps = ask(plain, "a CAPABILITY", |l| l.starts_with("a "));
    assert!(!caps.iter().any(|l| l.contains("STARTTLS")), "{caps:?}");
}
