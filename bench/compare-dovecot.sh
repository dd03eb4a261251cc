#!/usr/bin/env bash
# Runs the same `yubin bench` loads against yubin and against Dovecot, in its default
# configuration and tuned, in turns, and prints the medians and the yubin/Dovecot ratios.
# One command from a fresh clone:
#
#   bench/compare-dovecot.sh            # sizes 1k, 10k, 100k
#   QUICK=1 bench/compare-dovecot.sh    # 1k only
#
# It builds yubin (release), installs Dovecot from the system's packages if it is missing
# (apt-get, Debian's dovecot-imapd and dovecot-pop3d), runs the three servers on 127.0.0.1
# high ports with their own config and data under a temp dir, gives each the same Maildirs
# (`yubin bench fill`: N small bare-LF messages written as an MDA writes them, then copied
# to every server), opens every mailbox once on each (not measured: first-open indexing),
# runs the loads in rounds (the servers' order rotates each round), stops the servers by
# pid and removes the temp dir. See docs/PERFORMANCE.md.
#
# The loads, per mailbox size N (one connection issuing one command at a time unless
# said; each figure is the median over the rounds of each run's p50 / p99):
#   noop, select, status, search       the command again and again on an N-message INBOX
#   sort, thread                       SORT (REVERSE DATE) / THREAD REFERENCES UTF-8 ALL, again
#   resync                             UID FETCH 1:* (FLAGS) (CHANGEDSINCE highest), after
#                                      SELECT (CONDSTORE): a CONDSTORE client finding no change
#   mark-all-read                      STORE 1:* +FLAGS.SILENT (\Seen), then -FLAGS
#   expunge                            STORE \Deleted on 10%, then EXPUNGE (a fresh copy each round)
#   copy                               COPY 1:1000 into a new folder (then deleted)
#   append                             APPEND of a small message into the N-message INBOX
#   mixed                              MIXED_CLIENTS clients on one shared INBOX: FETCH FLAGS,
#                                      STORE, NOOP, APPEND, EXPUNGE at random; commands/s
#   pop login-stat-uidl                USER/PASS, STAT, UIDL, QUIT on the N messages
#   select-restart                     the first LOGIN+SELECT after the server restarts
#   smtp send                          yubin only: SMTP_CLIENTS clients delivering 1 KiB messages
#                                      into an N-message mailbox (Dovecot has no SMTP here)
#   memory                             MEM_SESSIONS sessions with the N-message INBOX selected,
#                                      on a freshly started server: its RSS and PSS
#
# Dovecot "tuned" is the default plus, for imap, pop3, imap-login and pop3-login:
# service_count = 0, client_limit = 25, process_min_avail = 2 (processes reused, many
# clients each, two kept ready).
#
# Knobs (environment): SIZES ("1000 10000 100000"; QUICK=1 makes it "1000"), ROUNDS (3),
# DURATION seconds per run (3), MIXED_CLIENTS (10), MEM_SESSIONS (50), APPENDS per run
# (200), SMTP_CLIENTS (10), SETTLE seconds after a load that writes (0.5), SERVERS
# ("yubin dovecot tuned"), BASE_PORT (24000), KEEP=1 keeps the temp dir and logs,
# CLASSIC=1 also runs the session-rate, 1 MiB transfer, per-session SELECT / FETCH FLAGS
# and idle-connection loads of earlier versions of this script (CLIENTS 50, IDLE_YUBIN
# 10000, IDLE_DOVECOT 1000).
set -euo pipefail

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then SIZES=${SIZES:-1000}; else SIZES=${SIZES:-"1000 10000 100000"}; fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
MIXED_CLIENTS=${MIXED_CLIENTS:-10}
MEM_SESSIONS=${MEM_SESSIONS:-50}
APPENDS=${APPENDS:-200}
SMTP_CLIENTS=${SMTP_CLIENTS:-10}
SETTLE=${SETTLE:-0.5}
SERVERS=${SERVERS:-"yubin dovecot tuned"}
BASE_PORT=${BASE_PORT:-24000}
CLASSIC=${CLASSIC:-0}
CLIENTS=${CLIENTS:-50}
IDLE_YUBIN=${IDLE_YUBIN:-10000}
IDLE_DOVECOT=${IDLE_DOVECOT:-1000}

