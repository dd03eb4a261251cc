//! TLS for every protocol, with clients that verify the certificate against yubin's CA:
//! Python's ssl (smtplib, poplib, imaplib) and curl --cacert.

mod common;

use common::{ServerProcess, client_script, port_of, run_with_timeout, yubin};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Tls {
    _server: ServerProcess,
    _data: tempfile::TempDir,
    ca: PathBuf,
    /// smtp, smtps, pop, pop3s, imap, imaps
    ports: [u16; 6],
}

fn serve(extra: &[&str]) -> Tls {
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
    args.extend_from_slice(extra);
    let (mut server, smtp) = ServerProcess::start(&args, "SMTP listening on");
    let mut ports = [port_of(&smtp), 0, 0, 0, 0, 0];
    for (i, marker) in [
        (2, "POP3 listening on"),
        (4, "IMAP listening on"),
        (1, "SMTPS listening on"),
        (3, "POP3S listening on"),
        (5, "IMAPS listening on"),
    ] {
        ports[i] = port_of(&server.wait_for(marker));
    }
    let ca_line = server.wait_for("TLS: trust this CA");
    let ca = PathBuf::from(ca_line.rsplit(": ").next().unwrap());
    assert!(
        ca.starts_with(data.path()),
        "the local CA lives in the data directory: {ca:?}"
    );
    Tls {
        _server: server,
        _data: data,
        ca,
        ports,
    }
}

fn python(tls: &Tls, scenario: &str) {
    let mut cmd = Command::new("python3");
    cmd.arg(client_script("tls_checks.py"))
        .args([scenario, tls.ca.to_str().unwrap(), "127.0.0.1"]);
    cmd.args(tls.ports.iter().map(|p| p.to_string()));
    let (ok, out, err) = run_with_timeout(&mut cmd, 60);
    assert!(
        ok && out.contains(&format!("PASS {scenario}")),
        "{scenario}:\n{out}\n{err}"
    );
}

fn curl(ca: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "--cacert"]).arg(ca).args(args);
    run_with_timeout(&mut cmd, 30)
}

#[test]
fn implicit_tls_on_every_protocol_with_a_verified_certificate() {
    let tls = serve(&[]);
    python(&tls, "implicit");
    let [_, smtps, _, pop3s, _, imaps] = tls.ports;
    let mail = common::fixtures().join("corpus/01-plain.eml");
    let mail = mail.to_str().unwrap();
    let (ok, _, err) = curl(
        &tls.ca,
        &[
            &format!("smtps://127.0.0.1:{smtps}"),
            "--mail-from",
            "a@example.com",
            "--mail-rcpt",
            "alice@localhost",
            "-T",
            mail,
        ],
    );
    assert!(ok, "curl smtps: {err}");
    let (ok, list, err) = curl(
        &tls.ca,
        &["-u", "alice:secret", &format!("pop3s://127.0.0.1:{pop3s}/")],
    );
    assert!(ok, "curl pop3s: {err}");
    assert_eq!(list.lines().count(), 2, "{list}");
    let (ok, out, err) = curl(
        &tls.ca,
        &["-u", "alice:secret", &format!("imaps://127.0.0.1:{imaps}/")],
    );
    assert!(ok && out.contains("INBOX"), "curl imaps LIST: {out}{err}");
}

#[test]
fn starttls_and_stls_upgrade_and_are_withdrawn_after() {
    let tls = serve(&[]);
    python(&tls, "upgrade");
    let [smtp, _, pop, ..] = tls.ports;
    let mail = common::fixtures().join("corpus/01-plain.eml");
    let (ok, _, err) = curl(
        &tls.ca,
        &[
            "--ssl-reqd",
            &format!("smtp://127.0.0.1:{smtp}"),
            "--mail-from",
            "a@example.com",
            "--mail-rcpt",
            "alice@localhost",
            "-T",
            mail.to_str().unwrap(),
        ],
    );
    assert!(ok, "curl smtp --ssl-reqd: {err}");
    let (ok, list, err) = curl(
        &tls.ca,
        &[
            "--ssl-reqd",
            "-u",
            "alice:secret",
            &format!("pop3://127.0.0.1:{pop}/"),
        ],
    );
    assert!(ok, "curl pop3 --ssl-reqd: {err}");
    assert_eq!(list.lines().count(), 2, "{list}");
    let imap = tls.ports[4];
    let (ok, out, err) = curl(
        &tls.ca,
        &[
            "--ssl-reqd",
            "-u",
            "alice:secret",
            &format!("imap://127.0.0.1:{imap}/"),
        ],
    );
    assert!(
        ok && out.contains("INBOX"),
        "curl imap --ssl-reqd: {out}{err}"
    );
}

