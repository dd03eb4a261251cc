//! Errors a newcomer meets, through the binary: each is one clear line that names what is
//! wrong and says what to do, with every cause said once; logs written to a pipe carry no
//! colour codes; `--help` documents the exit status.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run_with_timeout, yubin};

/// Runs `yubin` with `args`, expecting it to fail; returns its stderr.
fn fails(args: &[&str]) -> String {
    let (ok, out, err) = run_with_timeout(yubin().args(args), 30);
    assert!(!ok, "yubin {args:?} succeeded: {out}");
    err
}

/// An `error:` line, and no cause repeated (`x: x`).
fn one_clear_line(err: &str) -> &str {
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {err:?}"));
    let parts: Vec<&str> = line.trim_start_matches("error: ").split(": ").collect();
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i + 1..] {
            assert!(a != b, "a cause is said twice: {line}");
        }
    }
    line
}

#[test]
fn a_port_in_use_names_the_protocol_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let data = tempfile::tempdir().unwrap();
    let err = fails(&[
        "serve",
        "--data",
        data.path().to_str().unwrap(),
        "--no-tls",
        "--smtp-port",
        "0",
        "--pop-port",
        &port,
        "--imap-port",
        "0",
    ]);
    let line = one_clear_line(&err);
    assert!(line.contains("POP3"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("--pop-port"), "{line}");
    // A TLS port in use says how to do without TLS listeners too.
    let err = fails(&[
        "serve",
        "--data",
        data.path().to_str().unwrap(),
        "--smtp-port",
        "0",
        "--pop-port",
        "0",
        "--imap-port",
        "0",
        "--smtps-port",
        "0",
        "--pop3s-port",
        "0",
        "--imaps-port",
        &port,
    ]);
    let line = one_clear_line(&err);
    assert!(
        line.contains("IMAPS") && line.contains("--imaps-port"),
        "{line}"
    );
    assert!(line.contains("--no-tls"), "{line}");
}

#[test]
fn a_data_directory_that_is_a_file_is_named() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = fails(&["serve", "--data", file.path().to_str().unwrap(), "--no-tls"]);
    let line = one_clear_line(&err);
    assert!(line.contains("is a file, not a directory"), "{line}");
    assert!(line.contains(file.path().to_str().unwrap()), "{line}");
}

#[test]
fn a_server_that_is_not_running_is_suggested_once() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    for args in [
        &["pop", "stat", "--port", port.as_str()][..],
        &["imap", "list", "--port", port.as_str()][..],
    ] {
        let err = fails(args);
        let line = one_clear_line(&err);
        assert!(line.contains("is `yubin serve` running?"), "{line}");
        assert_eq!(
            line.matches("Connection refused").count(),
            1,
            "said once: {line}"
        );
    }
}