read -r -a servers <<<"$SERVERS"
for s in "${servers[@]}"; do
    case $s in yubin | dovecot | tuned) ;; *) echo "unknown server in SERVERS: $s" >&2; exit 2 ;; esac
done

# Many connections at once hold one descriptor each in the bench process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/yubin-vs-dovecot.XXXXXX")
results="$work/results.jsonl"
: >"$results"
declare -A pid=() imap_port=() pop_port=() root=()

log() { printf '== %s\n' "$*" >&2; }

# Stops one server by its pid (SIGTERM, then SIGKILL after 5 s) and reaps it.
stop() {
    local p=${pid[$1]:-}
    pid[$1]=""
    [[ -n $p ]] || return 0
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do
        # A child that has exited stays a zombie until reaped: that counts as gone.
        [[ -e /proc/$p && $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] || break
        sleep 0.1
    done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
stop_all() { for s in "${servers[@]}"; do stop "$s"; done; }
cleanup() {
    stop_all
    if [[ "${KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- yubin -------------------------------------------------------------------------------
log "building yubin (release)"
(cd "$repo" && cargo build --release -q -p yubin)
yubin="$repo/target/release/yubin"

# --- Dovecot -----------------------------------------------------------------------------
if [[ " ${servers[*]} " == *" dovecot "* || " ${servers[*]} " == *" tuned "* ]]; then
    if ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/imap || ! -x /usr/lib/dovecot/pop3 ]]; then
        log "installing Dovecot (apt-get install dovecot-imapd dovecot-pop3d)"
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get install -y -q dovecot-imapd dovecot-pop3d >/dev/null ||
            { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q dovecot-imapd dovecot-pop3d >/dev/null; }
    fi
    dovecot_bin=$(command -v dovecot)
fi

# --- ports, users, config ----------------------------------------------------------------
y_smtp=$((BASE_PORT + 25)) y_smtps=$((BASE_PORT + 465))
y_pop3s=$((BASE_PORT + 995)) y_imaps=$((BASE_PORT + 993))
imap_port[yubin]=$((BASE_PORT + 143)) pop_port[yubin]=$((BASE_PORT + 110))
imap_port[dovecot]=$((BASE_PORT + 1143)) pop_port[dovecot]=$((BASE_PORT + 1110))
imap_port[tuned]=$((BASE_PORT + 2143)) pop_port[tuned]=$((BASE_PORT + 2110))
root[yubin]=$work/yubin root[dovecot]=$work/dovecot/mail root[tuned]=$work/tuned/mail
password=benchpw
label() { case $1 in yubin) echo yubin ;; dovecot) echo Dovecot ;; tuned) echo "Dovecot tuned" ;; esac; }

# Mailboxes per size N: mN for the loads that leave it as it was, aN for APPEND, xN for
# mixed, eNrR for round R's EXPUNGE, sN for SMTP (yubin only).
users=()
for n in $SIZES; do
    users+=("m$n" "a$n" "x$n" "s$n")
    for r in $(seq "$ROUNDS"); do users+=("e${n}r$r"); done
done
if [[ $CLASSIC == 1 ]]; then
    users+=(big smtp)
    for i in $(seq "$CLIENTS"); do users+=("bench$i"); done
fi

mkdir -p "$work/yubin" "$work/template"
# Dovecot's auth process runs as its internal user and must reach the passwd file.
chmod 755 "$work"
{
    echo "[users]"
    for u in "${users[@]}"; do echo "$u = \"$password\""; done
} >"$work/users.toml"
for u in "${users[@]}"; do echo "$u:{PLAIN}$password::::::"; done >"$work/passwd"

me=$(id -un)
# Run as root (a container), Dovecot still wants unprivileged users: its own for login and
# internal processes, and `nobody` as the owner of the mail (it refuses uid 0).
if [[ $(id -u) -eq 0 ]]; then
    login_user=dovenull internal_user=dovecot mail_user=nobody
else
    login_user=$me internal_user=$me mail_user=$me
fi
mail_uid=$(id -u "$mail_user") mail_gid=$(id -g "$mail_user")
most=$((MEM_SESSIONS + MIXED_CLIENTS + SMTP_CLIENTS + 100))
[[ $CLASSIC != 1 ]] || most=$((most + IDLE_DOVECOT + CLIENTS))

