//! The HTTP API through its router, against the same store a real IMAP server serves:
//! Mailpit's shapes, paging, search, tags as IMAP keywords both ways, send then IMAP
//! FETCH byte-exact, delete as an expunge a selected IMAP session sees, live events.

mod api_support;

use api_support::{STEP, Web, plain, text};
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The flags of one UID as the IMAP session last heard them: a NOOP first lets the
/// session report changes made elsewhere (RFC 3501 §6.1.2), and the last FETCH line
/// about the UID wins.
async fn flags_of(imap: &mut api_support::Imap, uid: u32) -> String {
    imap.ok("NOOP").await;
    let lines = imap.ok(&format!("UID FETCH {uid} FLAGS")).await;
    let all = text(&lines);
    all.lines()
        .rfind(|l| l.contains("FETCH") && l.contains(&format!("UID {uid}")))
        .unwrap_or_else(|| panic!("no FETCH for UID {uid}: {all}"))
        .to_owned()
}

fn ids(listing: &Value) -> Vec<String> {
    listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ID"].as_str().unwrap().to_owned())
        .collect()
}

fn subjects(listing: &Value) -> Vec<String> {
    listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Subject"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn listing_is_newest_first_paged_with_mailpits_fields() {
    let web = Web::new();
    for i in 0..5 {
        let raw = plain(
            "Bob <bob@example.com>",
            "alice@example.com",
            &format!("m{i}"),
            "hello there",
        );
        web.append_at("alice", "INBOX", &raw, 1_700_000_000 + i);
    }
    web.append_at(
        "bob",
        "INBOX",
        &plain("a@example.com", "bob@example.com", "for-bob", "x"),
        1_600_000_000,
    );

    let all = web.get_json("/api/v1/messages").await;
    assert_eq!(subjects(&all), ["m4", "m3", "m2", "m1", "m0", "for-bob"]);
    assert_eq!(all["total"], 6);
    assert_eq!(all["unread"], 6);
    assert_eq!(all["messages_count"], 6);

    let page = web.get_json("/api/v1/messages?start=1&limit=2").await;
    assert_eq!(subjects(&page), ["m3", "m2"]);
    assert_eq!(page["start"], 1);
    assert_eq!(page["count"], 2);
    assert_eq!(page["total"], 6);
    for key in [
        "total",
        "unread",
        "count",
        "messages_count",
        "messages_unread",
        "start",
        "tags",
        "messages",
    ] {
        assert!(page.get(key).is_some(), "listing lacks {key}: {page}");
    }
    let m = &page["messages"][0];
    for key in [
        "ID",
        "MessageID",
        "Read",
        "From",
        "To",
        "Cc",
        "Bcc",
        "ReplyTo",
        "Subject",
        "Created",
        "Username",
        "Tags",
        "Size",
        "Attachments",
        "Snippet",
        "Account",
    ] {
        assert!(m.get(key).is_some(), "summary lacks {key}: {m}");
    }
    assert_eq!(
        m["From"],
        json!({"Name": "Bob", "Address": "bob@example.com"})
    );
    assert_eq!(
        m["To"],
        json!([{"Name": "", "Address": "alice@example.com"}])
    );
    assert_eq!(m["MessageID"], "m3@example.com");
    assert_eq!(m["Read"], false);
    assert_eq!(m["Snippet"], "hello there");
    assert_eq!(m["Account"], "alice");
    assert_eq!(m["Created"], "2023-11-14T22:13:23Z");

    let bob = web.get_json("/api/v1/messages?account=bob").await;
    assert_eq!(subjects(&bob), ["for-bob"]);
    assert_eq!(bob["total"], 1);

    // Bad paging and unknown accounts are clear errors; no account is made.
    let bad = web.get("/api/v1/messages?limit=lots").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["Error"].as_str().unwrap().contains("limit"));
    web.store.set_accept_any_login(true);
    let unknown = web.get("/api/v1/messages?account=carol").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(!web.store.account_names().contains(&"carol".to_owned()));
}

#[tokio::test]
async fn japanese_and_utf8_headers_and_bodies_are_decoded() {
    let web = Web::new();
    // ISO-2022-JP "日本語の件名" as an encoded word, and an ISO-2022-JP body.
    let subject = "=?ISO-2022-JP?B?GyRCRnxLXDhsJE43b0w+GyhC?=";
    let body = b"\x1b$B$3$s$K$A$O\x1b(B\r\n";
    let mut raw = format!(
        "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(body);
    web.store.deliver(&["alice@example.com"], &raw).unwrap();
    web.deliver(
        "alice",
        "From: a@example.com\r\nSubject: =?UTF-8?Q?caf=C3=A9_=E2=98=95?=\r\n\r\nx\r\n",
    );

    let listing = web.get_json("/api/v1/messages").await;
    let mut got = subjects(&listing);
    got.sort();
    assert_eq!(got, ["caf\u{e9} \u{2615}", "日本語の件名"]);
    let id = listing["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Subject"] == "日本語の件名")
        .unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = web.get_json(&format!("/api/v1/message/{id}")).await;
    assert_eq!(m["Subject"], "日本語の件名");
    assert_eq!(m["From"]["Name"], "山田");
    assert_eq!(m["Text"].as_str().unwrap().trim_end(), "こんにちは");
    // The headers endpoint shows fields as they are written.
    let h = web.get_json(&format!("/api/v1/message/{id}/headers")).await;
    assert_eq!(h["Subject"], json!([subject]));
    assert_eq!(h["To"], json!(["alice@example.com"]));
}

