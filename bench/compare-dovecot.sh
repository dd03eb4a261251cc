#!/usr/bin/env bash
# Runs the same `yubin bench` loads against Dovecot and yubin, in turns (A B A B ...),
# and prints the medians and the yubin/Dovecot ratio. One command from a fresh clone:
#
#   bench/compare-dovecot.sh
#
# It builds yubin (release), installs Dovecot from the system's packages if it is missing
# (apt-get, Debian's dovecot-imapd and dovecot-pop3d), runs both servers on 127.0.0.1 high
# ports with their own config and data under a temp dir, fills both with the same messages,
# runs the loads, stops both by pid and removes the temp dir. See docs/PERFORMANCE.md.
#
# Knobs (environment): ROUNDS (3), DURATION seconds per run (4), CLIENTS (50),
# IDLE_YUBIN (10000) and IDLE_DOVECOT (1000) idle connections, SIZES ("1000 10000 100000")
# mailbox sizes for SELECT / FETCH FLAGS, BASE_PORT (24000), KEEP=1 keeps the temp dir.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4}
CLIENTS=${CLIENTS:-50}
IDLE_YUBIN=${IDLE_YUBIN:-10000}
IDLE_DOVECOT=${IDLE_DOVECOT:-1000}
SIZES=${SIZES:-"1000 10000 100000"}
BASE_PORT=${BASE_PORT:-24000}

# The idle-connection load holds one descriptor per connection in the bench process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/yubin-vs-dovecot.XXXXXX")
results="$work/results.jsonl"
yubin_pid=""
dovecot_pid=""

log() { printf '== %s\n' "$*" >&2; }

stop_servers() {
    for pid in $yubin_pid $dovecot_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    yubin_pid=""
    dovecot_pid=""
}
cleanup() {
    stop_servers
    if [[ "${KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- yubin -------------------------------------------------------------------------------
log "building yubin (release)"
(cd "$repo" && cargo build --release -q -p yubin)
yubin="$repo/target/release/yubin"

# --- Dovecot -----------------------------------------------------------------------------
if ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/imap || ! -x /usr/lib/dovecot/pop3 ]]; then
    log "installing Dovecot (apt-get install dovecot-imapd dovecot-pop3d)"
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q dovecot-imapd dovecot-pop3d >/dev/null ||
        { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q dovecot-imapd dovecot-pop3d >/dev/null; }
fi
dovecot_bin=$(command -v dovecot)

# --- ports, users, config ----------------------------------------------------------------
y_smtp=$((BASE_PORT + 25)) y_pop=$((BASE_PORT + 110)) y_imap=$((BASE_PORT + 143))
y_smtps=$((BASE_PORT + 465)) y_pop3s=$((BASE_PORT + 995)) y_imaps=$((BASE_PORT + 993))
d_pop=$((BASE_PORT + 1110)) d_imap=$((BASE_PORT + 1143))
password=benchpw

users=(big smtp)
for i in $(seq "$CLIENTS"); do users+=("bench$i"); done
for n in $SIZES; do users+=("m$n"); done

mkdir -p "$work/yubin" "$work/dovecot/mail" "$work/dovecot/run" "$work/dovecot/state"
# Dovecot's auth process runs as its internal user and must reach the passwd file.
chmod 755 "$work"
{
    echo "[users]"
    for u in "${users[@]}"; do echo "$u = \"$password\""; done
} >"$work/users.toml"
for u in "${users[@]}"; do echo "$u:{PLAIN}$password::::::"; done >"$work/dovecot/passwd"

me=$(id -un)
# Run as root (a container), Dovecot still wants unprivileged users: its own for login and
# internal processes, and `nobody` as the owner of the mail (it refuses uid 0).
if [[ $(id -u) -eq 0 ]]; then
    login_user=dovenull internal_user=dovecot mail_user=nobody
else
    login_user=$me internal_user=$me mail_user=$me
fi
mail_uid=$(id -u "$mail_user") mail_gid=$(id -g "$mail_user")
cat >"$work/dovecot/dovecot.conf" <<EOF
# Dovecot's defaults, except what an unprivileged run on high ports and the load need.
base_dir = $work/dovecot/run
state_dir = $work/dovecot/state
log_path = $work/dovecot/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = $login_user
default_internal_user = $internal_user
default_internal_group = $(id -gn "$internal_user")
first_valid_uid = $mail_uid
first_valid_gid = $mail_gid
mail_location = maildir:$work/dovecot/mail/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $work/dovecot/passwd
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$work/dovecot/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $d_imap
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = $d_pop
  }
  inet_listener pop3s {
    port = 0
  }
}
# The idle-connection load holds one imap process per connection.
service imap {
  process_limit = $((IDLE_DOVECOT + 100))
}
service imap-login {
  process_limit = $((IDLE_DOVECOT + 100))
}
# The default of 10 per user and IP refuses the load.
mail_max_userip_connections = 100000
EOF

