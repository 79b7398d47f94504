#!/usr/bin/env bash
# bench/groups.sh - large groups: PUT /Groups/{id} with 10,000 members, PATCH
# adding 1,000 members to a group of 100,000, and GET of a group of 100,000
# members, each on a warm keep-alive connection, timed to the last byte, with
# scimgate's peak resident memory.
#
#   bench/groups.sh            (about a minute; REPEAT=3 runs of each request)
#
# Setup that is not measured goes straight to the database: 113,000 users of
# one organization and the first 100,000 memberships of the big group are
# inserted by SQL, so the run stays short. Everything measured goes through
# scimgate. Results: bench/results/<timestamp>-groups/summary.{txt,json}.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

REPEAT=${REPEAT:-3}
BIG=${BENCH_BIG_GROUP:-100000}
PUT_N=${BENCH_PUT_MEMBERS:-10000}
ADD_N=${BENCH_ADD_MEMBERS:-1000}
USERS=$((BIG + REPEAT * ADD_N + 2 * PUT_N))

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$BENCH/results/$STAMP-groups
mkdir -p "$OUT"
RUNDIR=$(mktemp -d /tmp/scimgate-groups.XXXXXX)
chmod 755 "$RUNDIR"
trap 'bench_cleanup; rm -rf "$RUNDIR"' EXIT
trap 'exit 130' INT TERM
bench_watchdog "${BENCH_LIMIT_S:-300}"

bench_build
export SCIMGATE_ADMIN_KEY="sk_bench_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
say "starting PostgreSQL 15 (durable settings)"
bench_pg_start "$RUNDIR/pg"
"$SCIMGATE" migrate >"$OUT/migrate.log" 2>&1 || { cat "$OUT/migrate.log"; die "migrate failed"; }
bench_orgs 1 "$RUNDIR/tokens" Groups
read -r ORG TOKEN <"$RUNDIR/tokens"

say "seeding $USERS users by SQL (setup, not measured)"
bench_psql -v org="$ORG" -v n="$USERS" <<'SQL'
INSERT INTO users (org_id, id, user_name, external_id, doc)
SELECT :'org', 'usr_bench' || lpad(i::text, 7, '0'), 'member' || i || '@example.com', 'ext' || i,
       jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
                          'userName', 'member' || i || '@example.com',
                          'name', jsonb_build_object('givenName', 'Member', 'familyName', i::text),
                          'displayName', 'Member ' || i, 'active', true)
FROM generate_series(1, :n) AS i;
VACUUM ANALYZE users;
SQL
uid() { printf 'usr_bench%07d' "$1"; }
members_json() { # members_json FIRST COUNT : [{"value":"usr_..."},...]
    python3 -c 'import sys
a, n = int(sys.argv[1]), int(sys.argv[2])
print("[" + ",".join("{\"value\":\"usr_bench%07d\"}" % i for i in range(a, a + n)) + "]")' "$1" "$2"
}

bench_serve "$OUT/serve.log" SCIMGATE_RATE_PER_TOKEN=0 SCIMGATE_DB_QUERY_TIMEOUT_MS=60000 \
    SCIMGATE_MAX_BODY_BYTES=4194304
