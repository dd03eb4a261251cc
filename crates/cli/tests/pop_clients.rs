//! Real POP3 clients against `yubin pop serve`: curl and Python's poplib.

mod common;

use common::{ServerProcess, client_script, deliver_corpus, port_of, run_with_timeout, yubin};
use std::process::Command;

fn serve(data: &std::path::Path, extra: &[&str]) -> (ServerProcess, u16) {
    let data = data.to_str().unwrap();
    let mut args = vec!["pop", "serve", "--port", "0", "--data", data];
    args.extend_from_slice(extra);
    let (server, line) = ServerProcess::start(&args, "POP3 listening on");
    let port = port_of(&line);
    (server, port)
}

#[test]
fn curl_lists_retrieves_and_runs_a_custom_uidl() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path(), &[]);
    let url = format!("pop3://127.0.0.1:{port}/");

    let (ok, list, err) = run_with_timeout(
        Command::new("curl").args(["-s", "-S", "-u", "alice:secret", &url]),
        20,
    );
    assert!(ok, "curl LIST: {err}");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), corpus.len(), "{list}");
    assert_eq!(lines[0], format!("1 {}", corpus[0].len()));

    let (ok, uidl, err) = run_with_timeout(
        Command::new("curl").args(["-s", "-S", "-u", "alice:secret", "-X", "UIDL", &url]),
        20,
    );
    assert!(ok, "curl UIDL: {err}");
    assert_eq!(uidl.lines().count(), corpus.len(), "{uidl}");

    // RETR 1: the message arrives byte-exact, and (delete-on-retrieve) is then gone.
    let (ok, msg, err) = run_with_timeout(
        Command::new("curl").args(["-s", "-S", "-u", "alice:secret", &format!("{url}1")]),
        20,
    );
    assert!(ok, "curl RETR: {err}");
    assert_eq!(msg.as_bytes(), &corpus[0][..]);
    let (_, list_after, _) = run_with_timeout(
        Command::new("curl").args(["-s", "-u", "alice:secret", &url]),
        20,
    );
    assert_eq!(
        list_after.lines().count(),
        corpus.len() - 1,
        "POP removed what it retrieved"
    );
}

#[test]
fn python_poplib_drives_a_whole_session() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path(), &[]);
    let (ok, out, err) = run_with_timeout(
        Command::new("python3")
            .arg(client_script("pop3_poplib.py"))
            .args([
                "127.0.0.1",
                &port.to_string(),
                "alice",
                "secret",
                &corpus.len().to_string(),
            ]),
        60,
    );
    assert!(ok, "poplib script failed:\n{out}\n{err}");
    assert!(out.contains("poplib: all checks passed"), "{out}");
}

#[test]
fn yubin_pop_client_fetch_and_keep() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path(), &[]);
    let port = port.to_string();
    let out_dir = tempfile::tempdir().unwrap();

    let (ok, stat, err) =
        run_with_timeout(yubin().args(["pop", "stat", "--port", &port, "--json"]), 20);
    assert!(ok, "{err}");
    assert!(
        stat.starts_with(&format!("{{\"messages\":{}", corpus.len())),
        "{stat}"
    );

    let (ok, out, err) = run_with_timeout(
        yubin()
            .args(["pop", "fetch", "--keep", "--port", &port, "--out"])
            .arg(out_dir.path()),
        60,
    );
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{} messages", corpus.len())), "{out}");
    assert!(
        out.contains(&format!("{} messages", corpus.len())) && out.contains("stayed on the server"),
        "{out}"
    );
    let mut fetched: Vec<Vec<u8>> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    fetched.sort();
    let mut want = corpus.clone();
    want.sort();
    assert_eq!(fetched, want, "every message fetched byte-exact");

    let (ok, out, err) = run_with_timeout(
        yubin()
            .args(["pop", "fetch", "--port", &port, "--out"])
            .arg(out_dir.path()),
        60,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("0 messages (0 octets) stayed on the server"),
        "{out}"
    );
}

#[test]
fn wrong_password_is_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(dir.path(), &[]);
    let (ok, _, err) = run_with_timeout(
        yubin().args([
            "pop",
            "stat",
            "--port",
            &port.to_string(),
            "--password",
            "nope",
        ]),
        20,
    );
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: login as alice failed"), "{err}");
    assert!(!err.contains("nope"));
}

#[test]
fn yubin_pop_list_uidl_top_retr_dele_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path(), &["--pop-retention", "keep"]);
    let port = port.to_string();
    let pop = |args: &[&str]| {
        let (ok, out, err) =
            run_with_timeout(yubin().arg("pop").args(args).args(["--port", &port]), 30);
        assert!(ok, "yubin pop {args:?}: {err}");
        out
    };
    let list: serde_json::Value = serde_json::from_str(&pop(&["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), corpus.len());
    assert_eq!(list[0]["octets"], corpus[0].len());
    let uidl = pop(&["uidl"]);
    assert_eq!(uidl.lines().count(), corpus.len(), "{uidl}");
    // TOP 1 0: the header and the blank line that ends it, nothing of the body.
    let top = pop(&["top", "1", "0"]);
    let header_end = corpus[0].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(top.as_bytes(), &corpus[0][..header_end]);
    assert_eq!(
        pop(&["retr", "2"]).as_bytes(),
        &corpus[1][..],
        "RETR prints the raw message"
    );
    assert_eq!(pop(&["dele", "1"]).trim(), "message 1 deleted");
    assert!(
        pop(&["stat"]).starts_with(&format!("{} messages", corpus.len() - 1)),
        "DELE removed it at QUIT; RETR did not (keep)"
    );
}

#[test]
fn a_connection_over_max_connections_gets_the_refusal_line() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(
        dir.path(),
        &["--max-connections", "1", "--user", "alice:secret"],
    );
    use std::io::{BufRead, BufReader, Write};
    // A connection that has not logged in gives way to a newcomer...
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut silent = BufReader::new(silent);
    let mut line = String::new();
    silent.read_line(&mut line).unwrap();
    let mut first = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut line = String::new();
    silent.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        "-ERR [SYS/TEMP] too many connections, try again later\r\n"
    );
    // ...but one that logged in keeps its slot, and the next connection is refused.
    let mut reader = BufReader::new(first.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    first.write_all(b"USER alice\r\nPASS secret\r\n").unwrap();
    for _ in 0..2 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    let second = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    second
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&second).read_line(&mut line).unwrap();
    assert_eq!(
        line,
        "-ERR [SYS/TEMP] too many connections, try again later\r\n"
    );
}