# --- mail: the same files in both servers' Maildirs ----------------------------------------
log "filling both stores"
python3 - "$repo/tests/fixtures/corpus" "$work" "$CLIENTS" "$SIZES" <<'PY'
import os, sys
corpus, work, clients, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
read = lambda n: open(os.path.join(corpus, n), "rb").read()
small = sorted(f for f in os.listdir(corpus) if f.endswith(".eml") and not f.startswith("10-"))
text = b"".join(b"Line %05d of a longer message, the kind a newsletter is.\r\n" % i for i in range(500))
mixed = [read(f) for f in small] + [
    b"From: News <news@example.com>\r\nTo: bench@localhost\r\nSubject: A longer one\r\n"
    b"Date: Mon, 2 Jun 2025 09:00:00 +0000\r\nMessage-ID: <long@example.com>\r\n\r\n" + text]
assert len(mixed) == 10
boxes = {"big": [read("10-large-1mib.eml")]}
for i in range(1, clients + 1):
    boxes[f"bench{i}"] = mixed
for n in sizes:
    boxes[f"m{n}"] = [read("01-plain.eml")] * int(n)
for root in (os.path.join(work, "yubin"), os.path.join(work, "dovecot", "mail")):
    for user, msgs in boxes.items():
        md = os.path.join(root, user, "Maildir")
        for d in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, d), exist_ok=True)
        for k, m in enumerate(msgs):
            with open(os.path.join(md, "new", f"1700000000.M{k}P1.bench"), "wb") as f:
                f.write(m)
print(len(boxes["big"][0]), file=open(os.path.join(work, "big-size"), "w"))
PY
big_size=$(cat "$work/big-size")
[[ $mail_user == "$me" ]] || chown -R "$mail_uid:$mail_gid" "$work/dovecot/mail"

# --- servers -----------------------------------------------------------------------------
wait_port() {
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "nothing listening on port $1"
    return 1
}

start_servers() {
    "$yubin" serve --data "$work/yubin" --users-file "$work/users.toml" \
        --smtp-port "$y_smtp" --pop-port "$y_pop" --imap-port "$y_imap" \
        --smtps-port "$y_smtps" --pop3s-port "$y_pop3s" --imaps-port "$y_imaps" \
        --pop-retention keep --max-connections $((IDLE_YUBIN + 200)) \
        >"$work/yubin.log" 2>&1 &
    yubin_pid=$!
    "$dovecot_bin" -F -c "$work/dovecot/dovecot.conf" >"$work/dovecot/stdout.log" 2>&1 &
    dovecot_pid=$!
    wait_port "$y_imaps"
    wait_port "$d_imap"
    wait_port "$d_pop"
}

# One run: bench ARGS..., its JSON line labelled with the load's name and the server.
run() { # run LOAD SERVER bench-args...
    local load=$1 server=$2
    shift 2
    local out
    if ! out=$("$yubin" bench "$@" --json 2>>"$work/bench-stderr.log"); then
        log "failed: $load on $server (see first_error)"
    fi
    [[ -n "$out" ]] || out='{"errors":1,"per_second":0}'
    printf '{"load":"%s","server":"%s","result":%s}\n' "$load" "$server" "$out" >>"$results"
    printf '   %-22s %-8s %s\n' "$load" "$server" "$out" >&2
}

# A load on both servers: `both LOAD PROTO ARGS...` (the port is filled in per server).
both() {
    local load=$1 proto=$2
    shift 2
    local yport dport
    case $proto in
    pop) yport=$y_pop dport=$d_pop ;;
    imap) yport=$y_imap dport=$d_imap ;;
    esac
    run "$load" dovecot "$proto" --port "$dport" --password "$password" "$@"
    run "$load" yubin "$proto" --port "$yport" --password "$password" "$@"
}