dovecot_conf() { # dovecot_conf NAME
    local name=$1 dir=$work/$1
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    cat >"$dir/dovecot.conf" <<EOF
# Dovecot's defaults, except what an unprivileged run on high ports and the load need.
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
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
mail_location = maildir:$dir/mail/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $work/passwd
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$dir/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${imap_port[$name]}
  }
  inet_listener imaps {
    port = 0
  }
  process_limit = $most
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${pop_port[$name]}
  }
  inet_listener pop3s {
    port = 0
  }
}
# Enough processes for the most connections a load holds at once.
service imap {
  process_limit = $most
}
# The default of 10 per user and IP refuses the loads.
mail_max_userip_connections = 100000
EOF
    if [[ $name == tuned ]]; then
        cat >>"$dir/dovecot.conf" <<EOF
# Tuned: processes are reused (service_count = 0), each serves up to 25 clients, and two
# of each kind are kept ready.
service imap-login {
  service_count = 0
  client_limit = 25
  process_min_avail = 2
}
service pop3-login {
  service_count = 0
  client_limit = 25
  process_min_avail = 2
}
service imap {
  service_count = 0
  client_limit = 25
  process_min_avail = 2
}
service pop3 {
  service_count = 0
  client_limit = 25
  process_min_avail = 2
}
EOF
    fi
}
for s in "${servers[@]}"; do [[ $s == yubin ]] || dovecot_conf "$s"; done

# --- mail: the same files in every server's Maildirs --------------------------------------
log "filling the mailboxes (sizes: $SIZES)"
for n in $SIZES; do
    "$yubin" bench fill --maildir "$work/template/$n/Maildir" --count "$n" >&2
done
place() { # place USER TEMPLATE [SERVER...]: a copy of the template as USER's Maildir
    local user=$1 template=$2
    shift 2
    for s in "$@"; do
        mkdir -p "${root[$s]}/$user"
        cp -a "$work/template/$template/Maildir" "${root[$s]}/$user/Maildir"
    done
}
for n in $SIZES; do
    place "m$n" "$n" "${servers[@]}"
    place "a$n" "$n" "${servers[@]}"
    place "x$n" "$n" "${servers[@]}"
    for r in $(seq "$ROUNDS"); do place "e${n}r$r" "$n" "${servers[@]}"; done
    [[ " ${servers[*]} " != *" yubin "* ]] || place "s$n" "$n" yubin
done
if [[ $CLASSIC == 1 ]]; then
    # Earlier loads' mailboxes: bench1..N hold 10 messages of mixed size, big the 1 MiB one.
    python3 - "$repo/tests/fixtures/corpus" "$work/template" <<'PY'
import os, sys
corpus, out = sys.argv[1], sys.argv[2]
read = lambda n: open(os.path.join(corpus, n), "rb").read()
small = sorted(f for f in os.listdir(corpus) if f.endswith(".eml") and not f.startswith("10-"))
text = b"".join(b"Line %05d of a longer message, the kind a newsletter is.\r\n" % i for i in range(500))
mixed = [read(f) for f in small] + [
    b"From: News <news@example.com>\r\nTo: bench@localhost\r\nSubject: A longer one\r\n"
    b"Date: Mon, 2 Jun 2025 09:00:00 +0000\r\nMessage-ID: <long@example.com>\r\n\r\n" + text]
assert len(mixed) == 10
for name, msgs in (("mixed", mixed), ("big", [read("10-large-1mib.eml")])):
    md = os.path.join(out, name, "Maildir")
    for d in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    for k, m in enumerate(msgs):
        with open(os.path.join(md, "new", f"1700000000.M{k}P1.bench"), "wb") as f:
            f.write(m)
print(len(msgs[0]), file=open(os.path.join(out, "big-size"), "w"))
PY
    big_size=$(cat "$work/template/big-size")
    place big big "${servers[@]}"
    for i in $(seq "$CLIENTS"); do place "bench$i" mixed "${servers[@]}"; done
fi
for s in dovecot tuned; do
    if [[ -d $work/$s/mail && $mail_user != "$me" ]]; then
        chown -R "$mail_uid:$mail_gid" "$work/$s/mail"
    fi
done

