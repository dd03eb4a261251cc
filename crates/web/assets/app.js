// yubin web inbox: plain JavaScript, no framework, no build step.
//
// Safety rule of this file: message data (subjects, addresses, headers, bodies, file names,
// transcript lines) is only ever put into the page with textContent, setAttribute on a
// non-script attribute, or as the src of the sandboxed iframe. Never innerHTML. Links made
// from message text are created only for http:, https: and mailto: URLs, so a
// `javascript:` link cannot be produced. The message's own HTML is shown by the server at
// /view/{ID}.html inside <iframe sandbox> (no allow-scripts) under a CSP of its own.
"use strict";

(() => {
  // ---------- limits (named, so a hostile message cannot make the page do unbounded work) ----------
  /** Messages fetched per page of the list. */
  const PAGE = 50;
  /** Transcript lines kept in the sessions view; the oldest go first. */
  const MAX_TRANSCRIPT_LINES = 3000;
  /** MIME tree: deepest nesting shown, and most parts shown (a hostile message may have thousands). */
  const MIME_MAX_DEPTH = 24;
  const MIME_MAX_PARTS = 400;
  /** Raw source longer than this is cut in the Raw tab (the whole of it stays downloadable). */
  const RAW_MAX_CHARS = 2 * 1024 * 1024;
  /** Text bodies longer than this are shown without link detection. */
  const LINKIFY_MAX_CHARS = 200 * 1024;

  // ---------- small helpers ----------
  const $ = (id) => document.getElementById(id);

  /** An element with a class and, optionally, text (always textContent). */
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function request(method, url, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    if (!res.ok) {
      let message = res.status + " " + res.statusText;
      try {
        const j = await res.json();
        if (j && j.Error) message = j.Error;
      } catch (_) { /* not JSON */ }
      throw new HttpError(res.status, message);
    }
    return res;
  }
  const getJSON = async (url) => (await request("GET", url)).json();
  const getText = async (url) => (await request("GET", url)).text();

  const enc = encodeURIComponent;

  function humanSize(n) {
    if (typeof n !== "number" || !isFinite(n)) return "";
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  const yearFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

  function shortDate(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return timeFmt.format(d);
    if (d.getFullYear() === now.getFullYear()) return dayFmt.format(d);
    return yearFmt.format(d);
  }
  function longDate(iso) {
    const d = new Date(iso);
    return isNaN(d) ? String(iso || "") : fullFmt.format(d);
  }

  function addressText(a) {
    if (!a) return "";
    if (a.Name && a.Address) return a.Name + " <" + a.Address + ">";
    return a.Name || a.Address || "";
  }

  /** Fills `node` with addresses: the name, then the address in a muted span. */
  function fillAddresses(node, list) {
    clear(node);
    const items = (Array.isArray(list) ? list : [list]).filter(Boolean);
    items.forEach((a, i) => {
      if (i > 0) node.appendChild(document.createTextNode(", "));
      if (a.Name) {
        node.appendChild(document.createTextNode(a.Name + " "));
        node.appendChild(el("span", "addr-mail", "<" + (a.Address || "") + ">"));
      } else {
        node.appendChild(document.createTextNode(a.Address || ""));
      }
    });
    return items.length;
  }

  let toastTimer = 0;
  function toast(message) {
    const t = $("toast");
    t.textContent = message;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 3500);
  }

  /** Runs `fn` once, `ms` after the last call (bursts of events cost one reload). */
  function debounce(fn, ms) {
    let timer = 0;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // ---------- state ----------
  const state = {
    accounts: [],
    /** null: every account together (the API's default scope). */
    account: null,
    mailbox: "INBOX",
    query: "",
    messages: [],
    total: 0,
    unread: 0,
    matched: 0,
    limit: PAGE,
    /** The ID the keyboard cursor is on. */
    cursor: null,
    /** The message open in the reader, as GET message/{ID} gave it. */
    open: null,
    part: "html",
    remote: false,
    raw: null,
    view: "mail",
  };

  function scopeParams() {
    const p = new URLSearchParams();
    if (state.account !== null) p.set("account", state.account);
    if (state.mailbox && state.mailbox !== "INBOX") p.set("mailbox", state.mailbox);
    return p;
  }

  // ---------- accounts and mailboxes ----------
  async function loadAccounts() {
    try {
      state.accounts = await getJSON("/api/v1/accounts");
    } catch (_) {
      state.accounts = [];
    }
    renderAccounts();
    // Rows name their account once there are several: redraw them with what is known now.
    renderList();
  }

  function mailboxButton(label, account, mailbox, unread, total) {
    const li = el("li");
    const b = el("button", "mailbox");
    b.type = "button";
    b.dataset.account = account === null ? "" : account;
    b.dataset.mailbox = mailbox;
    b.appendChild(el("span", "mailbox-name", label));
    const badge = el("span", "badge", unread > 0 ? unread : "");
    b.appendChild(badge);
    b.title = total === undefined ? mailbox : mailbox + ": " + total + " messages, " + unread + " unread";
    const current = state.account === account && state.mailbox === mailbox;
    b.setAttribute("aria-current", current ? "true" : "false");
    b.addEventListener("click", () => selectScope(account, mailbox));
    li.appendChild(b);
    return li;
  }

  function renderAccounts() {
    const root = $("accounts");
    // The sidebar is redrawn as counts change: a keyboard user's focus stays on its button.
    const focused = root.contains(document.activeElement) && document.activeElement.dataset
      ? [document.activeElement.dataset.account, document.activeElement.dataset.mailbox]
      : null;
    clear(root);
    const all = el("div", "account");
    const allList = el("ul", "mailboxes");
    let allUnread = 0;
    for (const a of state.accounts) {
      const inbox = (a.Mailboxes || []).find((m) => m.Name === "INBOX");
      if (inbox) allUnread += inbox.Unread || 0;
    }
    allList.appendChild(mailboxButton("All inboxes", null, "INBOX", allUnread));
    all.appendChild(allList);
    root.appendChild(all);
    for (const a of state.accounts) {
      const box = el("div", "account");
      box.appendChild(el("div", "account-name", a.Name));
      const ul = el("ul", "mailboxes");
      for (const m of a.Mailboxes || []) {
        // Hierarchy (delimiter "/") is shown by indenting the last name.
        const path = m.Name.split("/");
        const label = m.Name === "INBOX" ? "Inbox" : path[path.length - 1];
        const li = mailboxButton(label, a.Name, m.Name, m.Unread || 0, m.Total || 0);
        li.firstChild.dataset.depth = String(Math.min(path.length - 1, 4));
        ul.appendChild(li);
      }
      box.appendChild(ul);
      root.appendChild(box);
    }
    if (focused) {
      for (const b of root.querySelectorAll(".mailbox")) {
        if (b.dataset.account === focused[0] && b.dataset.mailbox === focused[1]) b.focus();
      }
    }
  }
  const refreshAccounts = debounce(loadAccounts, 300);

  function scopeTitle() {
    const box = state.mailbox === "INBOX" ? "Inbox" : state.mailbox;
    if (state.account === null) return state.mailbox === "INBOX" ? "All inboxes" : box;
    return state.account + " · " + box;
  }

  function selectScope(account, mailbox) {
    if (state.account === account && state.mailbox === mailbox) return;
    state.account = account;
    state.mailbox = mailbox;
    state.limit = PAGE;
    state.cursor = null;
    closeReader();
    renderAccounts();
    connectEvents();
    loadMessages();
  }

  // ---------- the message list ----------
  let listGeneration = 0;

  async function loadMessages() {
    const generation = ++listGeneration;
    const p = scopeParams();
    p.set("limit", String(state.limit));
    let url = "/api/v1/messages?";
    if (state.query) {
      p.set("query", state.query);
      url = "/api/v1/search?";
    }
    try {
      const data = await getJSON(url + p.toString());
      if (generation !== listGeneration) return; // a newer request answers instead
      state.messages = Array.isArray(data.messages) ? data.messages : [];
      state.total = data.total || 0;
      state.unread = data.unread || 0;
      state.matched = data.messages_count || 0;
      $("list-error").hidden = true;
      renderList();
    } catch (e) {
      if (generation !== listGeneration) return;
      const err = $("list-error");
      err.textContent = state.query ? "Search failed: " + e.message : "Could not load messages: " + e.message;
      err.hidden = false;
    }
  }
  const reloadMessages = debounce(loadMessages, 120);

  /** One row per ID, kept across renders so focus and animation survive live updates. */
  const rows = new Map();

  function rowId(id) {
    return "row-" + id;
  }

  function fillRow(li, m) {
    clear(li);
    li.classList.toggle("unread", !m.Read);
    li.setAttribute("aria-selected", state.open && state.open.ID === m.ID ? "true" : "false");
    li.appendChild(el("span", "dot"));
    const fromName = m.From ? (m.From.Name || m.From.Address) : "";
    const from = el("span", "from", fromName || "(no sender)");
    if (m.From) from.title = addressText(m.From);
    li.appendChild(from);
    const date = el("time", "date", shortDate(m.Created));
    date.setAttribute("datetime", m.Created || "");
    li.appendChild(date);
    const subject = el("span", "subject", m.Subject || "(no subject)");
    li.appendChild(subject);
    const meta = el("span", "meta");
    const bits = [];
    if (m.Attachments > 0) bits.push("📎 " + m.Attachments);
    // Which account it is for matters only when several are listed together.
    if (state.account === null && m.Account && state.accounts.length > 1) bits.push(m.Account);
    for (const t of m.Tags || []) bits.push("#" + t);
    meta.textContent = bits.join("  ");
    if (m.Attachments > 0) meta.title = m.Attachments + (m.Attachments === 1 ? " attachment" : " attachments");
    li.appendChild(meta);
    li.appendChild(el("span", "snippet", m.Snippet || ""));
    const label = [
      m.Read ? "" : "unread,",
      fromName || "no sender",
      "—",
      m.Subject || "no subject",
      m.Attachments > 0 ? ", with attachments" : "",
    ].join(" ");
    li.setAttribute("aria-label", label);
  }

  function makeRow(m) {
    const li = el("li", "row");
    li.id = rowId(m.ID);
    li.dataset.id = m.ID;
    li.setAttribute("role", "option");
    li.addEventListener("click", () => {
      setCursor(li.dataset.id);
      openMessage(li.dataset.id);
    });
    return li;
  }

  function renderList() {
    const ul = $("messages");
    const seen = new Set();
    let previous = null;
    for (const m of state.messages) {
      seen.add(m.ID);
      let li = rows.get(m.ID);
      if (!li) {
        li = makeRow(m);
        rows.set(m.ID, li);
        if (m._fresh) li.classList.add("fresh");
      }
      fillRow(li, m);
      const expected = previous ? previous.nextSibling : ul.firstChild;
      if (expected !== li) ul.insertBefore(li, expected);
      previous = li;
    }
    for (const [id, li] of rows) {
      if (!seen.has(id)) {
        li.remove();
        rows.delete(id);
      }
    }
    if (state.cursor && !rows.has(state.cursor)) state.cursor = null;
    if (!state.cursor && state.messages.length) state.cursor = state.messages[0].ID;
    markCursor();

    $("list-title").textContent = state.query ? "Search: " + state.query : scopeTitle();
    const count = state.query
      ? state.matched + (state.matched === 1 ? " match" : " matches")
      : state.total + (state.total === 1 ? " message" : " messages") + (state.unread ? ", " + state.unread + " unread" : "");
    $("list-count").textContent = count;
    $("empty").hidden = state.messages.length > 0;
    $("empty").textContent = state.query
      ? "Nothing matches this search."
      : "No messages here yet. Mail sent over SMTP appears here at once.";
    $("more").hidden = state.messages.length >= (state.query ? state.matched : state.total);
    document.title = state.unread > 0 ? "(" + state.unread + ") yubin" : "yubin";
  }

  function markCursor() {
    const ul = $("messages");
    for (const [id, li] of rows) li.classList.toggle("cursor", id === state.cursor);
    if (state.cursor) ul.setAttribute("aria-activedescendant", rowId(state.cursor));
    else ul.removeAttribute("aria-activedescendant");
  }

  function setCursor(id, scroll) {
    state.cursor = id;
    markCursor();
    if (scroll && id && rows.has(id)) rows.get(id).scrollIntoView({ block: "nearest" });
  }

  function moveCursor(delta) {
    if (!state.messages.length) return;
    let i = state.messages.findIndex((m) => m.ID === state.cursor);
    i = i < 0 ? 0 : Math.min(state.messages.length - 1, Math.max(0, i + delta));
    setCursor(state.messages[i].ID, true);
  }

  function summary(id) {
    return state.messages.find((m) => m.ID === id);
  }

  // ---------- live updates ----------
  let events = null;

  function connectEvents() {
    if (events) events.close();
    const p = scopeParams();
    const live = $("live");
    live.dataset.state = "connecting";
    live.textContent = "connecting…";
    events = new EventSource("/api/v1/events" + (p.toString() ? "?" + p.toString() : ""));
    events.onopen = () => {
      live.dataset.state = "live";
      live.textContent = "live";
      // Mail that arrived after the first listing but before the stream was open (or
      // while it was down) sent no event to this page: catch up once it is open.
      loadMessages();
      loadAccounts();
    };
    events.onerror = () => {
      live.dataset.state = "offline";
      live.textContent = "reconnecting…";
    };
    events.addEventListener("new", (e) => onNew(parse(e)));
    events.addEventListener("update", (e) => onUpdate(parse(e)));
    events.addEventListener("delete", (e) => onDelete(parse(e)));
    events.addEventListener("stats", (e) => onStats(parse(e)));
    events.addEventListener("reset", () => {
      loadMessages();
      loadAccounts();
    });
    events.addEventListener("session", (e) => onSession(parse(e)));
    events.addEventListener("session-missed", (e) => onSessionMissed(parse(e)));
  }

  function parse(e) {
    try {
      return JSON.parse(e.data);
    } catch (_) {
      return null;
    }
  }

  function onNew(m) {
    if (!m || !m.ID) return;
    refreshAccounts();
    // A search decides on the server which messages match: ask it again.
    if (state.query) return reloadMessages();
    if (summary(m.ID)) return;
    m._fresh = true;
    state.messages.unshift(m);
    if (state.messages.length > state.limit) state.messages.length = state.limit;
    state.total += 1;
    if (!m.Read) state.unread += 1;
    renderList();
  }

  function onUpdate(u) {
    if (!u || !u.ID) return;
    refreshAccounts();
    const m = summary(u.ID);
    if (m) {
      if (typeof u.Read === "boolean" && u.Read !== m.Read) {
        state.unread += u.Read ? -1 : 1;
        m.Read = u.Read;
      }
      if (Array.isArray(u.Tags)) m.Tags = u.Tags;
      renderList();
    }
    if (state.open && state.open.ID === u.ID && typeof u.Read === "boolean") {
      state.open.Read = u.Read;
      renderReadButton();
    }
    if (state.query) reloadMessages();
  }

  function onDelete(d) {
    if (!d || !d.ID) return;
    refreshAccounts();
    removeLocally(d.ID);
    if (state.open && state.open.ID === d.ID) {
      closeReader();
      toast("The open message was removed (by POP3, IMAP or another page).");
    }
    // The page may now have room for one more from the server.
    reloadMessages();
  }

  function removeLocally(id) {
    const i = state.messages.findIndex((m) => m.ID === id);
    if (i < 0) return;
    const [m] = state.messages.splice(i, 1);
    state.total = Math.max(0, state.total - 1);
    if (!m.Read) state.unread = Math.max(0, state.unread - 1);
    if (state.cursor === id) {
      const next = state.messages[Math.min(i, state.messages.length - 1)];
      state.cursor = next ? next.ID : null;
    }
    renderList();
  }

  function onStats(s) {
    if (!s) return;
    if (!state.query) {
      if (typeof s.Total === "number") state.total = s.Total;
      if (typeof s.Unread === "number") state.unread = s.Unread;
      renderList();
    }
  }

  // ---------- the reader ----------
  let openGeneration = 0;

  async function openMessage(id) {
    const generation = ++openGeneration;
    let m;
    try {
      m = await getJSON("/api/v1/message/" + enc(id));
    } catch (e) {
      if (e.status === 404) {
        removeLocally(id);
        toast("That message is gone.");
      } else {
        toast("Could not open the message: " + e.message);
      }
      return;
    }
    if (generation !== openGeneration) return;
    state.open = m;
    state.raw = null;
    state.remote = false;
    for (const [rid, li] of rows) li.setAttribute("aria-selected", rid === id ? "true" : "false");

    $("m-subject").textContent = m.Subject || "(no subject)";
    fillAddresses($("m-from"), m.From ? [m.From] : []);
    fillAddresses($("m-to"), m.To || []);
    const cc = fillAddresses($("m-cc"), m.Cc || []);
    for (const n of document.querySelectorAll(".m-cc")) n.hidden = cc === 0;
    $("m-date").textContent = longDate(m.Date);
    renderAttachments(m);
    renderReadButton();
    $("download").href = "/api/v1/message/" + enc(m.ID) + "/raw";

    $("pt-html").disabled = !m.HTML;
    state.part = m.HTML ? "html" : "text";
    showPart(state.part);

    $("reader").hidden = false;
    $("placeholder").hidden = true;
    document.body.dataset.pane = "reader";
    $("reader").scrollTop = 0;

    // Opening a message reads it, as in any mail client: the server marks it \Seen when
    // it is fetched (as Mailpit does); the row follows at once, not only when the
    // stream's update arrives.
    const row = summary(id);
    if (row && !row.Read) onUpdate({ ID: id, Read: true });
    if (!m.Read) setRead([id], true);
  }

  function closeReader() {
    openGeneration++;
    state.open = null;
    state.raw = null;
    $("reader").hidden = true;
    $("placeholder").hidden = false;
    $("m-html").removeAttribute("src");
    document.body.dataset.pane = "list";
    for (const li of rows.values()) li.setAttribute("aria-selected", "false");
  }

  function renderReadButton() {
    const b = $("toggle-read");
    b.textContent = state.open && state.open.Read ? "Mark unread" : "Mark read";
  }

  function partUrl(m, a) {
    return "/api/v1/message/" + enc(m.ID) + "/part/" + enc(a.PartID);
  }

  function renderAttachments(m) {
    const ul = $("m-attachments");
    clear(ul);
    const all = (m.Attachments || []).concat(m.Inline || []);
    for (const a of all) {
      const li = el("li");
      const link = el("a");
      link.href = partUrl(m, a);
      link.setAttribute("download", a.FileName || "part-" + a.PartID);
      // Raster images get a thumbnail (the page's CSP allows images from itself; an
      // <img> never runs script, whatever the bytes are). Others get a paper clip.
      if (/^image\/(png|jpeg|gif|webp|avif|bmp)$/i.test(a.ContentType || "")) {
        const img = el("img", "thumb");
        img.alt = "";
        img.loading = "lazy";
        img.src = partUrl(m, a);
        link.appendChild(img);
      } else {
        link.appendChild(el("span", "", "📎"));
      }
      link.appendChild(el("span", "name", a.FileName || "(unnamed " + (a.ContentType || "part") + ")"));
      link.appendChild(el("span", "size", humanSize(a.Size)));
      link.title = (a.ContentType || "") + ", part " + a.PartID;
      li.appendChild(link);
      ul.appendChild(li);
    }
    ul.hidden = all.length === 0;
  }

  /** Whether the HTML refers to anything remote (what "load remote images" would allow). */
  function hasRemote(html) {
    return /(?:src|srcset|background|poster)\s*=\s*["']?\s*(?:https?:)?\/\//i.test(html) ||
      /url\(\s*["']?\s*(?:https?:)?\/\//i.test(html);
  }

  const partViews = { html: "m-html", text: "m-text", headers: "m-headers", raw: "m-raw", mime: "m-mime" };

  async function showPart(part) {
    const m = state.open;
    if (!m) return;
    state.part = part;
    for (const tab of document.querySelectorAll(".part-tab")) {
      const on = tab.dataset.part === part;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
    }
    for (const [name, id] of Object.entries(partViews)) $(id).hidden = name !== part;
    $("remote-bar").hidden = !(part === "html" && m.HTML && !state.remote && hasRemote(m.HTML));

    if (part === "html") {
      const src = "/view/" + enc(m.ID) + ".html" + (state.remote ? "?remote=1" : "");
      const frame = $("m-html");
      if (frame.getAttribute("src") !== src) {
        // data-loaded says which body the frame shows in full (its load event waits for
        // its images): until then it is drawn as loading.
        frame.removeAttribute("data-loaded");
        frame.setAttribute("src", src);
      }
    } else if (part === "text") {
      renderText($("m-text"), m.Text || "");
    } else if (part === "headers") {
      const tbody = $("m-headers").tBodies[0];
      clear(tbody);
      try {
        const headers = await getJSON("/api/v1/message/" + enc(m.ID) + "/headers");
        if (state.open !== m) return;
        for (const [name, values] of Object.entries(headers)) {
          for (const v of Array.isArray(values) ? values : [values]) {
            const tr = el("tr");
            tr.appendChild(el("th", "", name));
            tr.appendChild(el("td", "", v));
            tbody.appendChild(tr);
          }
        }
      } catch (e) {
        toast("Could not load the headers: " + e.message);
      }
    } else if (part === "raw" || part === "mime") {
      const raw = await loadRaw(m);
      if (raw === null || state.open !== m) return;
      if (part === "raw") {
        $("m-raw").textContent = raw.length > RAW_MAX_CHARS
          ? raw.slice(0, RAW_MAX_CHARS) + "\n\n… cut at " + humanSize(RAW_MAX_CHARS) + "; download the whole message from /api/v1/message/" + m.ID + "/raw"
          : raw;
      } else {
        renderMime($("m-mime"), m, raw);
      }
    }
  }

  async function loadRaw(m) {
    if (state.raw !== null) return state.raw;
    try {
      state.raw = await getText("/api/v1/message/" + enc(m.ID) + "/raw");
      return state.raw;
    } catch (e) {
      toast("Could not load the source: " + e.message);
      return null;
    }
  }

  /** The text body with http(s) and mailto links made clickable, and nothing else. */
  function renderText(pre, text) {
    clear(pre);
    if (!text) {
      pre.appendChild(el("em", "", "(this message has no text part)"));
      return;
    }
    if (text.length > LINKIFY_MAX_CHARS) {
      pre.textContent = text;
      return;
    }
    const re = /\b(?:https?:\/\/|mailto:)[^\s<>"'）」]+/gi;
    let last = 0;
    for (const match of text.matchAll(re)) {
      let url = match[0].replace(/[.,;:!?)\]]+$/, "");
      if (match.index > last) pre.appendChild(document.createTextNode(text.slice(last, match.index)));
      pre.appendChild(safeLink(url));
      last = match.index + url.length;
    }
    if (last < text.length) pre.appendChild(document.createTextNode(text.slice(last)));
  }

  /** An <a> only for http:, https: and mailto:; anything else stays text. */
  function safeLink(url) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch (_) {
      return document.createTextNode(url);
    }
    if (!["http:", "https:", "mailto:"].includes(parsed.protocol)) return document.createTextNode(url);
    const a = el("a", "", url);
    a.href = parsed.href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // ---------- the MIME structure, read from the raw source ----------
  //
  // RFC 2045 §5 (Content-Type), RFC 2046 §5.1 (multipart boundaries), §5.2.1
  // (message/rfc822). Parts are numbered as IMAP numbers them (RFC 3501 §6.4.5), which is
  // how the API's PartID numbers them, so a leaf links to its download.

  function splitEntity(text) {
    const m = /\r?\n\r?\n/.exec(text);
    if (!m) return { head: text, body: "" };
    return { head: text.slice(0, m.index), body: text.slice(m.index + m[0].length) };
  }

  function headerFields(head) {
    const fields = new Map();
    const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
    for (const line of unfolded.split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      const name = line.slice(0, i).trim().toLowerCase();
      if (!fields.has(name)) fields.set(name, line.slice(i + 1).trim());
    }
    return fields;
  }

  /** `type/subtype; a=b; c="d"` → { type, params }. */
  function parseParams(value) {
    const parts = [];
    let cur = "";
    let quoted = false;
    for (const ch of value || "") {
      if (ch === '"') quoted = !quoted;
      if (ch === ";" && !quoted) {
        parts.push(cur);
        cur = "";
      } else {
        cur += ch;
      }
    }
    parts.push(cur);
    const params = {};
    for (const p of parts.slice(1)) {
      const i = p.indexOf("=");
      if (i <= 0) continue;
      let v = p.slice(i + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
      params[p.slice(0, i).trim().toLowerCase()] = v;
    }
    return { value: parts[0].trim().toLowerCase(), params };
  }

  function parseEntity(text, budget) {
    budget.parts++;
    const { head, body } = splitEntity(text);
    const fields = headerFields(head);
    const ct = parseParams(fields.get("content-type") || "text/plain");
    const cd = parseParams(fields.get("content-disposition") || "");
    return {
      type: ct.value || "text/plain",
      boundary: ct.params.boundary,
      name: cd.params.filename || ct.params.name || "",
      charset: ct.params.charset || "",
      disposition: cd.value || "",
      encoding: (fields.get("content-transfer-encoding") || "").toLowerCase(),
      body,
      size: body.length,
    };
  }

  /** The bodies between `--boundary` lines (RFC 2046 §5.1.1), without preamble and epilogue. */
  function splitMultipart(body, boundary, budget) {
    const delimiter = "--" + boundary;
    const out = [];
    let pos = body.startsWith(delimiter) ? 0 : body.indexOf("\n" + delimiter);
    if (pos < 0) return out;
    if (pos > 0) pos += 1;
    while (pos >= 0 && out.length + budget.parts < MIME_MAX_PARTS) {
      const after = pos + delimiter.length;
      if (body.startsWith("--", after)) break; // the close delimiter
      const lineEnd = body.indexOf("\n", after);
      if (lineEnd < 0) break;
      const next = body.indexOf("\n" + delimiter, lineEnd);
      const end = next < 0 ? body.length : next;
      out.push(body.slice(lineEnd + 1, end > lineEnd && body[end - 1] === "\r" ? end - 1 : end));
      pos = next < 0 ? -1 : next + 1;
    }
    if (pos >= 0 && out.length + budget.parts >= MIME_MAX_PARTS) budget.truncated = true;
    return out;
  }

  function join(prefix, n) {
    return prefix ? prefix + "." + n : String(n);
  }

  /** A message (top level or inside message/rfc822) numbered under `prefix`. */
  function walkMessage(text, prefix, depth, budget) {
    const e = parseEntity(text, budget);
    if (e.type.startsWith("multipart/") && e.boundary) return walkMultipart(e, prefix, depth, budget);
    return leaf(e, join(prefix, 1));
  }

  function walkEntity(text, id, depth, budget) {
    const e = parseEntity(text, budget);
    if (e.type.startsWith("multipart/") && e.boundary) return walkMultipart(e, id, depth, budget);
    if (e.type === "message/rfc822" && depth < MIME_MAX_DEPTH) {
      const node = leaf(e, id);
      node.children = [walkMessage(e.body, id, depth + 1, budget)];
      return node;
    }
    return leaf(e, id);
  }

  function walkMultipart(e, id, depth, budget) {
    const node = { id, type: e.type, size: e.size, children: [] };
    if (depth >= MIME_MAX_DEPTH) {
      budget.truncated = true;
      return node;
    }
    const bodies = splitMultipart(e.body, e.boundary, budget);
    bodies.forEach((b, i) => {
      if (budget.parts < MIME_MAX_PARTS) node.children.push(walkEntity(b, join(id, i + 1), depth + 1, budget));
      else budget.truncated = true;
    });
    return node;
  }

  function leaf(e, id) {
    return { id, type: e.type, size: e.size, name: e.name, charset: e.charset, encoding: e.encoding, disposition: e.disposition };
  }

  function renderMime(root, m, raw) {
    clear(root);
    const budget = { parts: 0, truncated: false };
    const tree = walkMessage(raw, "", 0, budget);
    root.appendChild(mimeNode(m, tree));
    if (budget.truncated) {
      root.appendChild(el("li", "detail", "… more parts or deeper nesting than the page shows (" + MIME_MAX_PARTS + " parts, depth " + MIME_MAX_DEPTH + ")"));
    }
  }

  function mimeNode(m, n) {
    const li = el("li");
    li.dataset.part = n.id || "";
    if (n.id) li.appendChild(el("span", "detail", n.id + "  "));
    const isLeaf = !n.children;
    if (isLeaf && n.id) {
      const a = el("a", "ctype", n.type);
      a.href = "/api/v1/message/" + enc(m.ID) + "/part/" + enc(n.id);
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      li.appendChild(a);
    } else {
      li.appendChild(el("span", "ctype", n.type));
    }
    const detail = [];
    if (n.name) detail.push("“" + n.name + "”");
    if (n.charset) detail.push(n.charset);
    if (n.encoding) detail.push(n.encoding);
    if (n.disposition) detail.push(n.disposition);
    detail.push(humanSize(n.size));
    li.appendChild(el("span", "detail", detail.join(" · ")));
    if (n.children && n.children.length) {
      const ul = el("ul", "tree");
      for (const c of n.children) ul.appendChild(mimeNode(m, c));
      li.appendChild(ul);
    }
    return li;
  }

  // ---------- actions ----------
  async function setRead(ids, read) {
    try {
      await request("PUT", "/api/v1/messages?" + scopeParams().toString(), { IDs: ids, Read: read });
    } catch (e) {
      toast("Could not change the read state: " + e.message);
      return;
    }
    for (const id of ids) onUpdate({ ID: id, Read: read });
  }

  async function deleteMessage(id) {
    if (!id) return;
    try {
      await request("DELETE", "/api/v1/messages?" + scopeParams().toString(), { IDs: [id] });
    } catch (e) {
      toast("Could not delete: " + e.message);
      return;
    }
    if (state.open && state.open.ID === id) closeReader();
    removeLocally(id);
    $("messages").focus();
  }

  function currentId() {
    return state.open ? state.open.ID : state.cursor;
  }

  // ---------- sessions (protocol transcripts, live) ----------
  let lastSession = null;

  /** W1b's session line, whatever the case of its field names. */
  function sessionLine(raw) {
    if (!raw || typeof raw !== "object") return null;
    const pick = (...names) => {
      for (const n of names) if (raw[n] !== undefined && raw[n] !== null) return raw[n];
      return "";
    };
    const dir = String(pick("Direction", "direction", "Dir", "dir")).toLowerCase();
    return {
      session: String(pick("Session", "session", "ID", "id", "Id")),
      protocol: String(pick("Protocol", "protocol")),
      at: pick("Time", "time", "At", "at", "Created"),
      client: dir.startsWith("c") || dir === "in",
      peer: String(pick("Peer", "peer")),
      text: String(pick("Line", "line", "Text", "text")),
    };
  }

  function lineKey(line) {
    return line.session + "|" + line.at + "|" + (line.client ? "C" : "S") + "|" + line.text;
  }

  function onSession(raw) {
    const line = sessionLine(raw);
    if (line) appendTranscript(line);
  }

  /** Lines over the server's event rate are counted, not sent: say so, and offer the list. */
  function onSessionMissed(d) {
    if (!d || !(d.Missed > 0)) return;
    const li = el("li", "missed");
    li.dataset.note = "missed";
    li.appendChild(el("span", "", "… " + d.Missed + (d.Missed === 1 ? " line" : " lines") + " came too fast to show live. "));
    const more = el("button", "button", "Show them");
    more.type = "button";
    more.addEventListener("click", () => {
      sessionsLoaded = false;
      loadSessions();
    });
    li.appendChild(more);
    $("transcript").appendChild(li);
    lastSession = null;
    renderSessionCount();
  }

  function appendTranscript(line) {
    const ol = $("transcript");
    const li = el("li", line.session !== lastSession ? "first" : "");
    li.dataset.key = lineKey(line);
    li.dataset.proto = (line.protocol || line.session.split("#")[0]).toLowerCase();
    lastSession = line.session;
    const d = line.at ? new Date(line.at) : new Date();
    li.appendChild(el("span", "t-time", isNaN(d) ? "" : d.toLocaleTimeString()));
    li.appendChild(el("span", "t-session", line.session));
    li.appendChild(el("span", "t-proto", (line.protocol || line.session.split("#")[0]).toUpperCase()));
    li.appendChild(el("span", "dir " + (line.client ? "dir-c" : "dir-s"), line.client ? "C:" : "S:"));
    li.appendChild(el("span", "t-line", line.text));
    if (line.peer) li.title = line.session + " from " + line.peer;
    ol.appendChild(li);
    while (ol.childElementCount > MAX_TRANSCRIPT_LINES) ol.firstElementChild.remove();
    renderSessionCount();
    if ($("follow").checked && state.view === "sessions") li.scrollIntoView({ block: "end" });
  }

  function renderSessionCount() {
    const n = $("transcript").querySelectorAll("li:not(.missed)").length;
    $("session-count").textContent = n ? n + (n === 1 ? " line" : " lines") : "";
    $("sessions-empty").hidden = n > 0;
  }

  let sessionsLoaded = false;
  async function loadSessions() {
    if (sessionsLoaded) return;
    sessionsLoaded = true;
    let data;
    try {
      data = await getJSON("/api/v1/sessions");
    } catch (_) {
      return; // the live stream still brings new lines
    }
    const sessions = Array.isArray(data) ? data : data.sessions || data.Sessions || [];
    const lines = [];
    for (const s of sessions) {
      const id = s.ID || s.Id || s.id || s.Session || "";
      const protocol = s.Protocol || s.protocol || "";
      const peer = s.Peer || s.peer || "";
      for (const l of s.Lines || s.lines || []) {
        const line = sessionLine(Object.assign({ Session: id, Protocol: protocol, Peer: peer }, l));
        if (line) lines.push(line);
      }
    }
    lines.sort((a, b) => new Date(a.at) - new Date(b.at));
    const ol = $("transcript");
    // Lines that came live while the list was on its way are in the list too.
    const listed = new Set(lines.map(lineKey));
    const live = Array.from(ol.children).filter((li) => !li.dataset.note && !listed.has(li.dataset.key));
    clear(ol);
    lastSession = null;
    for (const l of lines) appendTranscript(l);
    for (const li of live) ol.appendChild(li);
    renderSessionCount();
  }

  // ---------- views and navigation ----------
  function showView(view) {
    state.view = view;
    document.body.dataset.view = view;
    $("mail").hidden = view !== "mail";
    $("sessions").hidden = view !== "sessions";
    $("tab-mail").setAttribute("aria-pressed", view === "mail" ? "true" : "false");
    $("tab-sessions").setAttribute("aria-pressed", view === "sessions" ? "true" : "false");
    if (view === "sessions") loadSessions();
    const hash = view === "sessions" ? "#sessions" : "";
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(e.target)) {
      if (e.key === "Escape") {
        e.target.blur();
        $("messages").focus();
      }
      return;
    }
    if (e.key === "/") {
      e.preventDefault();
      $("search").focus();
      $("search").select();
      return;
    }
    if (state.view !== "mail") return;
    switch (e.key) {
      case "j":
      case "ArrowDown":
        if (e.target.closest && e.target.closest(".parts")) return;
        e.preventDefault();
        moveCursor(1);
        if (!$("messages").contains(document.activeElement)) $("messages").focus();
        break;
      case "k":
      case "ArrowUp":
        if (e.target.closest && e.target.closest(".parts")) return;
        e.preventDefault();
        moveCursor(-1);
        if (!$("messages").contains(document.activeElement)) $("messages").focus();
        break;
      case "Enter":
        if (e.target === $("messages") || e.target === document.body) {
          e.preventDefault();
          if (state.cursor) openMessage(state.cursor);
        }
        break;
      case "Delete":
      case "#":
        e.preventDefault();
        deleteMessage(currentId());
        break;
      case "u": {
        const id = currentId();
        const m = (state.open && state.open.ID === id && state.open) || summary(id);
        if (m) setRead([id], !m.Read);
        break;
      }
      case "Escape":
        if (state.open) {
          closeReader();
          $("messages").focus();
        }
        break;
    }
  }

  function onPartKey(e) {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const tabs = Array.from(document.querySelectorAll(".part-tab:not(:disabled)"));
    let i = tabs.findIndex((t) => t.dataset.part === state.part);
    i = (i + (e.key === "ArrowRight" ? 1 : -1) + tabs.length) % tabs.length;
    tabs[i].focus();
    showPart(tabs[i].dataset.part);
  }

  function wire() {
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      state.query = $("search").value.trim();
      $("search-clear").hidden = !state.query;
      state.limit = PAGE;
      loadMessages();
      $("messages").focus();
    });
    $("search").addEventListener("input", () => {
      $("search-clear").hidden = !$("search").value;
      if (!$("search").value && state.query) {
        state.query = "";
        loadMessages();
      }
    });
    $("search-clear").addEventListener("click", () => {
      $("search").value = "";
      $("search-clear").hidden = true;
      state.query = "";
      loadMessages();
      $("search").focus();
    });
    $("more").addEventListener("click", () => {
      state.limit += PAGE;
      loadMessages();
    });
    $("back").addEventListener("click", () => {
      closeReader();
      $("messages").focus();
    });
    $("delete").addEventListener("click", () => deleteMessage(state.open && state.open.ID));
    $("toggle-read").addEventListener("click", () => {
      if (state.open) setRead([state.open.ID], !state.open.Read);
    });
    $("load-remote").addEventListener("click", () => {
      state.remote = true;
      showPart("html");
    });
    for (const tab of document.querySelectorAll(".part-tab")) {
      tab.addEventListener("click", () => showPart(tab.dataset.part));
    }
    document.querySelector(".parts").addEventListener("keydown", onPartKey);
    $("m-html").addEventListener("load", () => {
      const frame = $("m-html");
      if (frame.getAttribute("src")) frame.dataset.loaded = frame.getAttribute("src");
    });
    for (const tab of document.querySelectorAll(".views .tab")) {
      tab.addEventListener("click", () => showView(tab.dataset.view));
    }
    $("clear-sessions").addEventListener("click", () => {
      clear($("transcript"));
      lastSession = null;
      renderSessionCount();
    });
    $("proto-filter").addEventListener("change", () => {
      $("transcript").dataset.filter = $("proto-filter").value;
    });
    window.addEventListener("hashchange", () => showView(location.hash === "#sessions" ? "sessions" : "mail"));
    document.addEventListener("keydown", onKey);
  }

  /** The server's label (`--label`), to tell several yubin pages apart. */
  async function loadLabel() {
    try {
      const ui = await getJSON("/api/v1/webui");
      if (ui && ui.Label) {
        $("label").textContent = ui.Label;
        $("label").hidden = false;
        document.documentElement.dataset.label = ui.Label;
      }
    } catch (_) { /* no label */ }
  }

  function start() {
    wire();
    loadLabel();
    showView(location.hash === "#sessions" ? "sessions" : "mail");
    connectEvents();
    loadAccounts();
    loadMessages();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
