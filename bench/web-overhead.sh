#!/usr/bin/env bash
# What the web inbox costs SMTP: `yubin bench smtp` (10 clients, 5 s) against `yubin serve`
# with HTTP off (--no-http), on with no browser, and on with an event stream open (as an
# open web inbox has), in alternating rounds on the same machine. Prints messages/s and
# each run's ratio to the --no-http run of its round.
#
#   cargo build --release -p yubin && bash bench/web-overhead.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
Y=${YUBIN:-target/release/yubin}
ROUNDS=${1:-3}
SMTP=${SMTP_PORT:-25250}
HTTP=${HTTP_PORT:-25280}
run() {
    local d pid sse="" rate
    d=$(mktemp -d)
    "$Y" serve --data "$d" --user alice:secret --no-tls --smtp-port "$SMTP" --pop-port 0 \
        --imap-port 0 "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$SMTP") 2>/dev/null && break
        sleep 0.1
    done
    if [[ " $* " == *" --http-port "* && ${STREAM:-0} == 1 ]]; then
        curl -sN "http://127.0.0.1:$HTTP/api/v1/events" >/dev/null 2>&1 &
        sse=$!
        sleep 0.3
    fi
    rate=$("$Y" bench smtp --port "$SMTP" --to alice@localhost --clients 10 --duration 5 --json \
        | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["per_second"]))')
    [[ -n $sse ]] && kill "$sse" 2>/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$d"
    echo "$rate"
}
for round in $(seq "$ROUNDS"); do
    off=$(run --no-http)
    on=$(run --http-port "$HTTP")
    stream=$(STREAM=1 run --http-port "$HTTP")
    python3 -c "import sys; o,a,s=map(int,sys.argv[1:]); print(f'round $round: --no-http {o}/s, http {a}/s ({a/o:.2f}), http+event stream {s}/s ({s/o:.2f})')" "$off" "$on" "$stream"
done