#[test]
fn plaintext_pipelined_after_starttls_is_not_executed() {
    python(&serve(&[]), "injection");
}

#[test]
fn require_tls_refuses_plaintext_logins_until_the_upgrade() {
    python(&serve(&["--require-tls"]), "require");
}

#[test]
fn the_local_ca_is_made_once_and_reused() {
    let data = tempfile::tempdir().unwrap();
    let first = {
        let (mut s, _) = ServerProcess::start(
            &[
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
                "0",
            ],
            "SMTP listening on",
        );
        s.wait_for("TLS: trust this CA");
        std::fs::read(data.path().join(".yubin/tls/ca.pem")).unwrap()
    };
    let (_s, _) = ServerProcess::start(
        &[
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
            "0",
        ],
        "SMTP listening on",
    );
    assert_eq!(
        std::fs::read(data.path().join(".yubin/tls/ca.pem")).unwrap(),
        first,
        "same CA on the second start"
    );
    let (ok, out, _) = run_with_timeout(
        yubin().args(["tls", "ca-path", "--data"]).arg(data.path()),
        20,
    );
    assert!(ok);
    assert_eq!(
        PathBuf::from(out.trim()),
        data.path().join(".yubin/tls/ca.pem")
    );
}

#[test]
fn plaintext_on_a_tls_port_fails_cleanly_and_blocks_no_one() {
    let tls = serve(&[]);
    let [_, _, _, pop3s, ..] = tls.ports;
    // A plaintext client on the TLS port gets its connection closed...
    let (ok, _, _) = run_with_timeout(
        Command::new("curl").args([
            "-s",
            "-u",
            "alice:secret",
            &format!("pop3://127.0.0.1:{pop3s}/"),
        ]),
        30,
    );
    assert!(!ok, "plaintext on POP3S must fail");
    // ...and a TLS client right after is served.
    let (ok, _, err) = curl(
        &tls.ca,
        &["-u", "alice:secret", &format!("pop3s://127.0.0.1:{pop3s}/")],
    );
    assert!(ok, "{err}");
    // A client that does not trust the CA refuses the certificate.
    let (ok, _, err) = run_with_timeout(
        Command::new("curl").args([
            "-s",
            "-S",
            "-u",
            "alice:secret",
            &format!("pop3s://127.0.0.1:{pop3s}/"),
        ]),
        30,
    );
    assert!(!ok && err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn the_projects_own_clients_verify_and_use_tls() {
    let tls = serve(&["--require-tls"]);
    let [smtp, smtps, pop, pop3s, ..] = tls.ports;
    let ca = tls.ca.to_str().unwrap();
    for (port, mode) in [(smtps, "--tls"), (smtp, "--starttls")] {
        let (ok, out, err) = run_with_timeout(
            yubin().args([
                "send",
                "--port",
                &port.to_string(),
                mode,
                "--ca",
                ca,
                "--to",
                "alice@localhost",
                "--subject",
                &format!("sent with {mode}"),
            ]),
            30,
        );
        assert!(ok, "yubin send {mode}: {out}{err}");
    }
    for (port, mode) in [(pop3s, "--tls"), (pop, "--starttls")] {
        let (ok, out, err) = run_with_timeout(
            yubin().args(["pop", "stat", "--port", &port.to_string(), mode, "--ca", ca]),
            30,
        );
        assert!(ok, "yubin pop stat {mode}: {err}");
        assert!(out.starts_with("2 messages"), "{out}");
    }
    let (imap, imaps) = (tls.ports[4], tls.ports[5]);
    for (port, mode) in [(imaps, "--tls"), (imap, "--starttls")] {
        let (ok, out, err) = run_with_timeout(
            yubin().args([
                "imap",
                "status",
                "INBOX",
                "--port",
                &port.to_string(),
                mode,
                "--ca",
                ca,
            ]),
            30,
        );
        assert!(ok, "yubin imap status {mode}: {err}");
        assert!(out.contains("MESSAGES") && out.contains('2'), "{out}");
    }
    // Plaintext is refused under --require-tls, with one clear line.
    let (ok, _, err) = run_with_timeout(
        yubin().args(["pop", "stat", "--port", &pop.to_string()]),
        30,
    );
    assert!(!ok && err.contains("STLS"), "{err}");
}

/// The TLS material lives in the server's own `.yubin` directory, out of the accounts'
/// name space: an account named `tls` keeps its mail when an older yubin's CA (made in
/// `<data>/tls`) is moved there on upgrade, and a directory without a CA is moved aside,
/// never deleted.
#[test]
fn an_account_named_tls_survives_the_local_ca() {
    let data = tempfile::tempdir().unwrap();
    // An older yubin's layout: the CA files right in `<data>/tls`, beside the Maildir of
    // an account that happens to be called `tls`.
    let first = {
        let (mut s, _) = ServerProcess::start(
            &[
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
                "0",
            ],
            "SMTP listening on",
        );
        s.wait_for("TLS: trust this CA");
        std::fs::read(data.path().join(".yubin/tls/ca.pem")).unwrap()
    };
    let old = data.path().join("tls");
    let new = data.path().join(".yubin/tls");
    std::fs::create_dir_all(old.join("Maildir/cur")).unwrap();
    std::fs::create_dir_all(old.join("Maildir/new")).unwrap();
    std::fs::create_dir_all(old.join("Maildir/tmp")).unwrap();
    std::fs::write(
        old.join("Maildir/new/1.msg.host"),
        b"Subject: kept\r\n\r\nmine\r\n",
    )
    .unwrap();
    for f in ["ca.pem", "server.pem", "server-key.pem"] {
        std::fs::rename(new.join(f), old.join(f)).unwrap();
    }
    std::fs::remove_dir(&new).unwrap();
    // A stray state directory without a CA holds something: it must not be deleted.
    let (_s, line) = ServerProcess::start(
        &[
            "serve",
            "--data",
            data.path().to_str().unwrap(),
            "--user",
            "tls:pw",
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
            "0",
        ],
        "SMTP listening on",
    );
    let _ = line;
    assert_eq!(
        std::fs::read(new.join("ca.pem")).unwrap(),
        first,
        "the CA the user trusts is the one served after the upgrade"
    );
    assert!(!old.join("ca.pem").exists(), "moved, not copied");
    assert_eq!(
        std::fs::read(old.join("Maildir/new/1.msg.host")).unwrap(),
        b"Subject: kept\r\n\r\nmine\r\n",
        "the tls account's mail is untouched"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&new.join("server-key.pem")), 0o600);
        assert_eq!(mode(&data.path().join(".yubin")), 0o700);
    }
}