#[tokio::test]
async fn read_is_seen_both_ways() {
    let mut web = Web::new();
    web.deliver(
        "alice",
        &plain("b@example.com", "alice@example.com", "one", "x"),
    );
    web.deliver(
        "alice",
        &plain("b@example.com", "alice@example.com", "two", "x"),
    );
    let listing = web.get_json("/api/v1/messages").await;
    let id_two = ids(&listing)[0].clone();

    web.ok(
        Method::PUT,
        "/api/v1/messages",
        json!({"IDs": [id_two], "Read": true}),
    )
    .await;
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    assert!(flags_of(&mut imap, 2).await.contains("\\Seen"));
    assert!(!flags_of(&mut imap, 1).await.contains("\\Seen"));

    // IMAP marks the other one read; the API shows it. No IDs: all unread again.
    imap.ok("UID STORE 1 +FLAGS (\\Seen)").await;
    let listing = web.get_json("/api/v1/messages").await;
    assert_eq!(listing["unread"], 0);
    assert!(
        listing["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["Read"] == true)
    );
    web.ok(Method::PUT, "/api/v1/messages", json!({"Read": false}))
        .await;
    assert!(!flags_of(&mut imap, 1).await.contains("\\Seen"));
    assert!(!flags_of(&mut imap, 2).await.contains("\\Seen"));

    // Opening a message over the API marks it read, as Mailpit does; IMAP sees it.
    let id_one = ids(&web.get_json("/api/v1/messages").await)[1].clone();
    let opened = web.get_json(&format!("/api/v1/message/{id_one}")).await;
    assert_eq!(opened["Read"], true);
    assert!(flags_of(&mut imap, 1).await.contains("\\Seen"));
    web.ok(Method::PUT, "/api/v1/messages", json!({"Read": false}))
        .await;

    // A malformed ID changes nothing.
    let bad = web
        .call(
            Method::PUT,
            "/api/v1/messages",
            Some(json!({"IDs": ["nope!"], "Read": true})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(web.get_json("/api/v1/messages").await["unread"], 2);
}

#[tokio::test]
async fn tags_are_imap_keywords_both_ways() {
    let mut web = Web::new();
    web.deliver(
        "alice",
        &plain("b@example.com", "alice@example.com", "one", "x"),
    );
    web.deliver(
        "alice",
        &plain("b@example.com", "alice@example.com", "two", "x"),
    );
    let listing = web.get_json("/api/v1/messages").await;
    let (two, one) = (ids(&listing)[0].clone(), ids(&listing)[1].clone());

    web.ok(
        Method::PUT,
        "/api/v1/tags",
        json!({"IDs": [one], "Tags": ["Important", "to do"]}),
    )
    .await;
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    let flags = flags_of(&mut imap, 1).await;
    assert!(
        flags.contains("Important") && flags.contains("to+20do"),
        "{flags}"
    );

    // A keyword set by IMAP is a tag.
    imap.ok("UID STORE 2 +FLAGS ($Urgent)").await;
    assert_eq!(
        web.get_json("/api/v1/tags").await,
        json!(["$Urgent", "Important", "to do"])
    );
    let listing = web.get_json("/api/v1/messages").await;
    assert_eq!(listing["messages"][0]["Tags"], json!(["$Urgent"]));
    assert_eq!(
        listing["messages"][1]["Tags"],
        json!(["Important", "to do"])
    );
    assert_eq!(listing["tags"], json!(["$Urgent", "Important", "to do"]));
    let hits = web.get_json("/api/v1/search?query=tag:%22to%20do%22").await;
    assert_eq!(ids(&hits), std::slice::from_ref(&one));

    // Setting replaces; \Seen is left alone.
    imap.ok("UID STORE 1 +FLAGS (\\Seen)").await;
    web.ok(
        Method::PUT,
        "/api/v1/tags",
        json!({"IDs": [one], "Tags": ["Later"]}),
    )
    .await;
    let flags = flags_of(&mut imap, 1).await;
    assert!(
        flags.contains("\\Seen") && flags.contains("Later"),
        "{flags}"
    );
    assert!(!flags.contains("Important"), "{flags}");

    // Rename and delete reach IMAP too.
    web.ok(
        Method::PUT,
        "/api/v1/tags/Later",
        json!({"Name": "Someday"}),
    )
    .await;
    let flags = flags_of(&mut imap, 1).await;
    assert!(
        flags.contains("Someday") && !flags.contains("Later"),
        "{flags}"
    );
    let a = web.call(Method::DELETE, "/api/v1/tags/$Urgent", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let flags = flags_of(&mut imap, 2).await;
    assert!(!flags.contains("$Urgent"), "{flags}");
    web.ok(
        Method::PUT,
        "/api/v1/tags",
        json!({"IDs": [one, two], "Tags": []}),
    )
    .await;
    assert_eq!(web.get_json("/api/v1/tags").await, json!([]));
}

#[tokio::test]
async fn send_delivers_a_message_imap_fetches_byte_for_byte() {
    let mut web = Web::new();
    let pdf = b"%PDF-1.4 not really\x00\x01\x02";
    let sent = web
        .call(
            Method::POST,
            "/api/v1/send",
            Some(json!({
                "From": {"Email": "bob@example.com", "Name": "ボブ"},
                "To": [{"Email": "alice@example.com", "Name": "Alice"}],
                "Bcc": ["bob@example.com"],
                "Subject": "請求書をお送りします",
                "Text": "こんにちは\nline two\n",
                "HTML": "<p>こんにちは</p>",
                "Attachments": [{"Content": STANDARD.encode(pdf), "Filename": "請求書.pdf", "ContentType": "application/pdf"}],
                "Headers": {"X-Mailer": "tests"},
                "Tags": ["Invoices"]
            })),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let id = sent.json()["ID"].as_str().unwrap().to_owned();

    let raw = web.get(&format!("/api/v1/message/{id}/raw")).await;
    assert_eq!(raw.status, StatusCode::OK);
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    let fetched = imap.ok("UID FETCH 1 (FLAGS BODY.PEEK[])").await;
    let fetched = &fetched[0];
    let start = fetched.windows(3).position(|w| w == b"}\r\n").unwrap() + 3;
    assert_eq!(
        &fetched[start..start + raw.body.len()],
        &raw.body[..],
        "IMAP and the API hold the same bytes"
    );
    assert!(
        String::from_utf8_lossy(fetched).contains("Invoices"),
        "tags are keywords"
    );
    let text_raw = raw.text();
    assert!(!text_raw.contains("Bcc"), "{text_raw}");
    assert!(text_raw.contains("X-Mailer: tests"));

    let m = web.get_json(&format!("/api/v1/message/{id}")).await;
    // Mailpit's Message and Attachment fields, all present.
    for key in [
        "ID",
        "MessageID",
        "From",
        "To",
        "Cc",
        "Bcc",
        "ReplyTo",
        "ReturnPath",
        "Subject",
        "ListUnsubscribe",
        "Date",
        "Tags",
        "Username",
        "Text",
        "HTML",
        "Size",
        "Inline",
        "Attachments",
    ] {
        assert!(m.get(key).is_some(), "message lacks {key}");
    }
    for key in ["Header", "Links", "Errors", "HeaderPost"] {
        assert!(
            m["ListUnsubscribe"].get(key).is_some(),
            "ListUnsubscribe lacks {key}"
        );
    }
    for key in [
        "PartID",
        "FileName",
        "ContentType",
        "ContentID",
        "Size",
        "Checksums",
    ] {
        assert!(
            m["Attachments"][0].get(key).is_some(),
            "attachment lacks {key}"
        );
    }
    assert_eq!(m["Subject"], "請求書をお送りします");
    assert_eq!(
        m["From"],
        json!({"Name": "ボブ", "Address": "bob@example.com"})
    );
    assert_eq!(m["Text"], "こんにちは\r\nline two\r\n");
    assert_eq!(m["HTML"], "<p>こんにちは</p>");
    assert_eq!(m["Tags"], json!(["Invoices"]));
    let a = &m["Attachments"][0];
    assert_eq!(a["FileName"], "請求書.pdf");
    assert_eq!(a["ContentType"], "application/pdf");
    assert_eq!(a["Size"], pdf.len());
    assert_eq!(a["Checksums"]["SHA256"].as_str().unwrap().len(), 64);
    let part_id = a["PartID"].as_str().unwrap();
    assert_eq!(part_id, "2");
    let part = web
        .get(&format!("/api/v1/message/{id}/part/{part_id}"))
        .await;
    assert_eq!(part.body, pdf);
    assert_eq!(part.header("content-type"), "application/pdf");
    assert!(part.header("content-security-policy").contains("sandbox"));

    // Bob got his Bcc copy, without a Bcc line either.
    let bob = web.get_json("/api/v1/messages?account=bob").await;
    assert_eq!(subjects(&bob), ["請求書をお送りします"]);

    // A recipient the store refuses: 400, nothing delivered.
    let refused = web
        .call(
            Method::POST,
            "/api/v1/send",
            Some(json!({"From": {"Email": "b@example.com"}, "To": [{"Email": "alice@example.com"}, {"Email": "x@elsewhere.test"}], "Subject": "no"})),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    assert_eq!(
        web.get_json("/api/v1/messages?account=alice").await["total"],
        1
    );
}

#[tokio::test]
async fn delete_is_an_expunge_a_selected_imap_session_sees() {
    let mut web = Web::new();
    for s in ["a", "b", "c"] {
        web.deliver(
            "alice",
            &plain("x@example.com", "alice@example.com", s, "x"),
        );
    }
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    imap.send("i IDLE\r\n").await;
    imap.until("+ ").await;

    let listing = web.get_json("/api/v1/messages").await;
    let b = listing["messages"][1]["ID"].as_str().unwrap().to_owned();
    web.ok(Method::DELETE, "/api/v1/messages", json!({"IDs": [b]}))
        .await;
    assert_eq!(imap.until("EXPUNGE").await.trim(), "* 2 EXPUNGE");
    imap.send("DONE\r\n").await;
    imap.until("i OK").await;

    // The deleted ID now names nothing.
    assert_eq!(
        web.get(&format!("/api/v1/message/{b}")).await.status,
        StatusCode::NOT_FOUND
    );
    // No body: everything in scope goes (bob's INBOX untouched with account=alice).
    web.deliver(
        "bob",
        &plain("x@example.com", "bob@example.com", "keep", "x"),
    );
    web.ok(Method::DELETE, "/api/v1/messages?account=alice", json!({}))
        .await;
    assert_eq!(subjects(&web.get_json("/api/v1/messages").await), ["keep"]);
    let info = web.get_json("/api/v1/info").await;
    assert_eq!(info["RuntimeStats"]["MessagesDeleted"], 3);
}

#[tokio::test]
async fn search_finds_by_field_flag_tag_text_and_negation() {
    let web = Web::new();
    let base = 1_700_000_000;
    web.append_at(
        "alice",
        "INBOX",
        &plain(
            "Carol <carol@example.com>",
            "alice@example.com",
            "Quarterly report",
            "numbers inside",
        ),
        base,
    );
    web.append_at(
        "alice",
        "INBOX",
        &plain(
            "dave@example.com",
            "alice@example.com",
            "Lunch",
            "pizza or sushi",
        ),
        base + 1,
    );
    web.append_at(
        "alice",
        "INBOX",
        "From: erin@example.com\r\nTo: alice@example.com\r\nSubject: With file\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--b\r\nContent-Type: text/plain; name=a.txt\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nfile\r\n--b--\r\n",
        base + 2,
    );
    let listing = web.get_json("/api/v1/messages").await;
    let lunch = listing["messages"][1]["ID"].as_str().unwrap().to_owned();
    web.ok(
        Method::PUT,
        "/api/v1/messages",
        json!({"IDs": [lunch], "Read": true}),
    )
    .await;

    let q = |query: &str| {
        let web = &web;
        let uri = format!(
            "/api/v1/search?query={}",
            query.replace(' ', "%20").replace('"', "%22")
        );
        async move { subjects(&web.get_json(&uri).await) }
    };
    assert_eq!(q("from:carol").await, ["Quarterly report"]);
    assert_eq!(q("subject:lunch").await, ["Lunch"]);
    assert_eq!(q("is:read").await, ["Lunch"]);
    assert_eq!(q("is:unread").await, ["With file", "Quarterly report"]);
    assert_eq!(q("has:attachment").await, ["With file"]);
    assert_eq!(q("sushi").await, ["Lunch"]);
    assert_eq!(q("\"quarterly report\"").await, ["Quarterly report"]);
    assert_eq!(q("-is:read !from:erin").await, ["Quarterly report"]);
    assert_eq!(q("to:alice subject:\"with file\"").await, ["With file"]);
    assert_eq!(
        q("after:2023-11-14 before:2023-11-15 -has:attachment").await,
        ["Lunch", "Quarterly report"]
    );
    assert_eq!(q("before:2023-11-14").await, Vec::<String>::new());
    assert_eq!(q("larger:200").await, ["With file"]);
    assert_eq!(
        web.get("/api/v1/search?query=larger:lots").await.status,
        StatusCode::BAD_REQUEST
    );
    let page = web.get_json("/api/v1/search?query=is:unread&limit=1").await;
    assert_eq!(page["messages_count"], 2);
    assert_eq!(page["count"], 1);
    assert_eq!(page["total"], 3);

    // PUT messages with a Search marks the hits only.
    web.ok(
        Method::PUT,
        "/api/v1/messages",
        json!({"Search": "from:carol", "Read": true}),
    )
    .await;
    assert_eq!(q("is:read").await, ["Lunch", "Quarterly report"]);
    web.ok(
        Method::PUT,
        "/api/v1/messages",
        json!({"Search": "from:carol", "Read": false}),
    )
    .await;
    assert_eq!(q("is:read").await, ["Lunch"]);

    assert_eq!(
        web.get("/api/v1/search?query=%22open").await.status,
        StatusCode::BAD_REQUEST
    );
    // DELETE search removes the hits only; an empty query is refused.
    assert_eq!(
        web.call(Method::DELETE, "/api/v1/search?query=", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        web.call(Method::DELETE, "/api/v1/search?query=is:unread", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(subjects(&web.get_json("/api/v1/messages").await), ["Lunch"]);
}

#[tokio::test]
async fn message_views_parts_and_checks() {
    let web = Web::new();
    let png = [0x89u8, b'P', b'N', b'G', 0, 1, 2, 3];
    let raw = format!(
        "From: a@example.com\r\nTo: alice@example.com\r\nSubject: pic\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/related; boundary=r\r\n\r\n--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<meta http-equiv=\"refresh\" content=\"0;url=https://tracker.example/\"><p>hi<img src=\"cid:logo@x\"><img src=\"https://tracker.example/p.gif\"><script>alert(1)</script></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--r--\r\n",
        STANDARD.encode(png)
    );
    web.deliver("alice", &raw);
    let id = ids(&web.get_json("/api/v1/messages").await)[0].clone();
    let m = web.get_json(&format!("/api/v1/message/{id}")).await;
    assert_eq!(m["Inline"][0]["ContentID"], "logo@x");
    assert_eq!(m["Inline"][0]["PartID"], "2");
    assert_eq!(m["Attachments"], json!([]));
    let summary = &web.get_json("/api/v1/messages").await["messages"][0];
    assert_eq!(
        summary["Attachments"], 0,
        "inline images are not attachments"
    );
    assert_eq!(
        subjects(&web.get_json("/api/v1/search?query=has:attachment").await),
        Vec::<String>::new()
    );

    let html = web.get(&format!("/view/{id}.html")).await;
    assert_eq!(html.status, StatusCode::OK);
    // The browser's own DNS prefetching of the mail's links would reach the network.
    assert_eq!(html.header("x-dns-prefetch-control"), "off");
    let csp = html.header("content-security-policy");
    assert!(csp.starts_with("sandbox; default-src 'none'"), "{csp}");
    assert!(!csp.contains("https:"), "{csp}");
    assert!(
        html.text()
            .contains(&format!("data:image/png;base64,{}", STANDARD.encode(png)))
    );
    assert!(!html.text().contains("refresh"), "{}", html.text());
    assert_eq!(html.header("x-content-type-options"), "nosniff");
    let remote = web.get(&format!("/view/{id}.html?remote=1")).await;
    assert!(remote.header("content-security-policy").contains("https:"));
    let txt = web.get(&format!("/view/{id}.txt")).await;
    assert!(txt.header("content-type").starts_with("text/plain"));
    assert_eq!(
        web.get(&format!("/view/{id}.exe")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        web.get(&format!("/api/v1/message/{id}/part/9"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    for check in ["html-check", "link-check", "sa-check", "part/2/thumb"] {
        let a = web.get(&format!("/api/v1/message/{id}/{check}")).await;
        assert_eq!(a.status, StatusCode::NOT_IMPLEMENTED, "{check}");
        let why = a.json()["Error"].as_str().unwrap().to_owned();
        assert!(
            why.contains(check.rsplit('/').next().unwrap().trim_end_matches('b')),
            "{why}"
        );
    }
    // `latest` is the newest message.
    assert_eq!(
        web.get_json("/api/v1/message/latest").await["ID"],
        id.as_str()
    );
}

#[tokio::test]
async fn ids_are_opaque_stable_across_restarts_and_never_leave_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let web = Web::over(yubin_store::Store::maildir(dir.path()).unwrap());
        web.deliver(
            "alice",
            &plain("a@example.com", "alice@example.com", "kept", "x"),
        );
        let id = ids(&web.get_json("/api/v1/messages").await)[0].clone();
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        id
    };
    let web = Web::over(yubin_store::Store::maildir(dir.path()).unwrap());
    assert_eq!(
        web.get_json(&format!("/api/v1/message/{id}")).await["Subject"],
        "kept"
    );

    for bad in ["x", "..%2F..%2Fetc%2Fpasswd", "MQ"] {
        let a = web.get(&format!("/api/v1/message/{bad}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    // A well-formed ID of an account that does not exist: 404, and no account is made.
    web.store.set_accept_any_login(true);
    let forged = STANDARD
        .encode("1\0mallory\0INBOX\x001\x001")
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_owned();
    assert_eq!(
        web.get(&format!("/api/v1/message/{forged}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!web.store.account_names().contains(&"mallory".to_owned()));
}

#[tokio::test]
async fn info_webui_and_accounts() {
    let web = Web::new();
    web.deliver(
        "alice",
        &plain("a@example.com", "alice@example.com", "one", "x"),
    );
    let info = web.get_json("/api/v1/info").await;
    assert_eq!(info["Messages"], 1);
    assert_eq!(info["Unread"], 1);
    assert_eq!(info["Database"], "memory");
    assert!(info["Version"].as_str().unwrap().contains('.'));
    for key in [
        "Version",
        "LatestVersion",
        "Database",
        "DatabaseSize",
        "Messages",
        "Unread",
        "Tags",
        "RuntimeStats",
    ] {
        assert!(info.get(key).is_some(), "info lacks {key}");
    }
    let ui = web.get_json("/api/v1/webui").await;
    for key in [
        "Label",
        "MessageRelay",
        "SpamAssassin",
        "ChaosEnabled",
        "DuplicatesIgnored",
        "HideDeleteAllButton",
    ] {
        assert!(ui.get(key).is_some(), "webui lacks {key}");
    }
    for key in [
        "Enabled",
        "SMTPServer",
        "ReturnPath",
        "AllowedRecipients",
        "BlockedRecipients",
        "OverrideFrom",
        "PreserveMessageIDs",
    ] {
        assert!(
            ui["MessageRelay"].get(key).is_some(),
            "MessageRelay lacks {key}"
        );
    }
    assert_eq!(ui["MessageRelay"]["Enabled"], false);
    assert_eq!(ui["SpamAssassin"], false);
    let accounts = web.get_json("/api/v1/accounts").await;
    let alice = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Name"] == "alice")
        .unwrap();
    let inbox = alice["Mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == "INBOX")
        .unwrap();
    assert_eq!(inbox["Total"], 1);
    assert_eq!(inbox["Unread"], 1);
    assert!(
        alice["Mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["SpecialUse"] == "\\Sent")
    );
    // ?mailbox= reads another mailbox.
    web.append_at(
        "alice",
        "Sent",
        &plain("alice@example.com", "b@example.com", "sent one", "x"),
        1,
    );
    assert_eq!(
        subjects(&web.get_json("/api/v1/messages?mailbox=Sent").await),
        ["sent one"]
    );
}

#[tokio::test]
async fn page_and_assets_have_a_strict_csp() {
    let web = Web::new();
    for health in ["/livez", "/readyz"] {
        assert_eq!(web.get(health).await.text(), "ok");
    }
    for (path, ctype) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
    ] {
        let a = web.get(path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(a.header("content-type").starts_with(ctype), "{path}");
        let csp = a.header("content-security-policy");
        assert!(
            csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}

async fn next_event(body: &mut axum::body::Body, buf: &mut String) -> (String, Value) {
    use http_body_util::BodyExt;
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            if name.is_empty() {
                continue; // a keep-alive comment
            }
            return (name, serde_json::from_str(&data).unwrap());
        }
        let frame = tokio::time::timeout(STEP, body.frame())
            .await
            .expect("an event in time")
            .expect("stream open")
            .unwrap();
        if let Ok(bytes) = frame.into_data() {
            buf.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[tokio::test]
async fn events_stream_new_update_delete_and_stats_from_any_protocol() {
    let mut web = Web::new();
    let (mut body, mut buf) = web.get_stream("/api/v1/events?account=alice").await;

    web.deliver(
        "bob",
        &plain("x@example.com", "bob@example.com", "not ours", "x"),
    );
    web.deliver(
        "alice",
        &plain("x@example.com", "alice@example.com", "hello", "x"),
    );
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "new");
    assert_eq!(data["Subject"], "hello");
    let id = data["ID"].as_str().unwrap().to_owned();
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(
        (name.as_str(), &data),
        ("stats", &json!({"Total": 1, "Unread": 1}))
    );

    // An IMAP STORE is an update.
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    imap.ok("UID STORE 1 +FLAGS (\\Seen Work)").await;
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "update");
    assert_eq!(data, json!({"ID": id, "Read": true, "Tags": ["Work"]}));
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(
        (name.as_str(), &data),
        ("stats", &json!({"Total": 1, "Unread": 0}))
    );

    // An IMAP expunge is a delete.
    imap.ok("UID STORE 1 +FLAGS (\\Deleted)").await;
    let _ = next_event(&mut body, &mut buf).await; // update
    let _ = next_event(&mut body, &mut buf).await; // stats
    imap.ok("EXPUNGE").await;
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!((name.as_str(), &data), ("delete", &json!({"ID": id})));
}

#[tokio::test]
async fn wait_returns_when_mail_arrives_and_is_bounded() {
    let web = Web::new();
    // Nothing arrives: the wait ends with the empty listing.
    let empty = web.get_json("/api/v1/messages?wait=0.3").await;
    assert_eq!(empty["messages"], json!([]));

    let router = web.router.clone();
    let waiting = tokio::spawn(async move {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = router
            .oneshot(
                axum::http::Request::get("/api/v1/messages?wait=30&account=alice")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "waits while the listing is empty");
    web.deliver(
        "alice",
        &plain("x@example.com", "alice@example.com", "arrived", "x"),
    );
    let listing = tokio::time::timeout(STEP, waiting)
        .await
        .expect("answer once mail arrived")
        .unwrap();
    assert_eq!(subjects(&listing), ["arrived"]);
}

#[tokio::test]
async fn serves_over_a_socket_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let store = yubin_store::Store::memory();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(yubin_web::serve(
        listener,
        store,
        yubin_web::WebConfig::default(),
        shutdown.clone(),
    ));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /api/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(STEP, tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"messages\":[]"), "{answer}");

    // An open event stream, or a long wait, does not hold the shutdown up (both are
    // longer than STEP: a shutdown that waited for them would fail the test).
    let mut waiting = tokio::net::TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET /api/v1/messages?wait=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut events = tokio::net::TcpStream::connect(addr).await.unwrap();
    events
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(STEP, events.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    shutdown.cancel();
    let mut answer = String::new();
    tokio::time::timeout(STEP, waiting.read_to_string(&mut answer))
        .await
        .expect("the wait ends with the shutdown")
        .unwrap();
    // The wait answers (its empty listing), unless the server had not read the request
    // yet, in which case the idle connection is simply closed.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    tokio::time::timeout(STEP, server)
        .await
        .expect("shut down in time")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn accounts_made_by_a_delivery_are_waited_for_and_streamed() {
    let config = yubin_web::WebConfig {
        account_rescan: std::time::Duration::from_millis(50),
        ..Default::default()
    };
    let web = Web::with_config(config);
    web.store.set_accept_any_login(true);
    let stream = web.get_stream("/api/v1/events").await;
    let router = web.router.clone();
    let waiting = tokio::spawn(async move {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = router
            .oneshot(
                axum::http::Request::get("/api/v1/messages?wait=30&account=carol")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !web.store.account_names().contains(&"carol".to_owned()),
        "waiting makes no account"
    );
    web.store
        .deliver(
            &["carol@example.com"],
            plain("x@example.com", "carol@example.com", "first", "x").as_bytes(),
        )
        .unwrap();
    let listing = tokio::time::timeout(STEP, waiting)
        .await
        .expect("answer once mail arrived")
        .unwrap();
    assert_eq!(subjects(&listing), ["first"]);
    assert_eq!(listing["messages"][0]["Account"], "carol");

    let (mut body, mut buf) = stream;
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "new");
    assert_eq!(
        (data["Subject"].as_str(), data["Account"].as_str()),
        (Some("first"), Some("carol"))
    );
}

#[tokio::test]
async fn large_attachments_go_through_whole_and_bodies_past_the_limit_are_refused() {
    let config = yubin_web::WebConfig {
        max_body: 8 * 1024 * 1024,
        ..Default::default()
    };
    let web = Web::with_config(config);
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let request = json!({
        "From": {"Email": "bob@example.com"},
        "To": [{"Email": "alice@example.com"}],
        "Subject": "big",
        "Attachments": [{"Content": STANDARD.encode(&big), "Filename": "big.bin"}]
    });
    let sent = web.call(Method::POST, "/api/v1/send", Some(request)).await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text());
    let id = sent.json()["ID"].as_str().unwrap().to_owned();
    let m = web.get_json(&format!("/api/v1/message/{id}")).await;
    assert_eq!(m["Attachments"][0]["Size"], big.len());
    assert!(m["Size"].as_u64().unwrap() > big.len() as u64);
    let part = web
        .get(&format!(
            "/api/v1/message/{id}/part/{}",
            m["Attachments"][0]["PartID"].as_str().unwrap()
        ))
        .await;
    assert!(part.body == big, "the attachment comes back byte for byte");
    assert_eq!(part.header("content-type"), "application/octet-stream");

    let too_big: Vec<u8> = vec![b'x'; 7 * 1024 * 1024];
    let refused = web
        .call(
            Method::POST,
            "/api/v1/send",
            Some(
                json!({"From": {"Email": "b@example.com"}, "To": [{"Email": "alice@example.com"}],
                "Attachments": [{"Content": STANDARD.encode(&too_big)}]}),
            ),
        )
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        web.get_json("/api/v1/messages").await["total"],
        1,
        "nothing more delivered"
    );
}

#[tokio::test]
async fn bad_requests_are_clear_errors_and_change_nothing() {
    let mut web = Web::new();
    web.deliver(
        "alice",
        &plain("x@example.com", "alice@example.com", "keep", "x"),
    );
    let id = ids(&web.get_json("/api/v1/messages").await)[0].clone();
    let bodies = [
        "{",
        "[]",
        "null",
        "{\"IDs\": 5}",
        "{\"IDs\": [5]}",
        "{\"IDs\": [\"\"]}",
        "{\"Read\": \"yes\"}",
        "{\"Tags\": [\"\"], \"IDs\": []}",
        "{\"Tags\": [\"ok\"], \"IDs\": [\"bad id\"]}",
        "{\"Name\": \"\"}",
        "\u{feff}{}",
    ];
    for (method, uri) in [
        (Method::PUT, "/api/v1/messages"),
        (Method::DELETE, "/api/v1/messages"),
        (Method::PUT, "/api/v1/tags"),
        (Method::PUT, "/api/v1/tags/x"),
        (Method::POST, "/api/v1/send"),
    ] {
        for body in bodies {
            let request = axum::http::Request::builder()
                .method(method.clone())
                .uri(uri)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            use tower::ServiceExt;
            let response = web.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri} {body:?}");
        }
    }
    let m = web.get_json(&format!("/api/v1/message/{id}")).await;
    assert_eq!(m["Subject"], "keep");
    let mut imap = web.imap("alice").await;
    imap.ok("SELECT INBOX").await;
    let flags = flags_of(&mut imap, 1).await;
    assert!(
        !flags.contains("Deleted") && !flags.contains("ok"),
        "{flags}"
    );
    // Go matches field names without regard to case, so Mailpit clients may write `ids`.
    web.ok(
        Method::PUT,
        "/api/v1/messages",
        json!({"ids": [id], "read": true}),
    )
    .await;
    assert!(flags_of(&mut imap, 1).await.contains("\\Seen"));
    for uri in [
        "/api/v1/messages?start=-1",
        "/api/v1/messages?wait=NaN",
        "/api/v1/messages?wait=-3",
        "/api/v1/messages?mailbox=..%2F..",
        "/api/v1/search?query=subject:%22",
        "/api/v1/message/latest/part/..",
    ] {
        let a = web.get(uri).await;
        assert!(a.status.is_client_error(), "{uri}: {}", a.status);
        assert!(a.json().get("Error").is_some(), "{uri}: {}", a.text());
    }
}

#[tokio::test]
async fn other_mailboxes_are_scoped_streamed_and_listed_by_mailbox() {
    let mut web = Web::new();
    let (mut body, mut buf) = web
        .get_stream("/api/v1/events?account=alice&mailbox=Sent")
        .await;
    let mut imap = web.imap("alice").await;
    let inbox_msg = "Subject: to inbox\r\n\r\nx\r\n";
    imap.send(&format!(
        "a1 APPEND INBOX {{{}+}}\r\n{inbox_msg}\r\n",
        inbox_msg.len()
    ))
    .await;
    imap.until("a1 OK").await;
    let sent_msg = "Subject: kept copy\r\n\r\nx\r\n";
    imap.send(&format!(
        "a2 APPEND Sent (\\Seen) {{{}+}}\r\n{sent_msg}\r\n",
        sent_msg.len()
    ))
    .await;
    imap.until("a2 OK").await;

    // The stream of Sent hears of the Sent copy only.
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "new");
    assert_eq!(data["Subject"], "kept copy");
    assert_eq!(data["Mailbox"], "Sent");
    assert_eq!(data["Read"], true);
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(
        (name.as_str(), &data),
        ("stats", &json!({"Total": 1, "Unread": 0}))
    );

    // Its ID opens it, and tags work there too.
    let id = data_id(
        &web.get_json("/api/v1/messages?mailbox=Sent&account=alice")
            .await,
    );
    web.ok(
        Method::PUT,
        "/api/v1/tags",
        json!({"IDs": [id], "Tags": ["Archive me"]}),
    )
    .await;
    assert_eq!(
        web.get_json("/api/v1/tags?mailbox=Sent").await,
        json!(["Archive me"])
    );
    assert_eq!(
        web.get_json("/api/v1/tags").await,
        json!([]),
        "INBOX has no tags"
    );
    let (name, data) = next_event(&mut body, &mut buf).await;
    assert_eq!(name, "update");
    assert_eq!(data["Tags"], json!(["Archive me"]));
}

fn data_id(listing: &Value) -> String {
    listing["messages"][0]["ID"].as_str().unwrap().to_owned()
}
