//! The web inbox in a real browser: headless Chromium over WebDriver.
//!
//! Each test starts yubin (SMTP, POP3, IMAP and the web inbox on one in-memory store) and
//! its own browser, opens the page, and makes a mail client do something over a socket;
//! the page must show it without a reload. Hostile mail must run no script and fetch
//! nothing remote. Without Chromium and chromedriver the tests skip (outside CI) with the
//! reason printed.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::Value;
use support::beacon::Beacon;
use support::browser::Browser;
use support::{Lines, Yubin, fixture, smtp_send};

/// The issue's bound for a live update: mail arriving over SMTP shows in an open page
/// within this, without a reload.
const LIVE: Duration = Duration::from_secs(2);
/// Any other wait for the page (a deletion reaching IMAP, a frame loading).
const WAIT: Duration = Duration::from_secs(10);

/// `rows()`: the rows of the list as the user sees them.
const ROWS_FN: &str = r#"function rows() { return Array.from(document.querySelectorAll('#messages .row')).map(r => ({
    id: r.dataset.id,
    subject: r.querySelector('.subject').textContent,
    from: r.querySelector('.from').textContent,
    unread: r.classList.contains('unread'),
    meta: r.querySelector('.meta').textContent,
})); }"#;

/// A mark the page would lose if it reloaded; and a record of what the page's own CSP
/// refused it (the page must need nothing its policy forbids: no inline style or script).
const MARK: &str = "window.__kept = 'no reload';
    window.__csp = window.__csp || [];
    document.addEventListener('securitypolicyviolation',
        e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
    return true;";
const CSP_VIOLATIONS: &str = "return window.__csp;";
const MARK_KEPT: &str = "return window.__kept === 'no reload';";

/// Starts yubin and a browser on the page, waiting until its live stream is connected.
/// `None`: no browser here (outside CI), the test skips.
async fn open() -> Option<(Yubin, Browser)> {
    let browser = Browser::start().await?;
    let yubin = Yubin::start().await;
    browser
        .client()
        .goto(&yubin.url())
        .await
        .expect("open the page");
    browser
        .wait_js(
            "the live stream",
            WAIT,
            "return document.getElementById('live').dataset.state === 'live';",
        )
        .await;
    browser.js(MARK).await;
    Some((yubin, browser))
}

async fn rows(b: &Browser) -> Vec<Value> {
    b.js(&format!("{ROWS_FN} return rows();"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_rows(b: &Browser, what: &str, timeout: Duration, n: usize) -> Vec<Value> {
    b.wait_js(
        what,
        timeout,
        &format!("{ROWS_FN} const r = rows(); return r.length === {n} ? r : null;"),
    )
    .await
    .as_array()
    .cloned()
    .unwrap()
}

/// Clicks the row whose subject is `subject` and waits for the reader to show it.
async fn open_message(b: &Browser, subject: &str) {
    let subject_js = serde_json::to_string(subject).unwrap();
    b.wait_js(
        "the row to click",
        WAIT,
        &format!(
            "const r = Array.from(document.querySelectorAll('#messages .row'))
                .find(r => r.querySelector('.subject').textContent === {subject_js});
             if (!r) return false; r.click(); return true;"
        ),
    )
    .await;
    b.wait_js(
        "the reader",
        WAIT,
        &format!(
            "return !document.getElementById('reader').hidden &&
                document.getElementById('m-subject').textContent === {subject_js};"
        ),
    )
    .await;
}

/// Shows the part tab `part` (html, text, headers, raw, mime) of the open message.
async fn show_part(b: &Browser, part: &str) {
    b.client()
        .find(Locator::Id(&format!("pt-{part}")))
        .await
        .expect("part tab")
        .click()
        .await
        .expect("click the tab");
}

#[tokio::test]
async fn smtp_mail_appears_live_with_its_japanese_subject_decoded() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    assert!(rows(&b).await.is_empty(), "a new server's inbox is empty");

    // RFC 2047 encoded words in ISO-2022-JP, as Japanese mail clients still send them.
    smtp_send(yubin.mail.smtp_addr(), &fixture("03-iso-2022-jp.eml")).await;

    let rows = wait_rows(&b, "the SMTP message in the list", LIVE, 1).await;
    assert_eq!(rows[0]["subject"], "ISO-2022-JPの件名テスト");
    assert_eq!(rows[0]["from"], "鈴木");
    assert_eq!(rows[0]["unread"], true, "new mail is shown unread");
    assert_eq!(b.js(MARK_KEPT).await, true, "the page did not reload");
    assert_eq!(
        b.client().title().await.unwrap(),
        "(1) yubin",
        "the unread count is in the title"
    );

    // Opening it shows the decoded body and reads it (\Seen), as a mail client does.
    open_message(&b, "ISO-2022-JPの件名テスト").await;
    b.wait_js(
        "the text body",
        WAIT,
        "return document.getElementById('m-text').textContent.includes('日本語メールです');",
    )
    .await;
    b.wait_js(
        "the row marked read",
        WAIT,
        "return !document.querySelector('#messages .row').classList.contains('unread');",
    )
    .await;
    let read = yubin.mail.messages("alice");
    assert_eq!(read.len(), 1);

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn html_renders_in_a_sandbox_and_remote_images_wait_for_a_click() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    let remote = Beacon::start();
    let html = format!(
        "From: Shop <shop@example.com>\r\nTo: alice@localhost\r\nSubject: Newsletter\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nText version.\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p id=\"greeting\">HTML <b>version</b>: こんにちは</p>\
         <img id=\"pixel\" src=\"http://{}/tracking-pixel.gif\" alt=\"pixel\">\r\n--b--\r\n",
        remote.host()
    );
    yubin.deliver(html.as_bytes());
    wait_rows(&b, "the message", WAIT, 1).await;
    open_message(&b, "Newsletter").await;

    let sandbox = b
        .js("const f = document.getElementById('m-html'); return f.hidden ? null : f.getAttribute('sandbox');")
        .await;
    let sandbox = sandbox
        .as_str()
        .expect("the HTML part is shown in an iframe with a sandbox");
    assert!(
        !sandbox.contains("allow-scripts") && !sandbox.contains("allow-same-origin"),
        "sandbox={sandbox:?}"
    );

    // The HTML is rendered inside the frame.
    b.client().enter_frame(0).await.expect("enter the frame");
    let greeting = b
        .client()
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("greeting"))
        .await
        .expect("the HTML body in the frame");
    assert_eq!(greeting.text().await.unwrap(), "HTML version: こんにちは");
    b.client().enter_parent_frame().await.unwrap();
    // The frame's load event, which waits for its images, has fired: an image fetch
    // would have been started by now.
    b.wait_js(
        "the frame's load event",
        WAIT,
        "const f = document.getElementById('m-html');
         return f.dataset.loaded === f.getAttribute('src');",
    )
    .await;
    assert!(
        remote.hits().is_empty(),
        "the page fetched from the remote host before being asked: {:?}",
        remote.hits()
    );
    b.wait_js(
        "the load-remote-images bar",
        WAIT,
        "return !document.getElementById('remote-bar').hidden;",
    )
    .await;

    // The control: once the user asks, the same image is fetched, so the listener
    // above would have seen an early fetch.
    b.client()
        .find(Locator::Id("load-remote"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !remote
        .hits()
        .iter()
        .any(|h| h.contains("/tracking-pixel.gif"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the remote image was not fetched after the click: {:?}",
            remote.hits()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn deleting_in_the_page_expunges_for_a_selected_imap_session() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    yubin.deliver(&fixture("01-plain.eml"));
    yubin.deliver(&fixture("05-attachments.eml"));
    let rows = wait_rows(&b, "two messages", WAIT, 2).await;
    assert_eq!(rows[0]["subject"], "Picture attached", "newest first");
    assert!(
        rows[0]["meta"].as_str().unwrap().contains('📎'),
        "the attachments marker: {}",
        rows[0]["meta"]
    );
    assert_eq!(rows[1]["subject"], "Plain hello");

    let mut imap = Lines::connect(yubin.mail.imap_addr()).await;
    imap.line().await;
    imap.cmd("a LOGIN alice secret").await;
    imap.until(|l| l.starts_with("a ")).await;
    imap.cmd("b SELECT INBOX").await;
    let status = imap.until(|l| l.starts_with("b ")).await;
    assert!(status.starts_with("b OK"), "{status}");

    // An IMAP client flags message 2 read and gives it a keyword: the page shows both
    // without a reload (a keyword is a tag).
    imap.cmd("c STORE 2 +FLAGS (\\Seen Urgent)").await;
    imap.until(|l| l.starts_with("c ")).await;
    b.wait_js(
        "the IMAP flag change in the page",
        WAIT,
        "const r = document.querySelectorAll('#messages .row');
         return r.length === 2 && !r[0].classList.contains('unread') && r[1].classList.contains('unread')
             && r[0].querySelector('.meta').textContent.includes('#Urgent');",
    )
    .await;

    imap.cmd("d IDLE").await;
    let cont = imap.line().await;
    assert!(cont.starts_with('+'), "{cont}");

    // Delete "Plain hello" (sequence number 1) from the reader's Delete button.
    open_message(&b, "Plain hello").await;
    b.client()
        .find(Locator::Id("delete"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let expunge = imap
        .until(|l| l.contains("EXPUNGE") || l.starts_with("d "))
        .await;
    assert_eq!(expunge, "* 1 EXPUNGE", "seen by IMAP: {:?}", imap.seen);
    let rows = wait_rows(&b, "one message left", WAIT, 1).await;
    assert_eq!(rows[0]["subject"], "Picture attached");
    imap.cmd("DONE").await;
    imap.until(|l| l.starts_with("d ")).await;
    assert_eq!(
        yubin.mail.messages("alice").len(),
        1,
        "the store kept the other one"
    );
    assert_eq!(b.js(MARK_KEPT).await, true, "the page did not reload");

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn pop3_retr_and_quit_removes_it_from_the_page_live() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    yubin.deliver(&fixture("02-japanese-utf8.eml"));
    let rows = wait_rows(&b, "the message", WAIT, 1).await;
    assert_eq!(
        rows[0]["subject"],
        "こんにちはサーバーさん。私はクライアントです"
    );
    assert_eq!(rows[0]["from"], "山田 花子");

    // The lesson's POP3: RETR fetches it, QUIT removes it (delete-on-retrieve).
    let mut pop = Lines::connect(yubin.mail.pop_addr()).await;
    assert!(pop.line().await.starts_with("+OK"));
    for cmd in ["USER alice", "PASS secret"] {
        pop.cmd(cmd).await;
        let l = pop.line().await;
        assert!(l.starts_with("+OK"), "{cmd}: {l}");
    }
    pop.cmd("RETR 1").await;
    pop.until(|l| l == ".").await;
    assert_eq!(rows_now(&b).await, 1, "retrieving alone removes nothing");
    pop.cmd("QUIT").await;
    assert!(pop.line().await.starts_with("+OK"));

    wait_rows(&b, "the list empty after QUIT", WAIT, 0).await;
    b.wait_js(
        "the empty-inbox note",
        WAIT,
        "return !document.getElementById('empty').hidden;",
    )
    .await;
    assert_eq!(b.js(MARK_KEPT).await, true, "the page did not reload");

    b.close().await;
    yubin.stop().await;
}

async fn rows_now(b: &Browser) -> usize {
    rows(b).await.len()
}

/// A message whose MIME tree is far bigger than anyone should draw: a deep nest of
/// multiparts and a wide one with thousands of parts.
fn huge_mime_tree() -> Vec<u8> {
    let mut m = String::from(
        "From: tree@example.com\r\nTo: alice@localhost\r\nSubject: Huge MIME tree\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"d0\"\r\n\r\n",
    );
    const DEPTH: usize = 40;
    for d in 0..DEPTH {
        m += &format!(
            "--d{d}\r\nContent-Type: text/plain\r\n\r\nlevel {d}\r\n\
             --d{d}\r\nContent-Type: multipart/mixed; boundary=\"d{}\"\r\n\r\n",
            d + 1
        );
    }
    m += &format!("--d{DEPTH}\r\nContent-Type: multipart/mixed; boundary=\"wide\"\r\n\r\n");
    for i in 0..1200 {
        m += &format!(
            "--wide\r\nContent-Type: text/html; name=\"p{i}.html\"\r\n\r\n<script>window.pwned='part{i}'</script>\r\n"
        );
    }
    m += "--wide--\r\n";
    for d in (0..=DEPTH).rev() {
        m += &format!("--d{d}--\r\n");
    }
    m.into_bytes()
}

#[tokio::test]
async fn hostile_mail_runs_no_script_and_fetches_nothing() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    let remote = Beacon::start();
    let host = remote.host();
    for name in [
        "hostile-headers.eml",
        "hostile-encoded.eml",
        "hostile-html.eml",
    ] {
        let raw = String::from_utf8(fixture(name)).unwrap();
        yubin.deliver(raw.replace("{REMOTE}", &host).as_bytes());
    }
    yubin.deliver(&huge_mime_tree());
    let rows = wait_rows(&b, "the hostile messages", WAIT, 4).await;

    // Markup in a subject or a name is shown as the text it is.
    let subjects: Vec<&str> = rows
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.contains(&"<img src=x onerror=\"window.pwned='enc-subject'\">"),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("<script>window.pwned='subject'")),
        "{subjects:?}"
    );
    let froms: Vec<&str> = rows.iter().map(|r| r["from"].as_str().unwrap()).collect();
    assert!(
        froms.contains(&"<script>window.pwned='enc-from'</script>"),
        "{froms:?}"
    );

    // Open every message and every view of it; click the script links in the HTML.
    for row in &rows {
        let subject = row["subject"].as_str().unwrap().to_string();
        open_message(&b, &subject).await;
        for part in ["text", "headers", "raw", "mime"] {
            show_part(&b, part).await;
            b.wait_js(
                "the part's view",
                WAIT,
                &format!(
                    "const v = document.getElementById('{}');
                     return !v.hidden && v.textContent.length > 0;",
                    match part {
                        "text" => "m-text",
                        "headers" => "m-headers",
                        "raw" => "m-raw",
                        _ => "m-mime",
                    }
                ),
            )
            .await;
        }
        let has_html = b
            .js("return !document.getElementById('pt-html').disabled;")
            .await;
        if has_html == true {
            show_part(&b, "html").await;
            b.client().enter_frame(0).await.unwrap();
            let heading = b
                .client()
                .wait()
                .at_most(WAIT)
                .for_element(Locator::Id("hostile-heading"))
                .await
                .expect("the hostile HTML rendered");
            assert_eq!(heading.text().await.unwrap(), "Hostile HTML");
            for id in ["js-link", "js-link-blank", "js-link-entity"] {
                if let Ok(link) = b.client().find(Locator::Id(id)).await {
                    let _ = link.click().await;
                }
            }
            b.client().enter_parent_frame().await.unwrap();
            b.wait_js(
                "the frame's load event",
                WAIT,
                "const f = document.getElementById('m-html');
                 return f.dataset.loaded === f.getAttribute('src');",
            )
            .await;
        }
    }

    // The huge tree is drawn up to the page's limit, and says it stopped.
    open_message(&b, "Huge MIME tree").await;
    show_part(&b, "mime").await;
    let drawn = b
        .wait_js(
            "the MIME tree",
            WAIT,
            "const t = document.getElementById('m-mime');
             return t.textContent.includes('more parts') ? t.querySelectorAll('li').length : 0;",
        )
        .await;
    assert!(drawn.as_u64().unwrap() <= 500, "{drawn} nodes drawn");

    // Keyboard still works after all this: the page is alive.
    b.client()
        .find(Locator::Id("messages"))
        .await
        .unwrap()
        .send_keys("j")
        .await
        .unwrap();

    assert_eq!(
        b.js(MARK_KEPT).await,
        true,
        "the hostile HTML navigated the page"
    );

    // Attachments and MIME parts are opened as pages of their own (the MIME tree links
    // them): the hostile HTML attachment runs nothing there either.
    open_message(
        &b,
        rows.iter()
            .find(|r| {
                r["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with("<script>window.pwned='subject'")
            })
            .unwrap()["subject"]
            .as_str()
            .unwrap(),
    )
    .await;
    let parts = b
        .js("return Array.from(document.querySelectorAll('#m-attachments a')).map(a => a.href);")
        .await;
    let parts: Vec<String> = parts
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(parts.len(), 2, "both attachments listed: {parts:?}");
    for part in &parts {
        b.client().goto(part).await.unwrap();
        b.wait_js(
            "the part loaded",
            WAIT,
            "return document.readyState === 'complete';",
        )
        .await;
        let pwned = b
            .js("return typeof window.pwned === 'undefined' ? null : String(window.pwned);")
            .await;
        assert_eq!(pwned, Value::Null, "{part} ran script");
    }
    b.client().goto(&yubin.url()).await.unwrap();
    wait_rows(&b, "the list again", WAIT, 4).await;
    b.js(MARK).await;

    let verdict = b
        .js(
            "return {
                pwned: typeof window.pwned === 'undefined' ? null : String(window.pwned),
                title: document.title,
                scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
                badLinks: Array.from(document.querySelectorAll('a[href]'))
                    .filter(a => !['http:', 'https:', 'mailto:'].includes(a.protocol))
                    .map(a => a.getAttribute('href')),
                injected: document.querySelectorAll('img[src=x], #messages script, #reader script, svg, object, embed').length,
                csp: window.__csp,
                kept: window.__kept === 'no reload',
            };",
        )
        .await;
    assert_eq!(verdict["pwned"], Value::Null, "{verdict}");
    assert!(
        !verdict["title"].as_str().unwrap().contains("pwned"),
        "{verdict}"
    );
    assert_eq!(
        verdict["scripts"],
        serde_json::json!(["/assets/app.js"]),
        "{verdict}"
    );
    assert_eq!(verdict["badLinks"], serde_json::json!([]), "{verdict}");
    assert_eq!(verdict["injected"], 0, "{verdict}");
    assert_eq!(verdict["csp"], serde_json::json!([]), "{verdict}");
    assert_eq!(
        verdict["kept"], true,
        "the hostile HTML navigated the page: {verdict}"
    );
    assert!(
        remote.hits().is_empty(),
        "hostile mail reached the remote host: {:?}",
        remote.hits()
    );

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn keyboard_moves_opens_marks_searches_and_deletes() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    for f in [
        "01-plain.eml",
        "04-multipart-alternative.eml",
        "05-attachments.eml",
    ] {
        yubin.deliver(&fixture(f));
    }
    let rows = wait_rows(&b, "three messages", WAIT, 3).await;
    let subjects: Vec<String> = rows
        .iter()
        .map(|r| r["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        subjects,
        ["Picture attached", "Alternative parts", "Plain hello"]
    );
    let list = b.client().find(Locator::Id("messages")).await.unwrap();
    // Focus the list as Tab would (a click might land on a row and open it).
    b.js("document.getElementById('messages').focus(); return true;")
        .await;

    // j moves down, k up, Enter opens the row under the cursor.
    list.send_keys("jjk").await.unwrap();
    list.send_keys(&Key::Enter.to_string()).await.unwrap();
    b.wait_js(
        "the second message open",
        WAIT,
        "return document.getElementById('m-subject').textContent === 'Alternative parts';",
    )
    .await;
    let focus = b
        .js("const a = document.activeElement; return a && a.id;")
        .await;
    assert_eq!(focus, "messages", "focus stays on the list");
    let outline = b
        .js("return getComputedStyle(document.querySelector('.row.cursor')).outlineStyle;")
        .await;
    assert_eq!(outline, "solid", "the keyboard cursor is visible");

    // u marks it unread again (opening read it), over the API.
    b.wait_js(
        "opened is read",
        WAIT,
        "return !document.querySelectorAll('#messages .row')[1].classList.contains('unread');",
    )
    .await;
    list.send_keys("u").await.unwrap();
    b.wait_js(
        "u marks unread",
        WAIT,
        "return document.querySelectorAll('#messages .row')[1].classList.contains('unread');",
    )
    .await;

    // Delete deletes the open message.
    list.send_keys(&Key::Delete.to_string()).await.unwrap();
    let rows = wait_rows(&b, "two messages after Delete", WAIT, 2).await;
    assert!(rows.iter().all(|r| r["subject"] != "Alternative parts"));
    assert_eq!(yubin.mail.messages("alice").len(), 2);

    // / focuses the search; a query with the API's syntax narrows the list.
    list.send_keys("/").await.unwrap();
    let focus = b
        .js("const a = document.activeElement; return a && a.id;")
        .await;
    assert_eq!(focus, "search");
    let search = b.client().find(Locator::Id("search")).await.unwrap();
    search
        .send_keys(&format!("has:attachment{}", Key::Enter))
        .await
        .unwrap();
    let rows = wait_rows(&b, "the search hits", WAIT, 1).await;
    assert_eq!(rows[0]["subject"], "Picture attached");

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn screenshot_of_the_inbox() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    for f in [
        "01-plain.eml",
        "04-multipart-alternative.eml",
        "05-attachments.eml",
        "03-iso-2022-jp.eml",
        "02-japanese-utf8.eml",
    ] {
        yubin.deliver(&fixture(f));
    }
    wait_rows(&b, "five messages", WAIT, 5).await;
    open_message(&b, "こんにちはサーバーさん。私はクライアントです").await;
    show_part(&b, "text").await;
    b.wait_js(
        "the text body",
        WAIT,
        "return document.getElementById('m-text').textContent.includes('サーバーです');",
    )
    .await;
    // Let the arrival highlight finish so the picture shows the resting page.
    b.wait_js(
        "animations done",
        WAIT,
        "return document.getAnimations().every(a => a.playState === 'finished');",
    )
    .await;
    let bg = b
        .js("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert!(luminance(&bg) > 0.8, "the light theme: {bg}");
    // A 1280×800 page whatever the browser's own frame takes.
    let frame = b.js("return outerHeight - innerHeight;").await;
    let frame = frame.as_u64().unwrap_or(0) as u32;
    b.client().set_window_size(1280, 800 + frame).await.unwrap();
    b.wait_js("the resize", WAIT, "return innerHeight === 800;")
        .await;
    let png = b.client().screenshot().await.expect("screenshot");
    assert_eq!(
        b.js(CSP_VIOLATIONS).await,
        serde_json::json!([]),
        "the page broke its own CSP"
    );
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/web-inbox.png");
        std::fs::write(&path, &png).expect("write docs/web-inbox.png");
        eprintln!("wrote {}", path.display());
    }

    b.close().await;
    yubin.stop().await;
}

/// The relative luminance (0 black … 1 white) of a CSS `rgb(r, g, b)` colour.
fn luminance(css: &Value) -> f64 {
    let s = css.as_str().unwrap_or_default();
    let n: Vec<f64> = s
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    assert!(n.len() >= 3, "not a colour: {s}");
    (0.2126 * n[0] + 0.7152 * n[1] + 0.0722 * n[2]) / 255.0
}

#[tokio::test]
async fn a_phone_in_dark_mode_gets_one_pane_at_a_time_in_dark_colours() {
    let Some(b) = Browser::start_with(&["--window-size=420,860", "--force-dark-mode"]).await else {
        return;
    };
    let yubin = Yubin::start().await;
    yubin.deliver(&fixture("02-japanese-utf8.eml"));
    b.client().goto(&yubin.url()).await.unwrap();
    wait_rows(&b, "the message", WAIT, 1).await;

    let bg = b
        .js("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert!(
        luminance(&bg) < 0.2,
        "prefers-color-scheme: dark gives a dark page: {bg}"
    );
    let ink = b.js("return getComputedStyle(document.body).color;").await;
    assert!(luminance(&ink) > 0.8, "and light text: {ink}");

    let layout = "return {
        width: innerWidth,
        overflow: document.documentElement.scrollWidth - innerWidth,
        list: document.querySelector('.list-pane').offsetParent !== null,
        listWidth: document.querySelector('.list-pane').getBoundingClientRect().width,
        reader: document.getElementById('reader').offsetParent !== null,
        back: document.getElementById('back').offsetParent !== null,
    };";
    let l = b.js(layout).await;
    assert_eq!(l["overflow"], 0, "nothing wider than the phone: {l}");
    assert_eq!(l["list"], true, "{l}");
    assert!(
        l["listWidth"].as_f64().unwrap() >= l["width"].as_f64().unwrap() - 1.0,
        "the list takes the whole width: {l}"
    );

    open_message(&b, "こんにちはサーバーさん。私はクライアントです").await;
    let l = b.js(layout).await;
    assert_eq!(
        (l["list"].clone(), l["reader"].clone(), l["back"].clone()),
        (Value::Bool(false), Value::Bool(true), Value::Bool(true)),
        "the message replaces the list, with a way back: {l}"
    );
    assert_eq!(l["overflow"], 0, "nothing wider than the phone: {l}");
    b.client()
        .find(Locator::Id("back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_js(
        "the list again",
        WAIT,
        "return document.querySelector('.list-pane').offsetParent !== null
            && document.getElementById('reader').offsetParent === null;",
    )
    .await;

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn sessions_view_shows_protocol_lines_as_they_happen_with_passwords_masked() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    b.client()
        .find(Locator::Id("tab-sessions"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_js(
        "the sessions view",
        WAIT,
        "return !document.getElementById('sessions').hidden && location.hash === '#sessions';",
    )
    .await;

    let mut pop = Lines::connect(yubin.mail.pop_addr()).await;
    assert!(pop.line().await.starts_with("+OK"));
    for cmd in ["USER alice", "PASS secret", "STAT"] {
        pop.cmd(cmd).await;
        assert!(pop.line().await.starts_with("+OK"), "{cmd}");
    }

    // Each line shows up while the session is still open.
    let lines = b
        .wait_js(
            "the POP3 lines in the sessions view",
            WAIT,
            "const lines = Array.from(document.querySelectorAll('#transcript li')).map(li => ({
                 proto: li.querySelector('.t-proto').textContent,
                 dir: li.querySelector('.dir').textContent,
                 text: li.querySelector('.t-line').textContent,
             }));
             return lines.some(l => l.dir === 'C:' && l.text === 'STAT') ? lines : null;",
        )
        .await;
    let lines = lines.as_array().unwrap();
    let shown: Vec<String> = lines
        .iter()
        .map(|l| format!("{} {} {}", l["proto"], l["dir"], l["text"]).replace('"', ""))
        .collect();
    assert!(
        shown.iter().any(|l| l == "POP3 C: USER alice"),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|l| l.starts_with("POP3 S: +OK")),
        "{shown:#?}"
    );
    assert!(
        shown.iter().any(|l| l.starts_with("POP3 C: PASS")),
        "the PASS line is shown: {shown:#?}"
    );
    assert!(
        !shown.iter().any(|l| l.contains("secret")),
        "the password is masked: {shown:#?}"
    );
    pop.cmd("QUIT").await;
    pop.line().await;

    // A page opened later gets the earlier sessions from the list.
    b.client().refresh().await.unwrap();
    b.wait_js(
        "the listed sessions after a reload",
        WAIT,
        "return Array.from(document.querySelectorAll('#transcript .t-line'))
            .some(l => l.textContent === 'USER alice');",
    )
    .await;

    b.close().await;
    yubin.stop().await;
}

/// Clicks the sidebar's mailbox `mailbox` of `account` (`""`: all inboxes together).
async fn choose_mailbox(b: &Browser, account: &str, mailbox: &str) {
    let (account, mailbox) = (
        serde_json::to_string(account).unwrap(),
        serde_json::to_string(mailbox).unwrap(),
    );
    b.wait_js(
        "the mailbox in the sidebar",
        WAIT,
        &format!(
            "const m = Array.from(document.querySelectorAll('#accounts .mailbox'))
                .find(m => m.dataset.account === {account} && m.dataset.mailbox === {mailbox});
             if (!m) return false; m.click(); return m.getAttribute('aria-current') === 'true';"
        ),
    )
    .await;
}

#[tokio::test]
async fn accounts_and_mailboxes_scope_the_list_and_follow_imap() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let mail = yubin_testing::MailServer::builder()
        .user("bob", "hunter2")
        .start()
        .await
        .expect("servers");
    mail.deliver("alice", &fixture("01-plain.eml")).unwrap();
    mail.deliver("bob", &fixture("05-attachments.eml")).unwrap();
    b.client()
        .goto(&format!("{}/", mail.http_url()))
        .await
        .unwrap();

    // All inboxes together, each row saying whose it is.
    let rows = wait_rows(&b, "both accounts' mail", WAIT, 2).await;
    let metas: Vec<&str> = rows.iter().map(|r| r["meta"].as_str().unwrap()).collect();
    assert!(
        metas[0].contains("bob") && metas[1].contains("alice"),
        "{metas:?}"
    );

    choose_mailbox(&b, "bob", "INBOX").await;
    let rows = wait_rows(&b, "bob's inbox alone", WAIT, 1).await;
    assert_eq!(rows[0]["subject"], "Picture attached");

    // alice files her message away over IMAP: her inbox empties, the new mailbox shows
    // up in the sidebar, and holds it.
    choose_mailbox(&b, "alice", "INBOX").await;
    wait_rows(&b, "alice's inbox", WAIT, 1).await;
    let mut imap = Lines::connect(mail.imap_addr()).await;
    imap.line().await;
    for (tag, cmd) in [
        ("a", "LOGIN alice secret"),
        ("b", "CREATE Archive/2026"),
        ("c", "SELECT INBOX"),
        ("d", "MOVE 1 Archive/2026"),
    ] {
        imap.cmd(&format!("{tag} {cmd}")).await;
        let done = imap.until(|l| l.starts_with(&format!("{tag} "))).await;
        assert!(done.starts_with(&format!("{tag} OK")), "{cmd}: {done}");
    }
    wait_rows(&b, "alice's inbox empty after MOVE", WAIT, 0).await;
    choose_mailbox(&b, "alice", "Archive/2026").await;
    let rows = wait_rows(&b, "the moved message in Archive/2026", WAIT, 1).await;
    assert_eq!(rows[0]["subject"], "Plain hello");
    let title = b
        .js("return document.getElementById('list-title').textContent;")
        .await;
    assert_eq!(title, "alice · Archive/2026");

    b.close().await;
    tokio::time::timeout(support::STEP, mail.stop())
        .await
        .expect("servers stop");
}

#[tokio::test]
async fn a_long_mailbox_is_shown_a_page_at_a_time() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    for i in 1..=55 {
        let raw = format!(
            "From: bulk@example.com\r\nTo: alice@localhost\r\nSubject: Bulk {i}\r\n\r\nbody {i}\r\n"
        );
        yubin.deliver(raw.as_bytes());
    }
    let rows = wait_rows(&b, "the first page", WAIT, 50).await;
    assert_eq!(rows[0]["subject"], "Bulk 55", "newest first");
    b.wait_js(
        "the count and the more button",
        WAIT,
        "return document.getElementById('list-count').textContent === '55 messages, 55 unread'
            && !document.getElementById('more').hidden;",
    )
    .await;
    b.client()
        .find(Locator::Id("more"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let rows = wait_rows(&b, "all of them", WAIT, 55).await;
    assert_eq!(rows[54]["subject"], "Bulk 1");
    b.wait_js(
        "no more button",
        WAIT,
        "return document.getElementById('more').hidden;",
    )
    .await;

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn the_reader_shows_headers_raw_source_mime_tree_and_attachments() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    yubin.deliver(&fixture("05-attachments.eml"));
    wait_rows(&b, "the message", WAIT, 1).await;
    open_message(&b, "Picture attached").await;

    let chips = b
        .wait_js(
            "the attachments",
            WAIT,
            "const a = Array.from(document.querySelectorAll('#m-attachments a'));
             return a.length === 2 ? a.map(a => ({
                 name: a.querySelector('.name').textContent,
                 download: a.getAttribute('download'),
                 href: a.getAttribute('href'),
                 thumb: !!a.querySelector('img.thumb'),
             })) : null;",
        )
        .await;
    assert_eq!(chips[0]["name"], "picture.png");
    assert_eq!(chips[0]["download"], "picture.png");
    assert_eq!(chips[0]["thumb"], true, "an image gets a thumbnail");
    assert_eq!(chips[1]["name"], "notes.txt");
    assert_eq!(chips[1]["thumb"], false);

    // The attachment links give the attachments' bytes.
    let notes = b
        .js(&format!(
            "return fetch({}).then(r => r.text());",
            serde_json::to_string(&chips[1]["href"]).unwrap()
        ))
        .await;
    assert_eq!(notes, "line one\nline two\n");

    show_part(&b, "headers").await;
    b.wait_js(
        "the headers",
        WAIT,
        "return Array.from(document.querySelectorAll('#m-headers tr'))
            .some(tr => tr.querySelector('th').textContent === 'Subject'
                && tr.querySelector('td').textContent === 'Picture attached');",
    )
    .await;

    show_part(&b, "raw").await;
    b.wait_js(
        "the raw source",
        WAIT,
        "return document.getElementById('m-raw').textContent
            .includes('Content-Disposition: attachment; filename=\"picture.png\"');",
    )
    .await;

    // The MIME tree numbers parts as the API does (RFC 3501 §6.4.5): each leaf's link is
    // that part.
    show_part(&b, "mime").await;
    let tree = b
        .wait_js(
            "the MIME tree",
            WAIT,
            "const li = Array.from(document.querySelectorAll('#m-mime li'));
             return li.length === 4 ? li.map(l => (l.dataset.part || 'top') + ' '
                 + l.querySelector('.ctype').textContent) : null;",
        )
        .await;
    assert_eq!(
        tree,
        serde_json::json!([
            "top multipart/mixed",
            "1 text/plain",
            "2 image/png",
            "3 text/plain"
        ])
    );
    let types = b
        .js(
            "return Promise.all(Array.from(document.querySelectorAll('#m-mime a.ctype'))
                .map(a => fetch(a.href).then(r => r.status + ' ' + r.headers.get('content-type').split(';')[0])));",
        )
        .await;
    assert_eq!(
        types,
        serde_json::json!(["200 text/plain", "200 image/png", "200 text/plain"])
    );

    b.close().await;
    yubin.stop().await;
}

#[tokio::test]
async fn a_flood_of_session_lines_is_counted_and_can_be_listed() {
    let Some((yubin, b)) = open().await else {
        return;
    };
    b.client()
        .goto(&format!("{}#sessions", yubin.url()))
        .await
        .unwrap();
    b.wait_js(
        "the sessions view, live",
        WAIT,
        "return !document.getElementById('sessions').hidden
            && document.getElementById('live').dataset.state === 'live';",
    )
    .await;

    // 400 pipelined NOOPs are 800 lines at once: more than the server streams a second.
    const NOOPS: usize = 400;
    let mut pop = Lines::connect(yubin.mail.pop_addr()).await;
    assert!(pop.line().await.starts_with("+OK"));
    pop.cmd("USER alice").await;
    pop.line().await;
    pop.cmd("PASS secret").await;
    assert!(pop.line().await.starts_with("+OK"));
    pop.send("NOOP\r\n".repeat(NOOPS).as_bytes()).await;
    for _ in 0..NOOPS {
        assert!(pop.line().await.starts_with("+OK"));
    }

    let shown = b
        .wait_js(
            "the note about lines not shown live",
            WAIT,
            "const n = document.querySelector('#transcript li.missed');
             return n ? document.querySelectorAll('#transcript li:not(.missed)').length : 0;",
        )
        .await;
    let shown = shown.as_u64().unwrap();
    assert!(
        shown < 2 * NOOPS as u64,
        "fewer than every line came live: {shown}"
    );

    // "Show them" lists the session as the server keeps it (its latest lines).
    b.js("document.querySelector('#transcript li.missed button').click(); return true;")
        .await;
    let listed = b
        .wait_js(
            "the listed lines",
            WAIT,
            "return document.querySelector('#transcript li.missed') ? 0
                : document.querySelectorAll('#transcript li').length;",
        )
        .await;
    assert!(
        listed.as_u64().unwrap() > shown.min(150),
        "{listed} listed, {shown} live"
    );
    pop.cmd("QUIT").await;

    b.close().await;
    yubin.stop().await;
}
