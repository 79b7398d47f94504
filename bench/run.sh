#!/usr/bin/env bash
# bench/run.sh - one command for the figures of bench/README.md: builds
# scimgate (RelWithDebInfo, -O2), starts a private durable PostgreSQL 15,
# measures PostgreSQL's own ceiling with pgbench (the create transaction and the
# userName read), then runs scimgate under scimgate-load and prints every
# figure as a ratio to that ceiling, with the targets and PASS/MISS.
#
#   bench/run.sh                 the whole run (about 4 minutes on 2 cores)
#   BENCH_PROFILE=1 bench/run.sh  also records perf profiles of scimgate
#   BENCH_ORGS=50 BENCH_SECONDS=15 ...   see the settings below
#
# Results: bench/results/<timestamp>/summary.{txt,json} (kept) and the raw
# output beside them (ignored by git). Loopback only; a watchdog ends the run
# if it hangs; everything started here is stopped on exit.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

ORGS=${BENCH_ORGS:-50}              # organizations = tokens
CONNS=${BENCH_CONNS:-4}             # keep-alive connections per organization
POOL=${BENCH_POOL:-8}               # scimgate's database pool = pgbench clients
SECS=${BENCH_SECONDS:-15}           # pgbench and lookup durations
CREATE_NOGC=${BENCH_CREATE_NOGC:-200}   # users per organization, group commit off
CREATE_GC=${BENCH_CREATE_GC:-400}       # users per organization, group commit on
IDLE=${BENCH_IDLE:-10000}           # idle connections for the memory figure
LIMIT=${BENCH_LIMIT_S:-480}         # watchdog

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/$STAMP
mkdir -p "$OUT"
RUNDIR=$(mktemp -d /tmp/scimgate-bench.XXXXXX)
chmod 755 "$RUNDIR"
trap 'bench_cleanup; rm -rf "$RUNDIR"' EXIT
trap 'exit 130' INT TERM
bench_watchdog "$LIMIT"
START=$(date +%s)

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((IDLE + 1000)) ] || IDLE=$(( $(ulimit -n) - 1000 ))

bench_build
export SCIMGATE_ADMIN_KEY="sk_bench_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"

# ------------------------------------------------------------------ database
say "starting PostgreSQL 15 (fsync, synchronous_commit, full_page_writes on)"
bench_pg_start "$RUNDIR/pg"
"$SCIMGATE" migrate >"$OUT/migrate.log" 2>&1 || { cat "$OUT/migrate.log"; die "migrate failed"; }

PGB_URL="postgres://postgres@127.0.0.1:$PGPORT_BENCH/pgbench"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT_BENCH" -U postgres pgbench
DATABASE_URL=$PGB_URL "$SCIMGATE" migrate >>"$OUT/migrate.log" 2>&1
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v norgs="$ORGS" -f "$BENCH/pgbench/setup.sql" "$PGB_URL"