# --- servers -----------------------------------------------------------------------------
wait_port() { # up to 5 minutes: a server may read its indexes before it listens
    for _ in $(seq 30000); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.01
    done
    log "nothing listening on port $1"
    return 1
}

start() { # start SERVER
    case $1 in
    yubin)
        "$yubin" serve --data "$work/yubin" --users-file "$work/users.toml" \
            --smtp-port "$y_smtp" --pop-port "${pop_port[yubin]}" --imap-port "${imap_port[yubin]}" \
            --smtps-port "$y_smtps" --pop3s-port "$y_pop3s" --imaps-port "$y_imaps" \
            --pop-retention keep --max-connections $((IDLE_YUBIN + most)) \
            --max-per-peer $((IDLE_YUBIN + most)) \
            >>"$work/yubin.log" 2>&1 &
        pid[yubin]=$!
        ;;
    *)
        "$dovecot_bin" -F -c "$work/$1/dovecot.conf" >>"$work/$1/stdout.log" 2>&1 &
        pid[$1]=$!
        ;;
    esac
    wait_port "${imap_port[$1]}"
    wait_port "${pop_port[$1]}"
}
restart() { # restart SERVER [timed]: stop, start (timed: record how long until it listens), settle
    stop "$1"
    local t0 t1
    t0=$(date +%s.%N)
    start "$1"
    t1=$(date +%s.%N)
    if [[ ${2:-} == timed ]]; then
        local ms
        ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
        printf '{"kind":"lat","load":"server start","size":"-","server":"%s","result":{"p50_ms":%s,"p99_ms":%s,"errors":0}}\n' \
            "$1" "$ms" "$ms" >>"$results"
    fi
    sleep 1
}

# One run: bench ARGS..., its JSON line labelled with what it measured.
run() { # run KIND LOAD SIZE SERVER bench-args...
    local kind=$1 load=$2 size=$3 server=$4
    shift 4
    local out
    if ! out=$("$yubin" bench "$@" --json 2>>"$work/bench-stderr.log"); then
        log "failed: $load $size on $server (see first_error)"
    fi
    [[ -n "$out" ]] || out='{"errors":1,"per_second":0}'
    printf '{"kind":"%s","load":"%s","size":"%s","server":"%s","result":%s}\n' \
        "$kind" "$load" "$size" "$server" "$out" >>"$results"
    printf '   %-24s %-7s %-8s %.200s\n' "$load" "$size" "$server" "$out" >&2
}

# A load on one server, the port and password filled in: on SERVER KIND LOAD SIZE PROTO ARGS...
on() {
    local server=$1 kind=$2 load=$3 size=$4 proto=$5
    shift 5
    local port
    case $proto in
    imap) port=${imap_port[$server]} ;;
    pop) port=${pop_port[$server]} ;;
    smtp) port=$y_smtp ;;
    esac
    run "$kind" "$load" "$size" "$server" "$proto" --port "$port" --password "$password" "$@"
}