log "starting yubin and Dovecot"
start_servers
sleep 1
if ! "$yubin" bench imap --port "$d_imap" --user big --password "$password" --clients 1 \
    --sessions 1 --mode select >/dev/null; then
    log "Dovecot does not serve the test account; its log:"
    tail -n 20 "$work/dovecot/dovecot.log" >&2
    exit 1
fi

# Warm-up, not measured: each server indexes the Maildirs once (new/ → cur/, UID lists).
log "warming up (first open of every mailbox)"
for u in big bench{1..3} $(for n in $SIZES; do echo "m$n"; done); do
    for port in $y_imap $d_imap; do
        "$yubin" bench imap --port "$port" --user "$u" --password "$password" --clients 1 \
            --sessions 1 --mode fetch-flags --json >/dev/null 2>&1 || true
    done
done
both warm-pop pop --user bench --users "$CLIENTS" --clients "$CLIENTS" --sessions "$CLIENTS" >/dev/null 2>&1
both warm-imap imap --user bench --users "$CLIENTS" --clients "$CLIENTS" --sessions "$CLIENTS" >/dev/null 2>&1
: >"$results"

D=(--duration "$DURATION")
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    both "pop session x$CLIENTS" pop --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
    both "imap session x$CLIENTS" imap --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
    run "loopback 1 MiB" loopback loopback --size "$big_size" --clients 1 "${D[@]}"
    both "pop retr 1 MiB" pop --user big --clients 1 --mode retr "${D[@]}"
    both "imap fetch 1 MiB" imap --user big --clients 1 --mode fetch-body "${D[@]}"
    for n in $SIZES; do
        both "imap select $n" imap --user "m$n" --clients 1 --mode select "${D[@]}"
        both "imap fetch flags $n" imap --user "m$n" --clients 1 --mode fetch-flags "${D[@]}"
    done
    # yubin only: SMTP (Dovecot has no SMTP ingest here) and the cost of TLS.
    run "smtp send 1 KiB x$CLIENTS" yubin smtp --port "$y_smtp" --to smtp@localhost \
        --size 1024 --clients "$CLIENTS" "${D[@]}"
    tls=(--tls --ca "$work/yubin/tls/ca.pem" --password "$password")
    run "pop session x$CLIENTS tls" yubin pop --port "$y_pop3s" "${tls[@]}" \
        --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
    run "imap session x$CLIENTS tls" yubin imap --port "$y_imaps" "${tls[@]}" \
        --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
    run "pop retr 1 MiB tls" yubin pop --port "$y_pop3s" "${tls[@]}" --user big --clients 1 \
        --mode retr "${D[@]}"
    run "imap fetch 1 MiB tls" yubin imap --port "$y_imaps" "${tls[@]}" --user big --clients 1 \
        --mode fetch-body "${D[@]}"
done

# Idle connections, once each (memory, not speed), on freshly started servers (nothing
# cached from the loads above): yubin 10,000; Dovecot fewer, since it runs a process per
# connection (its figure is also given per connection).
log "idle connections: Dovecot $IDLE_DOVECOT, yubin $IDLE_YUBIN (servers restarted)"
stop_servers
start_servers
sleep 1
run "imap idle-conns" dovecot imap --port "$d_imap" --user bench --users "$CLIENTS" \
    --password "$password" --clients "$IDLE_DOVECOT" --mode idle-conns --duration 2 --pid "$dovecot_pid"
run "imap idle-conns" yubin imap --port "$y_imap" --user bench --users "$CLIENTS" \
    --password "$password" --clients "$IDLE_YUBIN" --mode idle-conns --duration 2 --pid "$yubin_pid"

log "stopping both"
stop_servers

# --- the table ---------------------------------------------------------------------------
python3 - "$results" "$ROUNDS" "$DURATION" "$CLIENTS" "$big_size" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rounds, duration, clients = sys.argv[2:5]
big = int(sys.argv[5])
by = {}
order = []
for r in rows:
    key = (r["load"], r["server"])
    if r["load"] not in order:
        order.append(r["load"])
    by.setdefault(key, []).append(r["result"])
