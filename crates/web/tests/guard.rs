//! The guard in front of every route, over a real socket: another site's page cannot
//! change mail (no cross-origin changes, no form-encoded bodies), a rebound DNS name
//! cannot read it, and with --http-auth nothing is served without the password.

mod http_client;

use std::net::SocketAddr;

use http_client::{STEP, call, get, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yubin_store::{Secret, Store};
use yubin_web::WebConfig;
use yubin_web::guard::{BasicAuth, GuardConfig};

struct Web {
    http: SocketAddr,
    store: Store,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Web {
    async fn start(guard: GuardConfig) -> Web {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        store
            .deliver(
                &["alice"],
                b"From: bob@example.com\r\nSubject: keep me\r\n\r\nhello\r\n",
            )
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let config = WebConfig {
            guard,
            ..WebConfig::default()
        };
        let task = tokio::spawn(yubin_web::serve(
            listener,
            store.clone(),
            config,
            shutdown.clone(),
        ));
        Web {
            http,
            store,
            shutdown,
            task,
        }
    }

    /// Messages in alice's INBOX, and how many are unread, read from the store itself.
    fn inbox(&self) -> (usize, usize) {
        let inbox = self
            .store
            .account("alice")
            .unwrap()
            .mailbox("INBOX")
            .unwrap();
        let messages = inbox.messages().unwrap();
        let unread = messages
            .iter()
            .filter(|m| !m.flags.contains(&yubin_store::Flag::Seen))
            .count();
        (messages.len(), unread)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn another_sites_page_cannot_change_mail() {
    let web = Web::start(GuardConfig::default()).await;
    let evil = [
        ("Origin", "http://evil.example"),
        ("Content-Type", "application/json"),
    ];
    for (method, path, body) in [
        ("PUT", "/api/v1/messages", r#"{"Read": true}"#),
        ("DELETE", "/api/v1/messages", "{}"),
        ("DELETE", "/api/v1/search?query=keep", ""),
        (
            "POST",
            "/api/v1/send",
            r#"{"From": {"Email": "x@example.com"}, "To": [{"Email": "alice@localhost"}], "Subject": "spam"}"#,
        ),
    ] {
        let body = (!body.is_empty()).then_some(body);
        let answer = call(web.http, method, path, &evil, body).await;
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.body);
        assert!(
            answer.json()["Error"]
                .as_str()
                .unwrap()
                .contains("cross-origin"),
            "{}",
            answer.body
        );
    }
    // A sandboxed frame's `null` origin is no better.
    let null = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[("Origin", "null"), ("Content-Type", "application/json")],
        Some(r#"{"Read": true}"#),
    )
    .await;
    assert_eq!(null.status, 403, "{}", null.body);
    assert_eq!(web.inbox(), (1, 1), "nothing changed");

    // The same request from the inbox's own page works.
    let own = format!("http://{}", web.http);
    let mine = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[("Origin", &own), ("Content-Type", "application/json")],
        Some(r#"{"Read": true}"#),
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(web.inbox(), (1, 0));
    web.stop().await;
}

#[tokio::test]
async fn bodies_that_a_cross_site_form_can_send_are_refused() {
    let web = Web::start(GuardConfig::default()).await;
    // Forms send these without asking the server first (no CORS preflight).
    // A browser says where a request comes from (Sec-Fetch-Site); a sibling site's
    // form gets past the Origin rule only if it has none, and is refused here.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let answer = call(
            web.http,
            "PUT",
            "/api/v1/messages",
            &[
                ("Content-Type", content_type),
                ("Sec-Fetch-Site", "same-site"),
            ],
            Some(r#"{"Read": true}"#),
        )
        .await;
        assert_eq!(answer.status, 415, "{content_type}: {}", answer.body);
        assert!(answer.body.contains("application/json"), "{}", answer.body);
    }
    let untyped = call(
        web.http,
        "DELETE",
        "/api/v1/messages",
        &[("Sec-Fetch-Site", "none")],
        Some(r#"{"IDs": []}"#),
    )
    .await;
    assert_eq!(untyped.status, 415, "{}", untyped.body);
    assert_eq!(web.inbox(), (1, 1), "nothing changed");
    // A client that is not a browser (Mailpit's API clients, `curl -d`) may send its
    // JSON under any Content-Type, as Mailpit accepts it.
    let curl = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(r#"{"Read": true}"#),
    )
    .await;
    assert_eq!(curl.status, 200, "{}", curl.body);
    assert_eq!(web.inbox(), (1, 0), "read");
    let curl = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[],
        Some(r#"{"Read": false}"#),
    )
    .await;
    assert_eq!(curl.status, 200, "{}", curl.body);
    assert_eq!(web.inbox(), (1, 1), "unread again");

    // JSON with a charset parameter is JSON.
    let typed = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[("Content-Type", "application/json; charset=utf-8")],
        Some(r#"{"Read": true}"#),
    )
    .await;
    assert_eq!(typed.status, 200, "{}", typed.body);
    assert_eq!(web.inbox(), (1, 0));
    // Without a body, no Content-Type is needed (Mailpit's DELETE deletes all).
    let bodiless = call(web.http, "DELETE", "/api/v1/messages", &[], None).await;
    assert_eq!(bodiless.status, 200, "{}", bodiless.body);
    assert_eq!(web.inbox(), (0, 0));
    web.stop().await;
}

/// Beyond loopback without a password (`--http-insecure`), the machine's own name is
/// served too, and any other name still refused: a page that rebinds its name to this
/// machine gets nothing.
#[tokio::test]
async fn beyond_loopback_the_machine_name_is_served_and_a_rebound_name_is_not() {
    let web = Web::start(GuardConfig {
        auth: None,
        local_hosts_only: true,
        host_names: vec!["mybox".into()],
    })
    .await;
    let port = web.http.port();
    for (host, status) in [
        (format!("mybox:{port}"), 200),
        (format!("MYBOX:{port}"), 200),
        (format!("192.168.1.5:{port}"), 200),
        (format!("attacker.example:{port}"), 403),
        (format!("mybox.attacker.example:{port}"), 403),
    ] {
        let answer = call(
            web.http,
            "GET",
            "/api/v1/messages",
            &[("Host", &host)],
            None,
        )
        .await;
        assert_eq!(answer.status, status, "{host}: {}", answer.body);
    }
    web.stop().await;
}

#[tokio::test]
async fn on_loopback_a_rebound_dns_name_is_refused() {
    let web = Web::start(GuardConfig::default()).await;
    let port = web.http.port();
    for host in [
        format!("attacker.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let answer = call(
            web.http,
            "GET",
            "/api/v1/messages",
            &[("Host", &host)],
            None,
        )
        .await;
        assert_eq!(answer.status, 403, "{host}: {}", answer.body);
        assert!(!answer.body.contains("keep me"), "{}", answer.body);
        let page = call(web.http, "GET", "/", &[("Host", &host)], None).await;
        assert_eq!(page.status, 403, "{host}");
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let answer = call(
            web.http,
            "GET",
            "/api/v1/messages",
            &[("Host", &host)],
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{host}: {}", answer.body);
        assert!(answer.body.contains("keep me"), "{}", answer.body);
    }
    web.stop().await;
}

#[tokio::test]
async fn with_http_auth_nothing_is_served_without_the_password() {
    let web = Web::start(GuardConfig {
        auth: Some("admin:s3cr:et".parse::<BasicAuth>().unwrap()),
        local_hosts_only: false,
        host_names: Vec::new(),
    })
    .await;
    use base64::Engine;
    let basic = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };

    for path in ["/", "/api/v1/messages", "/api/v1/events"] {
        let answer = get(web.http, path).await;
        assert_eq!(answer.status, 401, "{path}");
        assert!(
            answer.header("www-authenticate").starts_with("Basic"),
            "{:?}",
            answer.headers
        );
        assert!(!answer.body.contains("keep me"));
    }
    let wrong = basic("admin:s3cr:eT");
    let answer = call(
        web.http,
        "GET",
        "/api/v1/messages",
        &[("Authorization", &wrong)],
        None,
    )
    .await;
    assert_eq!(answer.status, 401);
    let right = basic("admin:s3cr:et");
    let answer = call(
        web.http,
        "GET",
        "/api/v1/messages",
        &[("Authorization", &right), ("Host", "mail.lan:2080")],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("keep me"));
    // A browser's change still needs JSON, password or not.
    let form = call(
        web.http,
        "PUT",
        "/api/v1/messages",
        &[
            ("Authorization", &right),
            ("Content-Type", "text/plain"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        Some(r#"{"Read": true}"#),
    )
    .await;
    assert_eq!(form.status, 415);
    let ok = json(web.http, "PUT", "/api/v1/messages", r#"{"Read": true}"#).await;
    assert_eq!(ok.status, 401, "no password, no change");
    assert_eq!(web.inbox(), (1, 1));
    web.stop().await;
}
