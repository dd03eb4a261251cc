//! `GET /api/v1/info`, `GET /api/v1/webui`, yubin's `GET /api/v1/accounts`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;
use yubin_store::Flag;

use super::blocking;
use crate::error::ApiResult;
use crate::scope::{self, ScopeQuery};
use crate::state::WebState;
use crate::tag;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RuntimeStats {
    /// Seconds since this server started.
    uptime: u64,
    /// The process's resident memory in bytes (Linux: `VmRSS`; 0 where it cannot be
    /// read).
    memory: u64,
    /// Messages deleted through this API.
    messages_deleted: u64,
    /// Messages the SMTP server delivered since it started.
    #[serde(rename = "SMTPAccepted")]
    smtp_accepted: u64,
    /// Their size in octets.
    #[serde(rename = "SMTPAcceptedSize")]
    smtp_accepted_size: u64,
    /// Recipients and messages the SMTP server refused.
    #[serde(rename = "SMTPRejected")]
    smtp_rejected: u64,
    /// Messages Mailpit ignores on purpose (its `--smtp-ignore-duplicate-ids`, for one);
    /// yubin ignores none, so this is always 0.
    #[serde(rename = "SMTPIgnored")]
    smtp_ignored: u64,
}

/// The resident set size of this process, from `/proc/self/status` (`VmRSS:  1234 kB`).
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Mailpit's `AppInformation`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Info {
    version: String,
    latest_version: String,
    database: String,
    database_size: u64,
    messages: u64,
    unread: u64,
    tags: BTreeMap<String, u64>,
    runtime_stats: RuntimeStats,
}

/// `GET /livez` and `GET /readyz` (Mailpit's health checks): the server answers, and
/// the store is open before the first request can arrive, so both are plain `ok`.
pub(crate) async fn alive() -> axum::response::Response {
    super::ok()
}

/// `GET /api/v1/info`: the scope's counts (every account's INBOX by default).
pub(crate) async fn info(
    State(state): State<WebState>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Info>> {
    let st = state.clone();
    let (messages, unread, size, tags) = blocking(move || {
        let opened = scope::open(st.store(), &q)?;
        let (mut messages, mut unread, mut size) = (0u64, 0u64, 0u64);
        let mut tags: BTreeMap<String, u64> = BTreeMap::new();
        for o in &opened {
            let s = o.view.status();
            messages += u64::from(s.messages);
            unread += u64::from(s.unseen);
            size += s.size;
            for m in o.view.iter() {
                for f in &m.flags {
                    if let Flag::Keyword(k) = f {
                        *tags.entry(tag::tag(k)).or_default() += 1;
                    }
                }
            }
        }
        Ok((messages, unread, size, tags))
    })
    .await?;
    let database = match state.store().root() {
        Some(root) => root.display().to_string(),
        None => "memory".to_owned(),
    };
    Ok(Json(Info {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        // yubin never asks the network for a newer version: Mailpit says "disabled"
        // when its version check is off.
        latest_version: "disabled".to_owned(),
        database,
        database_size: size,
        messages,
        unread,
        tags,
        runtime_stats: {
            let smtp = state
                .config()
                .smtp_stats
                .as_ref()
                .map(|s| s.counts())
                .unwrap_or_default();
            RuntimeStats {
                uptime: state.shared.started.elapsed().as_secs(),
                memory: resident_bytes(),
                messages_deleted: state.shared.deleted.load(Ordering::Relaxed),
                smtp_accepted: smtp.accepted,
                smtp_accepted_size: smtp.accepted_size,
                smtp_rejected: smtp.rejected,
                smtp_ignored: 0,
            }
        },
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MessageRelay {
    enabled: bool,
    #[serde(rename = "SMTPServer")]
    smtp_server: String,
    return_path: String,
    allowed_recipients: String,
    blocked_recipients: String,
    override_from: String,
    #[serde(rename = "PreserveMessageIDs")]
    preserve_message_ids: bool,
}

/// Mailpit's `WebUIConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WebUi {
    label: String,
    message_relay: MessageRelay,
    spam_assassin: bool,
    chaos_enabled: bool,
    duplicates_ignored: bool,
    hide_delete_all_button: bool,
}

/// `GET /api/v1/webui`.
pub(crate) async fn webui(State(state): State<WebState>) -> Json<WebUi> {
    let c = state.config();
    Json(WebUi {
        label: c.label.clone(),
        message_relay: MessageRelay {
            enabled: c.relay.is_some(),
            smtp_server: c.relay.as_ref().map(|r| r.to_string()).unwrap_or_default(),
            return_path: String::new(),
            allowed_recipients: String::new(),
            blocked_recipients: String::new(),
            override_from: String::new(),
            preserve_message_ids: false,
        },
        // No SpamAssassin, and the store keeps duplicates (a Message-ID is no key).
        spam_assassin: false,
        chaos_enabled: c.chaos.is_allowed(),
        duplicates_ignored: false,
        hide_delete_all_button: false,
    })
}

/// One mailbox in `GET /api/v1/accounts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MailboxCounts {
    name: String,
    special_use: Option<&'static str>,
    total: u32,
    unread: u32,
}

/// One account in `GET /api/v1/accounts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccountCounts {
    name: String,
    mailboxes: Vec<MailboxCounts>,
}

/// `GET /api/v1/accounts` (yubin): every account and its mailboxes with counts.
pub(crate) async fn accounts(State(state): State<WebState>) -> ApiResult<Json<Vec<AccountCounts>>> {
    let out = blocking(move || {
        let store = state.store();
        let mut out = Vec::new();
        for name in store.account_names() {
            let account = store.account(&name)?;
            let mut mailboxes = Vec::new();
            for info in account.list()? {
                if !info.selectable {
                    continue;
                }
                let Ok(status) = account.mailbox(&info.name).and_then(|m| m.status()) else {
                    // Deleted meanwhile.
                    continue;
                };
                mailboxes.push(MailboxCounts {
                    name: info.name,
                    special_use: info.special_use.map(|u| u.attribute()),
                    total: status.messages,
                    unread: status.unseen,
                });
            }
            out.push(AccountCounts { name, mailboxes });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}