pgb() { # pgb NAME SCRIPT : tps of pgbench with POOL clients
    "$PGBIN/pgbench" -n -M prepared -c "$POOL" -j 2 -T "$SECS" -D norgs="$ORGS" \
        -f "$BENCH/pgbench/$2" "$PGB_URL" >"$OUT/pgbench-$1.txt" 2>&1 ||
        { cat "$OUT/pgbench-$1.txt"; die "pgbench $1 failed"; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/pgbench-$1.txt" | head -n 1
}
say "pgbench: the create transaction (users row + outbox event), $POOL clients, ${SECS}s"
CEIL_W=$(pgb create create.sql)
say "pgbench: read by (org_id, lower(user_name)), $POOL clients, ${SECS}s"
CEIL_R=$(pgb read read.sql)
# The database's own write latency at the latency run's write rate (600 of its
# 1,000 requests/s write), logged per transaction, for the p99 figure.
say "pgbench: the create transaction at 600/s, 10s, per-transaction latencies"
"$PGBIN/pgbench" -n -M prepared -c "$POOL" -j 2 -R 600 -T 10 -D norgs="$ORGS" -l \
    --log-prefix="$RUNDIR/pgblat" -f "$BENCH/pgbench/create.sql" "$PGB_URL" \
    >"$OUT/pgbench-create-600.txt" 2>&1 || die "pgbench at 600/s failed"
CEIL_P99=$(cat "$RUNDIR"/pgblat.* | awk '{ print $3 / 1000 }' | sort -n |
    awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", v[i] }')
rm -f "$RUNDIR"/pgblat.*
"$PGBIN/dropdb" -h 127.0.0.1 -p "$PGPORT_BENCH" -U postgres pgbench
bench_psql -c "CHECKPOINT" >/dev/null
echo "ceiling: $CEIL_W create tx/s, $CEIL_R reads/s, create p99 at 600/s $CEIL_P99 ms" |
    tee "$OUT/ceiling.txt"

# ----------------------------------------------------------- organizations
say "creating $ORGS organizations with a token each, and 10 for the webhook runs"
bench_orgs "$ORGS" "$RUNDIR/tokens" Bench
bench_orgs 10 "$RUNDIR/tokens-webhooks" Webhooks

LOADARGS=(--tokens "$RUNDIR/tokens" --conns "$CONNS" --db "$DATABASE_URL" --quiet --timeout 120)
cpu_ticks() { # cpu_ticks PID... : user + system clock ticks, summed
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}
pg_pids() { pgrep -P "$(head -n 1 "$BENCH_PGDIR/data/postmaster.pid")" | tr '\n' ' '; }
load() { # load NAME [args...] : runs scimgate-load; its exit status is recorded, not fatal
    local name=$1; shift
    local rc=0 pgp s0 p0 t0 t1 hz
    pgp=$(pg_pids); s0=$(cpu_ticks "$SERVE_PID"); p0=$(cpu_ticks $pgp); t0=$(date +%s.%N)
    "$LOADGEN" --url "$SCIM_URL" --json "$OUT/load-$name.json" --label "$name" "$@" \
        >"$OUT/load-$name.txt" 2>&1 || rc=$?
    t1=$(date +%s.%N); hz=$(getconf CLK_TCK)
    # CPU used meanwhile, in cores: scimgate and PostgreSQL's backends
    awk -v s=$(( $(cpu_ticks "$SERVE_PID") - s0 )) -v p=$(( $(cpu_ticks $pgp) - p0 )) \
        -v t0="$t0" -v t1="$t1" -v hz="$hz" \
        'BEGIN { printf "{\"scimgate_cores\": %.2f, \"postgres_cores\": %.2f}\n",
                 s / hz / (t1 - t0), p / hz / (t1 - t0) }' >"$OUT/cpu-$name.json"
    echo "$rc" >"$OUT/load-$name.rc"
    sed -n '/^operation/,/^checks/p' "$OUT/load-$name.txt" | sed "s/^/  [$name] /" >&2
    [ "$rc" = 0 ] || printf '  [%s] exit status %s (see %s)\n' "$name" "$rc" "$OUT/load-$name.txt" >&2
}
jq_num() { # jq_num FILE EXPR : a number from a JSON file (python3, no jq needed)
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d.get(k, {}) if isinstance(d, dict) else {}
print(d if isinstance(d,(int,float)) else 0)' "$1" "$2" 2>/dev/null || echo 0
}
profile() { # profile NAME SECONDS : perf record of scimgate in the background
    [ "${BENCH_PROFILE:-0}" = 1 ] && command -v perf >/dev/null || return 0
    perf record -F 499 -g -p "$SERVE_PID" -o "$OUT/perf-$1.data" -- sleep "$2" \
        >/dev/null 2>&1 &
    PERF_PIDS+=($!)
}
PERF_PIDS=()
profile_report() {
    [ "${BENCH_PROFILE:-0}" = 1 ] || return 0
    local p
    for p in "${PERF_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    local f
    for f in "$OUT"/perf-*.data; do
        [ -f "$f" ] || continue
        { perf report -i "$f" --no-children --stdio -g none --sort dso 2>/dev/null |
              grep '%' | grep -v '^#' | head -n 8
          echo
          perf report -i "$f" --no-children --stdio -g none --sort dso,symbol 2>/dev/null |
              grep '%' | grep -v '^#' | head -n 40; } >"${f%.data}.txt" || true
    done
}

COMMON_ENV=(SCIMGATE_DB_POOL_SIZE="$POOL" SCIMGATE_HTTP_TIMEOUT_S=120
            SCIMGATE_RATE_LIMIT_LOCAL=false)

# ------------------------------------------ creates, group commit off
say "scimgate: creates, group commit off, rate limit off"
bench_serve "$OUT/serve-nogc.log" "${COMMON_ENV[@]}" SCIMGATE_RATE_PER_TOKEN=0 \
    SCIMGATE_DB_GROUP_COMMIT=false
profile create-nogc 8
load create-nogc --mode create --prefix nogc --users "$CREATE_NOGC" "${LOADARGS[@]}"
bench_serve_stop

# ------------------------------------------ group commit on
say "scimgate: creates, group commit on, rate limit off"
bench_serve "$OUT/serve-gc.log" "${COMMON_ENV[@]}" SCIMGATE_RATE_PER_TOKEN=0
C0=$(metric scimgate_db_group_commits_total); W0=$(metric scimgate_db_group_commit_writes_total)
profile create-gc 8
load create-gc --mode create --prefix gc --users "$CREATE_GC" "${LOADARGS[@]}"
C1=$(metric scimgate_db_group_commits_total); W1=$(metric scimgate_db_group_commit_writes_total)
# The same without the password Okta sends: what PBKDF2 costs (informative).
load create-gc-nopw --mode create --prefix gcnp --users "$CREATE_GC" --no-password "${LOADARGS[@]}"
GC_BATCH=$(awk -v c=$((${C1:-0} - ${C0:-0})) -v w=$((${W1:-0} - ${W0:-0})) \
    'BEGIN { printf "%.1f", (c > 0 ? w / c : 0) }')

say "scimgate: filter lookups, ${SECS}s"
profile lookup 8
load lookup --mode lookup --prefix gc --users "$CREATE_GC" --duration "$SECS" "${LOADARGS[@]}"

say "scimgate: Okta flow at 1,000 requests/s over $ORGS tokens (latency)"
load latency --mode okta --prefix lat --users 60 --rate 1000 "${LOADARGS[@]}" --conns 8

say "scimgate: $IDLE idle keep-alive connections"
RSS0=$(vm_kb "$SERVE_PID" VmRSS)
load idle --mode idle --idle "$IDLE" --duration 6 --ready-file "$RUNDIR/idle.ready" &
IDLE_PID=$!
for _ in $(seq 1 600); do [ -f "$RUNDIR/idle.ready" ] && break; sleep 0.1; done
sleep 2
RSS_IDLE=$(vm_kb "$SERVE_PID" VmRSS)
OPEN_FDS=$(ls "/proc/$SERVE_PID/fd" 2>/dev/null | wc -l)
wait "$IDLE_PID" || true
IDLE_OK=$(jq_num "$OUT/load-idle.json" idle_connected)

say "webhooks: endpoint + receiver, Okta flow and group pushes on 10 more organizations"
RX_PORT=$(bench_port)
# (retried: the bootstrap admin key may be stored a moment after /readyz answers)
for _ in $(seq 1 50); do
    EP=$(curl -sf -X POST "$SCIM_URL/v1/webhook-endpoints" \
        -H "Authorization: Bearer $SCIMGATE_ADMIN_KEY" -H "Content-Type: application/json" \
        -d "{\"url\":\"http://127.0.0.1:$RX_PORT/hooks\",\"events\":null,\"organization_id\":null}") &&
        break
    sleep 0.2
done
SECRET=$(printf '%s' "$EP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
"$RECEIVER" --secret "$SECRET" --listen "127.0.0.1:$RX_PORT" --record "$OUT/receiver.jsonl" \
    >/dev/null 2>"$OUT/receiver.log" &
BENCH_PIDS+=($!)
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$RX_PORT/" >/dev/null && break; sleep 0.1; done
WHARGS=(--tokens "$RUNDIR/tokens-webhooks" --conns "$CONNS" --db "$DATABASE_URL" --quiet
        --record "$OUT/receiver.jsonl" --drain-timeout 60)
load webhooks-okta --mode okta --prefix wh --users 100 "${WHARGS[@]}"
load webhooks-groups --mode groups --prefix wh --users 100 --groups 3 "${WHARGS[@]}"
load import --mode import --tokens "$RUNDIR/tokens-webhooks" --conns 1 --db "$DATABASE_URL" --quiet
bench_serve_stop

# ------------------------------------------ rate limit kept (default 100/s)
say "scimgate: rate limit 100/s per token (default), $ORGS tokens, closed loop"
bench_serve "$OUT/serve-limit.log" "${COMMON_ENV[@]}"
load limit-50 --mode discovery --duration 10 "${LOADARGS[@]}" --conns 2
say "scimgate: one token offered 200 requests/s"
load limit-1 --mode discovery --duration 5 --orgs 1 --rate 200 --conns 64 \
    --tokens "$RUNDIR/tokens" --quiet
bench_serve_stop
profile_report

# ------------------------------------------------------------------ summary
ELAPSED=$(( $(date +%s) - START ))
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- gateway storage webhooks migrations 2>/dev/null | wc -l)
export COMMIT DIRTY
export CEIL_P99
python3 - "$OUT" "$CEIL_W" "$CEIL_R" "$GC_BATCH" "${RSS0:-0}" "${RSS_IDLE:-0}" "$IDLE" \
    "${IDLE_OK:-0}" "${OPEN_FDS:-0}" "$ORGS" "$POOL" "$ELAPSED" <<'PY'
import json, os, platform, subprocess, sys
out, ceil_w, ceil_r, gc_batch, rss0, rss_idle, idle, idle_ok, fds, orgs, pool, elapsed = sys.argv[1:]
ceil_w, ceil_r = float(ceil_w), float(ceil_r)
def load(name):
    try: return json.load(open(os.path.join(out, f"load-{name}.json")))
    except Exception: return {}
def kind(doc, k, f):
    return doc.get("kinds", {}).get(k, {}).get(f, 0)
def cpu(name):
    try:
        c = json.load(open(os.path.join(out, f"cpu-{name}.json")))
        return "cpu: scimgate %.2f, postgres %.2f cores" % (c["scimgate_cores"], c["postgres_cores"])
    except Exception: return ""
def verified(doc):
    v = doc.get("verify")
    return "" if v is None else ("checks ok" if v.get("ok") else "CHECKS FAILED")
rows = []
def row(name, value, unit, ratio, target, ok, note=""):
    rows.append(dict(figure=name, value=value, unit=unit, ratio=ratio, target=target,
                     result="PASS" if ok else "MISS", note=note))
nogc, gc, lk, lat = load("create-nogc"), load("create-gc"), load("lookup"), load("latency")
c1 = kind(nogc, "create", "ops_per_s"); c2 = kind(gc, "create", "ops_per_s")
row("creates/s, group commit off", round(c1), "ops/s", round(c1 / ceil_w, 2), ">= 0.9 x ceiling",
    c1 >= 0.9 * ceil_w, "%s; %s" % (verified(nogc), cpu("create-nogc")))
row("creates/s, group commit on", round(c2), "ops/s", round(c2 / ceil_w, 2), ">= 2 x ceiling",
    c2 >= 2 * ceil_w, f"avg batch {gc_batch} writes/commit; {verified(gc)}; {cpu('create-gc')}")
np = load("create-gc-nopw")
c3 = kind(np, "create", "ops_per_s")
row("creates/s, group commit on, no password", round(c3), "ops/s", round(c3 / ceil_w, 2),
    "(informative)", True, "what hashing Okta's password costs; %s; %s" % (verified(np), cpu("create-gc-nopw")))
rows[-1]["result"] = "info"
l = kind(lk, "lookup", "ops_per_s")
row("filter lookups/s", round(l), "ops/s", round(l / ceil_r, 2), ">= 0.7 x read ceiling",
    l >= 0.7 * ceil_r, cpu("lookup"))
p99 = max([v.get("p99_ms", 0) for v in lat.get("kinds", {}).values()] or [0])
allp = sorted(lat.get("kinds", {}).items())
row("p99 at 1,000 ops/s over %s tokens (Okta flow)" % orgs, round(p99, 1), "ms (worst kind)",
    "", "< 25 ms", 0 < p99 < 25 and lat.get("errors", 1) == 0,
    "PostgreSQL's own create p99 at 600/s: %s ms; achieved %.0f ops/s; " % (os.environ.get("CEIL_P99"), lat.get("ops_per_s", 0)) +
    ", ".join("%s %.1f" % (k, v["p99_ms"]) for k, v in allp))
rss = int(rss_idle) / 1024
row("VmRSS with %s idle connections" % idle, round(rss, 1), "MB", "", "< 64 MB",
    0 < rss < 64 and int(idle_ok) == int(idle),
    "%s connected, %s fds open, %.1f MB before" % (idle_ok, fds, int(rss0) / 1024))
lim = load("limit-50")
ok50 = kind(lim, "discovery", "ops_per_s")
row("%s tokens x 100/s, rate limit on" % orgs, round(ok50), "ops/s", round(ok50 / (100 * int(orgs)), 2),
    "~%d ops/s (0.9-1.1)" % (100 * int(orgs)), 0.9 <= ok50 / (100 * int(orgs)) <= 1.1,
    "%d x 429" % lim.get("r429", 0))
l1 = load("limit-1")
ok1 = kind(l1, "discovery", "ops_per_s")
row("1 token offered 200/s", round(ok1), "ops/s", "", "~100 ok/s and 429s",
    l1.get("r429", 0) > 0 and 80 <= ok1 <= 130, "%d x 429" % l1.get("r429", 0))
wo, wg = load("webhooks-okta"), load("webhooks-groups")
def ev(doc):
    v = doc.get("verify", {})
    return v.get("events_in_outbox", 0), v.get("events_received", 0), v.get("events_duplicated", 0), v.get("ok", False), v.get("delivery_drain_s", 0)
e1, e2 = ev(wo), ev(wg)
row("webhook events delivered", e1[1] + e2[1], "events", "", "all, no duplicates",
    e1[3] and e2[3] and e1[0] + e2[0] == e1[1] + e2[1] and e1[2] + e2[2] == 0,
    "outbox %d, duplicates %d, drain %.1f s + %.1f s" % (e1[0] + e2[0], e1[2] + e2[2], e1[4], e2[4]))
imp = load("import")
row("import pages (count=100)", round(kind(imp, "import_page", "p99_ms"), 1), "ms p99", "", "",
    imp.get("errors", 1) == 0 and bool(imp.get("verify", {}).get("ok")), verified(imp))
def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except Exception: pass
    return platform.processor()
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
disk = subprocess.run(["df", "-h", "--output=source,fstype,size", out], capture_output=True, text=True).stdout.splitlines()[-1]
machine = dict(nproc=os.cpu_count(), cpu=cpu_model(), ram_mb=mem, disk=" ".join(disk.split()),
               kernel=platform.release(), load_avg=os.getloadavg())
summary = dict(ceiling=dict(create_tx_per_s=ceil_w, reads_per_s=ceil_r, pgbench_clients=int(pool),
                            create_p99_ms_at_600_per_s=float(os.environ.get("CEIL_P99") or 0)),
               figures=rows, machine=machine, elapsed_s=int(elapsed),
               commit=os.environ.get("COMMIT"), uncommitted_source_files=int(os.environ.get("DIRTY", "0")))
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
lines = ["PostgreSQL ceiling (pgbench, %s clients, synchronous_commit on): %.0f create tx/s, %.0f reads/s;"
         " create p99 at 600 tx/s: %s ms" % (pool, ceil_w, ceil_r, os.environ.get("CEIL_P99")), ""]
lines.append("%-44s %9s %-16s %6s  %-24s %-4s  %s" % ("figure", "value", "unit", "ratio", "target", "", "note"))
for r in rows:
    lines.append("%-44s %9s %-16s %6s  %-24s %-4s  %s" % (r["figure"], r["value"], r["unit"], r["ratio"],
                 r["target"], r["result"], r["note"]))
lines.append("")
lines.append("scimgate commit %s (%s uncommitted source files)" % (os.environ.get("COMMIT"), os.environ.get("DIRTY")))
lines.append("machine: %d cores, %s, %d MB RAM, disk %s; load average at the end %.2f %.2f %.2f; run %s s"
             % (machine["nproc"], machine["cpu"], mem, machine["disk"], *machine["load_avg"], elapsed))
open(os.path.join(out, "summary.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results: ${OUT#"$ROOT"/}"