#[test]
fn ca_path_without_a_ca_says_so_and_fails() {
    let data = tempfile::tempdir().unwrap();
    let err = fails(&["tls", "ca-path", "--data", data.path().to_str().unwrap()]);
    let line = one_clear_line(&err);
    assert!(line.contains("no local CA"), "{line}");
    assert!(line.contains("yubin serve"), "{line}");
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let data = tempfile::tempdir().unwrap();
    let mut child = yubin()
        .args(["serve", "--data", data.path().to_str().unwrap(), "--no-tls"])
        .args(["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // "listening" is logged at info as each listener starts.
    let mut log = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(15)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = reader.join();
    for line in rx.try_iter() {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in {log:?}");
}

#[test]
fn help_documents_the_exit_status() {
    let (ok, out, _) = run_with_timeout(yubin().arg("--help"), 30);
    assert!(ok);
    assert!(out.contains("Exit status: 0"), "{out}");
}

#[test]
fn a_users_file_with_a_toml_error_names_the_file_and_line_not_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(&users, "[users]\nalice = secret-without-quotes\n").unwrap();
    let err = fails(&[
        "serve",
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--no-tls",
        "--users-file",
        users.to_str().unwrap(),
    ]);
    let line = one_clear_line(&err);
    assert!(line.contains(users.to_str().unwrap()), "{line}");
    assert!(line.contains("line 2"), "{line}");
    assert!(!line.contains("corrupt"), "{line}");
    assert!(
        !line.contains("secret-without-quotes"),
        "never the text: {line}"
    );
}

/// `--trace` is offered where a protocol is spoken, and refused (exit 2) where none is.
#[test]
fn trace_is_refused_where_no_protocol_is_spoken() {
    let out = yubin()
        .args(["--trace", "tls", "ca-path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--trace shows protocol lines"), "{err}");
    for command in [
        &["deliver", "--help"][..],
        &["tls", "ca-path", "--help"][..],
    ] {
        let (ok, help, _) = run_with_timeout(yubin().args(command), 30);
        assert!(ok);
        assert!(!help.contains("--trace"), "{command:?}: {help}");
    }
}

#[test]
fn a_wrong_password_is_one_line_with_each_cause_once() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, _) = common::ServerProcess::start(
        &[
            "serve",
            "--data",
            data.path().to_str().unwrap(),
            "--no-tls",
            "--smtp-port",
            "0",
            "--pop-port",
            "0",
            "--imap-port",
            "0",
        ],
        "SMTP listening on",
    );
    let pop = common::port_of(&server.wait_for("POP3 listening on"));
    let imap = common::port_of(&server.wait_for("IMAP listening on"));
    for args in [
        vec![
            "pop",
            "stat",
            "--port",
            &pop.to_string(),
            "--password",
            "wrong",
        ],
        vec![
            "imap",
            "list",
            "--port",
            &imap.to_string(),
            "--password",
            "wrong",
        ],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<String>>())
    {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = fails(&args);
        let line = one_clear_line(&err);
        assert!(
            !line.contains("wrong"),
            "the password is not echoed: {line}"
        );
    }
}

/// Runs `yubin serve` with `log` as RUST_LOG (None: the default), makes, renames and
/// deletes a mailbox it watches over IMAP, stops it, and returns what it logged.
fn log_of_mailbox_churn(log: Option<&str>) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let data = tempfile::tempdir().unwrap();
    let mut cmd = yubin();
    cmd.args([
        "serve",
        "--data",
        data.path().to_str().unwrap(),
        "--no-tls",
        "--no-http",
    ])
    .args(["--user", "alice:secret"])
    .args(["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"])
    .env_remove("RUST_LOG")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(log) = log {
        cmd.env("RUST_LOG", log);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let mut port = None;
    for _ in 0..40 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.starts_with("IMAP listening on") {
            port = Some(common::port_of(line.trim()));
            break;
        }
    }
    let port = port.expect("no IMAP listening line");
    let mut imap = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    imap.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(imap.try_clone().unwrap());
    // Lines before a command's tagged answer (the greeting too) are read past.
    let mut ask = |tag: &str, command: &str| {
        write!(imap, "{tag} {command}\r\n").unwrap();
        loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "closed at {command}"
            );
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
                return;
            }
        }
    };
    for (tag, command) in [
        ("a", "LOGIN alice secret"),
        ("b", "CREATE Doomed"),
        ("c", "SELECT Doomed"),
        ("d", "CLOSE"),
        ("e", "RENAME Doomed Gone"),
        ("f", "SELECT Gone"),
        ("g", "CLOSE"),
        ("h", "DELETE Gone"),
        ("i", "LOGOUT"),
    ] {
        ask(tag, command);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    errors.join().unwrap()
}

/// The file watcher warns whenever a folder it watched goes away, which every DELETE and
/// RENAME of a selected mailbox does on purpose: by default that is not logged (imaptest
/// had 223 such lines), and `RUST_LOG` can still ask for it.
#[test]
fn deleting_and_renaming_mailboxes_logs_nothing_by_default() {
    let default = log_of_mailbox_churn(None);
    assert!(!default.contains("WARN"), "{default}");
    assert!(!default.contains("ERROR"), "{default}");
    // The same churn with every warning asked for: the watcher's are there to hide.
    let all = log_of_mailbox_churn(Some("warn"));
    assert!(all.contains("WARN"), "{all}");
}