AUTH="Authorization: Bearer $TOKEN"
CT="Content-Type: application/scim+json"
new_group() {
    curl -sf -X POST "$SCIM_URL/scim/v2/Groups" -H "$AUTH" -H "$CT" \
        -d "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"$1\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
G_PUT=$(new_group "Put target")
G_BIG=$(new_group "Everyone")
say "seeding $BIG memberships of the big group by SQL (setup, not measured)"
bench_psql -v org="$ORG" -v g="$G_BIG" -v n="$BIG" <<'SQL'
INSERT INTO group_members (org_id, group_id, member_id, member_type)
SELECT :'org', :'g', 'usr_bench' || lpad(i::text, 7, '0'), 'User' FROM generate_series(1, :n) AS i;
VACUUM ANALYZE group_members;
SQL

# One curl per kind: a warm-up request opens the keep-alive connection, then
# REPEAT measured requests reuse it. -w prints status, bytes, time to first
# and last byte per transfer.
W='%{http_code} %{size_download} %{time_starttransfer} %{time_total} %{num_connects}\n'
timed() { # timed NAME curl-args-for-each-measured-request... (separated by ---)
    local name=$1; shift
    local args=(-s -o /dev/null -w "$W" -H "$AUTH" "$SCIM_URL/scim/v2/ServiceProviderConfig")
    local one=()
    for a in "$@" ---; do
        if [ "$a" = --- ]; then
            [ ${#one[@]} -gt 0 ] &&
                args+=(--next -s -o /dev/null -w "$W" -H "$AUTH" -H "$CT" "${one[@]}")
            one=()
        else
            one+=("$a")
        fi
    done
    curl "${args[@]}" | tail -n +2 >"$OUT/$name.txt"
    sed "s/^/  [$name] /" "$OUT/$name.txt" >&2
}

RSS_PEAK() { vm_kb "$SERVE_PID" VmHWM; }
say "PUT /Groups/{id} with $PUT_N members (alternating two member sets)"
put_args=()
for r in $(seq 1 "$REPEAT"); do
    first=$((BIG + REPEAT * ADD_N + 1 + (r % 2) * PUT_N))
    members_json "$first" "$PUT_N" |
        sed 's/^/{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Put target","members":/; s/$/}/' \
        >"$RUNDIR/put-$r.json"
    put_args+=(-X PUT --data-binary "@$RUNDIR/put-$r.json" "$SCIM_URL/scim/v2/Groups/$G_PUT" ---)
done
timed put "${put_args[@]}"
HWM_PUT=$(RSS_PEAK)

say "PATCH adding $ADD_N members to the group of $BIG"
patch_args=()
for r in $(seq 1 "$REPEAT"); do
    first=$((BIG + 1 + (r - 1) * ADD_N))
    members_json "$first" "$ADD_N" |
        sed 's/^/{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":/; s/$/}]}/' \
        >"$RUNDIR/patch-$r.json"
    patch_args+=(-X PATCH --data-binary "@$RUNDIR/patch-$r.json" "$SCIM_URL/scim/v2/Groups/$G_BIG" ---)
done
timed patch "${patch_args[@]}"
HWM_PATCH=$(RSS_PEAK)

say "GET /Groups/{id} of $((BIG + REPEAT * ADD_N)) members"
get_args=()
for r in $(seq 1 "$REPEAT"); do get_args+=("$SCIM_URL/scim/v2/Groups/$G_BIG" ---); done
timed get "${get_args[@]}"
HWM_GET=$(RSS_PEAK)
RSS_END=$(vm_kb "$SERVE_PID" VmRSS)
COUNT=$(bench_psql -c "SELECT count(*) FROM group_members WHERE group_id = '$G_BIG'")
PUTCOUNT=$(bench_psql -c "SELECT count(*) FROM group_members WHERE group_id = '$G_PUT'")
bench_serve_stop

python3 - "$OUT" "$HWM_PUT" "$HWM_PATCH" "$HWM_GET" "$RSS_END" "$COUNT" "$PUTCOUNT" \
    "$BIG" "$PUT_N" "$ADD_N" "$REPEAT" <<'PY'
import json, os, sys
out, hput, hpatch, hget, rss_end, count, putcount, big, put_n, add_n, rep = sys.argv[1:]
big, put_n, add_n, rep = int(big), int(put_n), int(add_n), int(rep)
def rows(name):
    r = []
    for line in open(os.path.join(out, name + ".txt")):
        code, size, ttfb, total, conns = line.split()
        r.append(dict(status=int(code), bytes=int(size), ttfb_ms=float(ttfb) * 1000,
                      total_ms=float(total) * 1000, new_connections=int(conns)))
    return r
res = {}
lines = ["%-46s %8s %8s %8s %10s %8s %s" % ("request", "min ms", "med ms", "max ms", "bytes", "status", "peak VmRSS")]
for name, label, hwm in (("put", "PUT group, %d members" % put_n, hput),
                         ("patch", "PATCH add %d to a group of %d" % (add_n, big), hpatch),
                         ("get", "GET group of %d members" % (big + rep * add_n), hget)):
    r = rows(name)
    t = sorted(x["total_ms"] for x in r)
    res[name] = dict(requests=r, min_ms=t[0], median_ms=t[len(t) // 2], max_ms=t[-1],
                     peak_rss_mb=int(hwm) / 1024)
    lines.append("%-46s %8.0f %8.0f %8.0f %10d %8s %.1f MB" % (label, t[0], t[len(t) // 2], t[-1],
                 r[-1]["bytes"], ",".join(sorted({str(x["status"]) for x in r})), int(hwm) / 1024))
ok = int(count) == big + rep * add_n and int(putcount) == put_n
lines.append("memberships after the run: big group %s (expected %d), PUT group %s (expected %d): %s"
             % (count, big + rep * add_n, putcount, put_n, "ok" if ok else "MISMATCH"))
lines.append("reused keep-alive connection: %s" % all(x["new_connections"] == 0 for n in res for x in res[n]["requests"]))
res.update(ok=ok, rss_end_mb=int(rss_end) / 1024)
json.dump(res, open(os.path.join(out, "summary.json"), "w"), indent=2)
open(os.path.join(out, "summary.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
echo "results: ${OUT#"$ROOT"/}"