# The servers in round R's order (rotated, so none is always first).
in_order() {
    local r=$1 k=${#servers[@]}
    for ((j = 0; j < k; j++)); do echo "${servers[$(((j + r - 1) % k))]}"; done
}

log "starting: ${servers[*]}"
for s in "${servers[@]}"; do start "$s"; done
sleep 1
for s in "${servers[@]}"; do
    if ! "$yubin" bench imap --port "${imap_port[$s]}" --user "m${SIZES%% *}" --password "$password" \
        --clients 1 --sessions 1 --mode select-session >/dev/null; then
        log "$(label "$s") does not serve the test accounts; its log:"
        tail -n 20 "$work/$s/dovecot.log" "$work/yubin.log" 2>/dev/null >&2 || true
        exit 1
    fi
done

# Warm-up, not measured: every server opens every mailbox once (Maildir new/ → cur/,
# indexes, UID lists), answers POP3 on each N-message mailbox (sizes) and searches it once
# (header caches).
log "warming up (first open of every mailbox)"
for s in "${servers[@]}"; do
    for u in "${users[@]}"; do
        [[ $u != s* || $s == yubin ]] || continue
        "$yubin" bench imap --port "${imap_port[$s]}" --user "$u" --password "$password" \
            --clients 1 --sessions 1 --mode select-session --json >/dev/null 2>&1 || true
    done
    for n in $SIZES; do
        "$yubin" bench pop --port "${pop_port[$s]}" --user "m$n" --password "$password" \
            --clients 1 --sessions 1 --mode login-stat-uidl --json >/dev/null 2>&1 || true
        "$yubin" bench imap --port "${imap_port[$s]}" --user "m$n" --password "$password" \
            --clients 1 --sessions 1 --mode search --json >/dev/null 2>&1 || true
    done
done

D=(--duration "$DURATION")
one=(--clients 1 "${D[@]}")
for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    order=$(in_order "$round")
    # The first SELECT after a restart: each server restarted, then each size's first.
    for s in $order; do
        restart "$s" timed
        for n in $SIZES; do
            on "$s" lat select-restart "$n" imap --user "m$n" --clients 1 --sessions 1 --mode select-restart
        done
    done
    for load in noop select status search sort thread resync mark-all-read copy; do
        for n in $SIZES; do
            for s in $order; do
                on "$s" lat "$load" "$n" imap --user "m$n" "${one[@]}" --mode "$load"
                [[ $load != mark-all-read ]] || sleep "$SETTLE"
            done
        done
    done
    for n in $SIZES; do
        for s in $order; do
            on "$s" lat append "$n" imap --user "a$n" "${one[@]}" --mode append --sessions "$APPENDS"
            sleep "$SETTLE"
        done
    done
    for n in $SIZES; do
        for s in $order; do
            on "$s" lat expunge "$n" imap --user "e${n}r$round" --clients 1 --sessions 1 --mode expunge
            sleep "$SETTLE"
        done
    done
    for n in $SIZES; do
        for s in $order; do
            on "$s" rate mixed "$n" imap --user "x$n" --clients "$MIXED_CLIENTS" "${D[@]}" --mode mixed
            sleep "$SETTLE"
        done
    done
    for n in $SIZES; do
        for s in $order; do
            on "$s" lat "pop login-stat-uidl" "$n" pop --user "m$n" "${one[@]}" --mode login-stat-uidl
        done
    done
    if [[ " ${servers[*]} " == *" yubin "* ]]; then
        for n in $SIZES; do
            on yubin rate "smtp send 1 KiB" "$n" smtp --to "s$n@localhost" --size 1024 \
                --clients "$SMTP_CLIENTS" "${D[@]}"
            sleep "$SETTLE"
        done
    fi
    if [[ $CLASSIC == 1 ]]; then
        for s in $order; do
            on "$s" rate "pop session x$CLIENTS" - pop --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
            on "$s" rate "imap session x$CLIENTS" - imap --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
            on "$s" mb "pop retr 1 MiB" - pop --user big --clients 1 --mode retr "${D[@]}"
            on "$s" mb "imap fetch 1 MiB" - imap --user big --clients 1 --mode fetch-body "${D[@]}"
            for n in $SIZES; do
                on "$s" lat "select-session" "$n" imap --user "m$n" --clients 1 --mode select-session "${D[@]}"
                on "$s" lat "fetch-flags-session" "$n" imap --user "m$n" --clients 1 --mode fetch-flags "${D[@]}"
            done
        done
        run mb "loopback 1 MiB" - loopback loopback --size "$big_size" --clients 1 "${D[@]}"
        if [[ " ${servers[*]} " == *" yubin "* ]]; then
            tls=(--tls --ca "$work/yubin/.yubin/tls/ca.pem" --password "$password")
            run rate "pop session x$CLIENTS tls" - yubin pop --port "$y_pop3s" "${tls[@]}" \
                --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
            run rate "imap session x$CLIENTS tls" - yubin imap --port "$y_imaps" "${tls[@]}" \
                --user bench --users "$CLIENTS" --clients "$CLIENTS" "${D[@]}"
            run mb "pop retr 1 MiB tls" - yubin pop --port "$y_pop3s" "${tls[@]}" --user big \
                --clients 1 --mode retr "${D[@]}"
            run mb "imap fetch 1 MiB tls" - yubin imap --port "$y_imaps" "${tls[@]}" --user big \
                --clients 1 --mode fetch-body "${D[@]}"
        fi
    fi
done

# Memory, once per size and server, each on a freshly started server (nothing cached from
# other loads): MEM_SESSIONS logged-in sessions with the N-message INBOX selected.
log "memory: $MEM_SESSIONS sessions with the mailbox selected (servers restarted)"
for n in $SIZES; do
    for s in "${servers[@]}"; do
        restart "$s"
        on "$s" mem memory "$n" imap --user "m$n" --clients "$MEM_SESSIONS" --mode idle-conns \
            --selected --duration 2 --pid "${pid[$s]}"
    done
done
if [[ $CLASSIC == 1 ]]; then
    for s in "${servers[@]}"; do
        restart "$s"
        idle=$IDLE_DOVECOT
        [[ $s != yubin ]] || idle=$IDLE_YUBIN
        on "$s" mem "idle-conns" - imap --user bench --users "$CLIENTS" --clients "$idle" \
            --mode idle-conns --duration 2 --pid "${pid[$s]}"
    done
fi

log "stopping the servers"
stop_all

# --- the table ---------------------------------------------------------------------------
dovecot_version=$({ [[ -n ${dovecot_bin:-} ]] && "$dovecot_bin" --version; } 2>/dev/null || echo "n/a")
python3 - "$results" "$ROUNDS" "$DURATION" "$SERVERS" "$dovecot_version" "$MIXED_CLIENTS" \
    "$MEM_SESSIONS" "$APPENDS" "$SMTP_CLIENTS" <<'PY'
import json, os, statistics, sys
path, rounds, duration, servers, version, mixed, mem, appends, smtpc = sys.argv[1:10]
servers = servers.split()
names = {"yubin": "yubin", "dovecot": "Dovecot", "tuned": "Dovecot tuned", "loopback": "loopback"}
rows = [json.loads(l) for l in open(path)]
by, order = {}, []
for r in rows:
    key = (r["load"], r["size"])
    if key not in order:
        order.append(key)
    by.setdefault(key + (r["server"],), []).append(r)

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def get(res, path):
    for p in path:
        if not isinstance(res, dict) or p not in res:
            return None
        res = res[p]
    return res

def value(key, server, path):
    return med([get(r["result"], path) for r in by.get(key + (server,), [])])

def errs(key, server):
    rs = by.get(key + (server,))
    return sum(r["result"].get("errors", 0) for r in rs) if rs else None

def fmt(v, digits):
    if v is None:
        return ""
    return f"{v:.{digits}f}"

def ratio(y, d):
    return f"{y / d:.2f}" if y is not None and d else ""

others = [s for s in servers if s != "yubin"]
head = ["load", "N", "metric"] + [names[s] for s in servers]
if "yubin" in servers:
    head += [f"yubin/{names[s]}" for s in others]
head += ["errors " + "/".join(names[s][0] if s != "tuned" else "T" for s in servers)]
print(f"{os.uname().nodename}: {os.cpu_count()} CPUs, Linux {os.uname().release}; {version}")
print(f"medians over {rounds} rounds ({duration} s runs, servers' order rotated each round) "
      "of each run's p50 / p99; lower is better except where the metric says /s; "
      f"mixed: {mixed} clients; memory: {mem} sessions; append: up to {appends} per run; "
      f"smtp: {smtpc} clients; errors summed over rounds")
print()
print("| " + " | ".join(head) + " |")
print("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")

def line(load, size, metric, cells, ratios, errors):
    print("| " + " | ".join([load, size, metric] + cells + ratios + [errors]) + " |")

def pair(key, server, a, b, digits=2):
    x, y = value(key, server, a), value(key, server, b)
    if x is None and y is None:
        return ""
    return f"{fmt(x, digits)} / {fmt(y, digits)}"

def pair_ratio(key, a, b):
    out = []
    for s in others:
        r1 = ratio(value(key, "yubin", a), value(key, s, a))
        r2 = ratio(value(key, "yubin", b), value(key, s, b))
        out.append(f"{r1} / {r2}" if r1 or r2 else "")
    return out if "yubin" in servers else []

def single_ratio(key, a):
    if "yubin" not in servers:
        return []
    return [ratio(value(key, "yubin", a), value(key, s, a)) for s in others]

for key in order:
    load, size = key
    kind = next(r["kind"] for r in rows if (r["load"], r["size"]) == key)
    present = [s for s in servers if key + (s,) in by]
    errors = "/".join("" if errs(key, s) is None else str(errs(key, s)) for s in servers)
    if not present:
        # The loopback baseline (CLASSIC=1): no server, the machine's TCP copy.
        v = value(key, "loopback", ("mb_per_second",))
        print(f"| {load} | {size} | MB/s, the machine's loopback (no server) | {fmt(v, 1)} |"
              + " |" * (len(head) - 4))
        continue
    if kind == "lat":
        subs = [("", None)]
        if load == "mark-all-read":
            subs = [("STORE +FLAGS \\Seen", "+seen"), ("STORE -FLAGS \\Seen", "-seen")]
        elif load == "expunge":
            subs = [("EXPUNGE", "expunge"), ("STORE +FLAGS \\Deleted (10%)", "mark")]
        for title, t in subs:
            a = ("timings", t, "p50_ms") if t else ("p50_ms",)
            b = ("timings", t, "p99_ms") if t else ("p99_ms",)
            metric = f"{title + ' ' if title else ''}ms p50 / p99"
            line(load, size, metric, [pair(key, s, a, b) for s in servers],
                 pair_ratio(key, a, b), errors)
            errors = ""
    elif kind == "rate":
        line(load, size, "commands/s" if load == "mixed" else "per second",
             [fmt(value(key, s, ("per_second",)), 0) for s in servers],
             single_ratio(key, ("per_second",)), errors)
        line(load, size, "ms p50 / p99", [pair(key, s, ("p50_ms",), ("p99_ms",)) for s in servers],
             pair_ratio(key, ("p50_ms",), ("p99_ms",)), "")
    elif kind == "mb":
        line(load, size, "MB/s", [fmt(value(key, s, ("mb_per_second",)), 1) for s in servers],
             single_ratio(key, ("mb_per_second",)), errors)
    elif kind == "mem":
        for title, field, div, digits in (
            ("server PSS MiB", "server_pss_kib", 1024, 1),
            ("server RSS MiB", "server_rss_kib", 1024, 1),
            ("PSS MiB before connecting", "server_pss_before_kib", 1024, 1),
            ("server processes", "server_processes", 1, 0),
        ):
            vals = {s: value(key, s, (field,)) for s in servers}
            vals = {s: (v / div if v is not None else None) for s, v in vals.items()}
            rs = [ratio(vals.get("yubin"), vals[s]) for s in others] if "yubin" in servers else []
            line(load, size, title, [fmt(vals[s], digits) for s in servers], rs, errors)
            errors = ""
        held = {s: value(key, s, ("sessions",)) for s in servers}
        line(load, size, "sessions held", [fmt(held[s], 0) for s in servers],
             [""] * len(others) if "yubin" in servers else [], "")
        per = {}
        for s in servers:
            after, before = value(key, s, ("server_pss_kib",)), value(key, s, ("server_pss_before_kib",))
            per[s] = (after - before) / held[s] if after is not None and before is not None and held[s] else None
        rs = [ratio(per.get("yubin"), per[s]) for s in others] if "yubin" in servers else []
        line(load, size, "PSS KiB per session (above before)", [fmt(per[s], 1) for s in servers], rs, "")

print()
print("details (medians over rounds): count, p50, p99 and total ms of each timed command; NO replies")
for key in order:
    for s in servers + ["loopback"]:
        rs = by.get(key + (s,))
        if not rs:
            continue
        timings = {}
        for r in rs:
            for name in (r["result"].get("timings") or {}):
                timings.setdefault(name, None)
        parts = []
        for name in timings or [None]:
            base = ("timings", name) if name else ()
            c = value(key, s, base + ("count",)) if name else value(key, s, ("commands",)) or value(key, s, ("sessions",)) or value(key, s, ("messages",))
            p50 = value(key, s, base + ("p50_ms",))
            p99 = value(key, s, base + ("p99_ms",))
            tot = value(key, s, base + ("total_ms",))
            parts.append(f"{name or 'all'} n={fmt(c, 0)} p50={fmt(p50, 2)} p99={fmt(p99, 2)} total={fmt(tot, 1)}")
        no = value(key, s, ("no_replies",))
        if no:
            parts.append(f"NO={no:.0f}")
        m = value(key, s, ("matches",))
        if m is not None:
            parts.append(f"matches={m:.0f}")
        print(f"  {key[0]:<22} {key[1]:>6} {names.get(s, s):<14} " + "; ".join(parts))
PY