def med(key, field):
    vals = [x.get(field, 0) for x in by.get(key, [])]
    return statistics.median(vals) if vals else None
def errs(key):
    return sum(x.get("errors", 0) for x in by.get(key, []))
loop = med(("loopback 1 MiB", "loopback"), "mb_per_second")
loop_p50 = med(("loopback 1 MiB", "loopback"), "p50_ms")
# A transfer's own rate: the message's size over the median time of the RETR / FETCH
# command (loopback: of the whole connection, connect included).
xfer = lambda p50: big / 1e6 / (p50 / 1000) if p50 else None
print(f"medians of {rounds} rounds, {duration} s each, A/B interleaved; errors summed over rounds")
print()
print(f"| load | metric | Dovecot | yubin | yubin/Dovecot | errors D/y |")
print(f"|---|---|---:|---:|---:|---:|")
for load in order:
    if load.startswith("loopback"):
        print(f"| {load} | MB/s, sessions (connect, read, close) | | {loop:.0f} | | |")
        print(f"| {load} | MB/s, one transfer (size / p50) | | {xfer(loop_p50):.0f} | | |")
        continue
    d, y = (load, "dovecot"), (load, "yubin")
    if "idle-conns" in load:
        dk = med(d, "server_pss_kib"); yk = med(y, "server_pss_kib")
        dn = med(d, "sessions"); yn = med(y, "sessions")
        dper = dk / dn if dk and dn else None; yper = yk / yn if yk and yn else None
        print(f"| {load} | connections held | {dn:.0f} | {yn:.0f} | | {errs(d)}/{errs(y)} |")
        print(f"| {load} | server PSS MiB (total) | {dk/1024:.1f} | {yk/1024:.1f} | | |" if dk and yk else f"| {load} | server PSS | n/a | n/a | | |")
        dr = med(d, "server_rss_kib"); yr = med(y, "server_rss_kib")
        if dr and yr:
            print(f"| {load} | server RSS MiB (total, shared pages counted per process) | {dr/1024:.1f} | {yr/1024:.1f} | | |")
        db = med(d, "server_pss_before_kib"); yb = med(y, "server_pss_before_kib")
        if db and yb:
            print(f"| {load} | server PSS MiB before connecting | {db/1024:.1f} | {yb/1024:.1f} | | |")
        if dper and yper:
            print(f"| {load} | KiB per connection | {dper:.1f} | {yper:.1f} | {yper/dper:.3f} | |")
        continue
    if "select" in load or "flags" in load:
        metric, field, fmt = "p50 ms of the command", "p50_ms", "{:.2f}"
    elif "MiB" in load:
        metric, field, fmt = "MB/s", "mb_per_second", "{:.1f}"
    elif load.startswith("smtp"):
        metric, field, fmt = "messages/s", "per_second", "{:.0f}"
    else:
        metric, field, fmt = "sessions/s", "per_second", "{:.0f}"
    dv, yv = med(d, field), med(y, field)
    cell = lambda v: fmt.format(v) if v is not None else ""
    ratio = f"{yv/dv:.2f}" if dv and yv else ""
    extra = ""
    if "MiB" in load and loop and yv:
        extra = f" ({yv/loop:.0%} of loopback)"
    print(f"| {load} | {metric} | {cell(dv)} | {cell(yv)}{extra} | {ratio} | {errs(d) if dv is not None else ''}/{errs(y)} |")
    if "MiB" in load:
        dx, yx = xfer(med(d, "p50_ms")), xfer(med(y, "p50_ms"))
        lx = xfer(loop_p50)
        cmd = "RETR" if load.startswith("pop") else "FETCH"
        share = f" ({yx/lx:.0%} of loopback)" if yx and lx else ""
        print(f"| {load} | MB/s, the {cmd} alone (size / p50) | {cell(dx) if dx else ''} | {yx:.0f}{share} | {f'{yx/dx:.2f}' if dx and yx else ''} | |")
print()
print("latency p50/p90/p99 ms (medians):")
for load in order:
    for server in ("dovecot", "yubin", "loopback"):
        k = (load, server)
        if k in by:
            print(f"  {load:<26} {server:<8} {med(k,'p50_ms'):8.2f} {med(k,'p90_ms'):8.2f} {med(k,'p99_ms'):8.2f}")
PY