/// `yubin serve --ephemeral` prints the CA it serves with, and yubin's own clients trust
/// it by default (they try the data directory's CA and the ephemeral one).
#[test]
fn the_clients_trust_the_ephemeral_servers_ca_by_default() {
    let mut args = vec!["serve", "--ephemeral"];
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
    let pop3s = port_of(&server.wait_for("POP3S listening on"));
    let imaps = port_of(&server.wait_for("IMAPS listening on"));
    let ca_line = server.wait_for("TLS: trust this CA");
    assert!(ca_line.contains("yubin-ephemeral-tls"), "{ca_line}");
    // `tls ca-path --ephemeral` names the same file the banner does.
    let (ok, out, err) = run_with_timeout(yubin().args(["tls", "ca-path", "--ephemeral"]), 20);
    assert!(ok, "{err}");
    assert!(ca_line.ends_with(out.trim()), "{out} vs {ca_line}");
    let (ok, out, err) = run_with_timeout(
        yubin().args(["pop", "stat", "--tls", "--port", &pop3s.to_string()]),
        20,
    );
    assert!(ok, "pop stat --tls: {out} {err}");
    let (ok, out, err) = run_with_timeout(
        yubin().args(["imap", "list", "--tls", "--port", &imaps.to_string()]),
        20,
    );
    assert!(ok, "imap list --tls: {out} {err}");
}
