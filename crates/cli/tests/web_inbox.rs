//! The web inbox through the binary: `yubin serve` prints its URL and the API there
//! answers with the mail and the sessions; HTTP beyond loopback without a password is
//! refused before anything listens; `yubin web` serves a data directory alone;
//! `--enable-chaos` makes `yubin send` fail with the code set over HTTP.

mod common;

use common::http::{addr_of, request, request_with};
use common::{ServerProcess, deliver_corpus, port_of, run_with_timeout, yubin};

const ANY_PORTS: [&str; 6] = ["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"];

fn send(smtp: u16, subject: &str) -> (bool, String, String) {
    run_with_timeout(
        yubin().args([
            "send",
            "--port",
            &smtp.to_string(),
            "--to",
            "alice@localhost",
            "--subject",
            subject,
            "--body",
            "hi",
        ]),
        30,
    )
}

#[test]
fn serve_prints_the_web_inbox_url_and_the_api_shows_mail_and_sessions() {
    let mut args = vec!["serve", "--ephemeral", "--no-tls"];
    args.extend(ANY_PORTS);
    let (mut server, smtp) = ServerProcess::start(&args, "SMTP listening on");
    let http = addr_of(&server.wait_for("HTTP listening on"));
    assert!(http.ip().is_loopback(), "{http}");
    assert_ne!(
        http.port(),
        2080,
        "--smtp-port 0 asks for free ports, HTTP's too"
    );
    server.wait_for("press Ctrl-C");

    let (ok, out, err) = send(port_of(&smtp), "seen on the web");
    assert!(ok, "{out}{err}");
    let (status, body) = request(http, "GET", "/api/v1/messages", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("seen on the web"), "{body}");
    let (status, sessions) = request(http, "GET", "/api/v1/sessions", None);
    assert_eq!(status, 200, "{sessions}");
    assert!(
        sessions.contains("\"Text\":\"MAIL FROM:<yubin@localhost>\""),
        "{sessions}"
    );
    // The page itself.
    let (status, page) = request(http, "GET", "/", None);
    assert_eq!(status, 200);
    assert!(page.contains("<title>yubin"), "{page}");
}

#[test]
fn no_http_means_no_web_inbox() {
    let mut args = vec!["serve", "--ephemeral", "--no-tls", "--no-http"];
    args.extend(ANY_PORTS);
    let (mut server, _) = ServerProcess::start(&args, "SMTP listening on");
    let banner = server.lines_until("press Ctrl-C");
    assert!(
        banner
            .iter()
            .all(|l| !l.contains("HTTP") && !l.contains("web inbox")),
        "{banner:?}"
    );
}

#[test]
fn http_beyond_loopback_without_a_password_is_refused_before_anything_listens() {
    let mut args = vec!["serve", "--ephemeral", "--no-tls", "--bind", "0.0.0.0"];
    args.extend(ANY_PORTS);
    let (ok, out, err) = run_with_timeout(yubin().args(&args), 30);
    assert!(!ok, "it started: {out}");
    assert!(err.contains("without a password"), "{err}");
    assert!(err.contains("--http-auth"), "{err}");
    assert!(err.contains("--http-insecure"), "{err}");
    assert!(!out.contains("listening"), "nothing may listen: {out}");

    let (ok, _, err) = run_with_timeout(
        yubin().args([
            "web",
            "--ephemeral",
            "--bind",
            "0.0.0.0",
            "--http-port",
            "0",
        ]),
        30,
    );
    assert!(!ok);
    assert!(err.contains("--http-auth"), "{err}");
}

#[test]
fn a_taken_http_port_is_named_with_the_flags_that_avoid_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut args = vec!["serve", "--ephemeral", "--no-tls", "--http-port", &port];
    args.extend(ANY_PORTS);
    let (ok, _, err) = run_with_timeout(yubin().args(&args), 30);
    assert!(!ok);
    assert!(err.contains("cannot listen for HTTP"), "{err}");
    assert!(
        err.contains("--http-port") && err.contains("--no-http"),
        "{err}"
    );
}

#[test]
fn yubin_web_serves_a_data_directory_alone() {
    let data = tempfile::tempdir().unwrap();
    let delivered = deliver_corpus(data.path());
    let (mut server, line) = ServerProcess::start(
        &[
            "web",
            "--data",
            data.path().to_str().unwrap(),
            "--http-port",
            "0",
        ],
        "HTTP listening on",
    );
    let http = addr_of(&line);
    server.wait_for("web inbox: open");
    let (status, body) = request(http, "GET", "/api/v1/messages?limit=1000", None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("\"total\":{}", delivered.len())),
        "{} delivered: {body}",
        delivered.len()
    );
    // No SMTP here: no chaos, no sessions.
    assert_eq!(request(http, "GET", "/api/v1/chaos", None).0, 400);
    assert_eq!(request(http, "GET", "/api/v1/sessions", None).1, "[]");
}

#[test]
fn http_auth_from_the_environment_guards_every_request() {
    let (mut server, line) = ServerProcess::start_command(
        yubin()
            .args(["web", "--ephemeral", "--http-port", "0"])
            .env("YUBIN_HTTP_AUTH", "admin:s3cret"),
        "HTTP listening on",
    );
    let http = addr_of(&line);
    server.wait_for("web inbox: open");
    for path in ["/", "/api/v1/messages"] {
        assert_eq!(request(http, "GET", path, None).0, 401, "{path}");
    }
    // base64("admin:s3cret")
    let (status, body) = request_with(
        http,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Basic YWRtaW46czNjcmV0")],
        None,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = request_with(
        http,
        "GET",
        "/api/v1/messages",
        &[("Authorization", "Basic YWRtaW46d3Jvbmc=")],
        None,
    );
    assert_eq!(status, 401, "admin:wrong");
}

#[test]
fn enable_chaos_lets_the_api_make_yubin_send_fail() {
    let mut args = vec!["serve", "--ephemeral", "--no-tls", "--enable-chaos"];
    args.extend(ANY_PORTS);
    let (mut server, smtp) = ServerProcess::start(&args, "SMTP listening on");
    let http = addr_of(&server.wait_for("HTTP listening on"));
    server.wait_for("press Ctrl-C");

    let (status, body) = request(
        http,
        "PUT",
        "/api/v1/chaos",
        Some(r#"{"Sender": {"ErrorCode": 451, "Probability": 100}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (ok, out, err) = send(port_of(&smtp), "refused");
    assert!(!ok, "sent despite chaos: {out}");
    assert!(err.contains("451"), "{err}");

    let (status, _) = request(http, "PUT", "/api/v1/chaos", Some("{}"));
    assert_eq!(status, 200);
    let (ok, out, err) = send(port_of(&smtp), "accepted");
    assert!(ok, "{out}{err}");
}
