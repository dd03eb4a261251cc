//! What the CLI tells a person, through the binary: the banner has everything a mail
//! client's settings need (the default password, the TLS ports) and warns that POP3 takes
//! mail away; counts read as English ("1 message"); a search that finds nothing says so
//! on stderr and leaves stdout empty for scripts.

mod common;

use common::{ServerProcess, port_of, run_with_timeout, yubin};

#[test]
fn the_banner_has_the_client_settings_and_the_pop3_warning() {
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["serve", "--data", data.path().to_str().unwrap()];
    for flag in [
        "--smtp-port",
        "--pop-port",
        "--imap-port",
        "--smtps-port",
        "--pop3s-port",
        "--imaps-port",
    ] {
        args.extend([flag, "0"]);
    }
    let (mut server, _) = ServerProcess::start(&args, "SMTP listening on");
    let imaps = port_of(&server.wait_for("IMAPS listening on"));
    let imap_line = server.wait_for("incoming IMAP");
    assert!(
        imap_line.contains("user alice  password secret"),
        "{imap_line}"
    );
    let tls_line = server.wait_for("with SSL/TLS");
    assert!(
        tls_line.contains(&format!("IMAP port {imaps}")),
        "{tls_line}"
    );
    let note = server.wait_for("note: POP3");
    assert!(note.contains("removes the messages"), "{note}");
}

#[test]
fn one_message_is_singular_and_an_empty_search_says_so() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, _) = ServerProcess::start(
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
    let pop = port_of(&server.wait_for("POP3 listening on"));
    let imap = port_of(&server.wait_for("IMAP listening on"));
    let eml = data.path().join("one.eml");
    std::fs::write(&eml, b"Subject: one\r\n\r\nbody\r\n").unwrap();
    let (ok, _, err) = run_with_timeout(
        yubin()
            .args([
                "deliver",
                "--to",
                "alice",
                "--data",
                data.path().to_str().unwrap(),
            ])
            .arg(&eml),
        20,
    );
    assert!(ok, "{err}");
    let (ok, out, err) = run_with_timeout(
        yubin().args(["pop", "stat", "--port", &pop.to_string()]),
        20,
    );
    assert!(ok, "{err}");
    assert!(out.starts_with("1 message ("), "{out}");
    let (ok, out, err) = run_with_timeout(
        yubin().args([
            "imap",
            "search",
            "--port",
            &imap.to_string(),
            "INBOX",
            "SUBJECT",
            "no-such-word-anywhere",
        ]),
        20,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "", "stdout stays empty for scripts");
    assert!(err.contains("no messages match"), "{err}");
}
