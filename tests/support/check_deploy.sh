#!/usr/bin/env bash
# Validates the deployment files without a Docker engine:
#   docker-compose.yml   `docker-compose config -q`, then the stack's shape
#                        (services, health checks, start order, ports, volume)
#   scripts/Dockerfile   hadolint when installed, and always a structural check
#                        (Debian 12 bases, multi-stage, non-root user, apt hygiene,
#                        no compilers in the final stage)
#   .dockerignore        excludes build trees, .local and .git
#   scripts/scimgate.service   `systemd-analyze verify` when systemd is there
# Usage: check_deploy.sh [REPO_ROOT]. Every problem is printed; exits 1 if any.
set -uo pipefail

ROOT=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT" || exit 1
failures=0
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT

pass() { printf 'ok    %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*" >&2; failures=$((failures + 1)); }
note() { printf 'note  %s\n' "$*"; }

# ---- docker-compose.yml ----

compose=()
if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
fi

if [ ! -f docker-compose.yml ]; then
    fail "docker-compose.yml is missing at the top of the repository"
elif [ ${#compose[@]} -eq 0 ]; then
    fail "docker-compose is not installed (Debian package docker-compose); cannot validate docker-compose.yml"
else
    # Variables the file reads are left unset so the defaults are what is checked.
    if out=$(env -u SCIMGATE_ADMIN_KEY -u SCIMGATE_PUBLIC_URL -u WEBHOOK_SECRET \
            -u POSTGRES_PASSWORD -u SCIMGATE_BIND -u SCIMGATE_LOG_LEVEL \
            "${compose[@]}" -f docker-compose.yml config -q 2>&1); then
        pass "docker-compose.yml: ${compose[*]} config -q accepts it"
    else
        fail "docker-compose.yml: ${compose[*]} config rejects it:"
        printf '%s\n' "$out" >&2
    fi
    resolved=$(env -u SCIMGATE_ADMIN_KEY -u SCIMGATE_PUBLIC_URL -u WEBHOOK_SECRET \
            -u POSTGRES_PASSWORD -u SCIMGATE_BIND -u SCIMGATE_LOG_LEVEL \
            "${compose[@]}" -f docker-compose.yml config 2>/dev/null)
    if [ -n "$resolved" ]; then
        printf '%s\n' "$resolved" >"$tmpdir/compose.yml"
        if ! out=$(python3 - "$tmpdir/compose.yml" <<'PY' 2>&1
import sys, yaml

doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
svc = doc.get("services", {})
errors = []

def need(cond, msg):
    if not cond:
        errors.append(msg)

for name in ("postgres", "migrate", "gateway", "worker", "receiver"):
    need(name in svc, "no service named %s" % name)

def depends(service, on, condition):
    d = svc.get(service, {}).get("depends_on", {})
    return isinstance(d, dict) and d.get(on, {}).get("condition") == condition

def env(service):
    return svc.get(service, {}).get("environment", {}) or {}

def command(service):
    c = svc.get(service, {}).get("command", [])
    return c.split() if isinstance(c, str) else list(c or [])

pg = svc.get("postgres", {})
need(str(pg.get("image", "")).startswith("postgres:15"), "postgres must use a postgres:15 image")
need(any("/var/lib/postgresql/data" in str(v) for v in pg.get("volumes", [])),
     "postgres keeps its data in no volume")
need("pg_isready" in " ".join(map(str, pg.get("healthcheck", {}).get("test", []))),
     "postgres has no pg_isready health check")
need(bool(doc.get("volumes")), "no named volume is declared")

for name in ("migrate", "gateway", "worker", "receiver"):
    b = svc.get(name, {}).get("build", {})
    need(isinstance(b, dict) and str(b.get("dockerfile", "")).endswith("scripts/Dockerfile"),
         "%s is not built from scripts/Dockerfile" % name)

need(command("migrate")[:1] == ["migrate"], "migrate does not run `scimgate migrate`")
need(depends("migrate", "postgres", "service_healthy"),
     "migrate does not wait for postgres to be healthy")
need(svc.get("migrate", {}).get("restart", "no") == "no", "migrate must not restart")

for name, cmd in (("gateway", "serve"), ("worker", "worker")):
    need(command(name)[:1] == [cmd], "%s does not run `scimgate %s`" % (name, cmd))
    need(depends(name, "migrate", "service_completed_successfully"),
         "%s does not wait for migrate to complete successfully" % name)
    need(str(env(name).get("DATABASE_URL", "")).startswith("postgres://"),
         "%s has no DATABASE_URL" % name)
    need("@postgres:" in str(env(name).get("DATABASE_URL", "")),
         "%s does not reach the postgres service" % name)

gw = env("gateway")
need(gw.get("SCIMGATE_LISTEN") == "0.0.0.0:8080", "gateway must listen on 0.0.0.0:8080")
need(str(gw.get("SCIMGATE_PUBLIC_URL", "")).startswith("http"), "gateway has no SCIMGATE_PUBLIC_URL")
key = str(gw.get("SCIMGATE_ADMIN_KEY", ""))
need(key.startswith("sk_") and len(key) >= 24,
     "gateway needs a default SCIMGATE_ADMIN_KEY of the form sk_... (24+ characters)")
ports = svc.get("gateway", {}).get("ports", [])
need(any(str(p.get("target") if isinstance(p, dict) else p).split(":")[-1].split("/")[0] == "8080"
         for p in ports), "gateway does not publish port 8080")
need("test" in svc.get("gateway", {}).get("healthcheck", {}) and
     svc["gateway"]["healthcheck"]["test"][0] != "NONE", "gateway has no health check")

rc = svc.get("receiver", {})
need(str(rc.get("entrypoint", [""])[0]) == "scimgate-receiver",
     "receiver does not run scimgate-receiver")
need("WEBHOOK_SECRET" in env("receiver"), "receiver does not take WEBHOOK_SECRET")
need(any("9000" in str(p.get("target") if isinstance(p, dict) else p) for p in rc.get("ports", [])),
     "receiver does not publish port 9000")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
        ); then
            while IFS= read -r line; do fail "docker-compose.yml: $line"; done <<<"$out"
        else
            pass "docker-compose.yml: five services, health checks, start order, ports and volume"
        fi
    fi
fi

# ---- scripts/Dockerfile ----

DOCKERFILE=scripts/Dockerfile
if [ ! -f "$DOCKERFILE" ]; then
    fail "$DOCKERFILE is missing"
else
    if command -v hadolint >/dev/null 2>&1; then
        if out=$(hadolint "$DOCKERFILE" 2>&1); then
            pass "$DOCKERFILE: hadolint finds nothing"
        else
            fail "$DOCKERFILE: hadolint:"
            printf '%s\n' "$out" >&2
        fi
    else
        note "hadolint is not installed (Debian 12 does not package it); structural check only"
    fi
    if ! out=$(python3 - "$DOCKERFILE" <<'PY' 2>&1
import json, re, sys

path = sys.argv[1]
errors = []

# Join continuation lines; drop comments and blank lines (parser directives too).
instructions = []
buf, start = "", 0
for n, raw in enumerate(open(path, encoding="utf-8"), 1):
    line = raw.rstrip("\n")
    if not buf and (not line.strip() or line.lstrip().startswith("#")):
        continue
    if buf and line.lstrip().startswith("#"):
        continue
    if not buf:
        start = n
    if line.endswith("\\"):
        buf += line[:-1] + " "
        continue
    buf += line
    word, _, rest = buf.strip().partition(" ")
    instructions.append((start, word.upper(), rest.strip()))
    buf = ""
if buf:
    errors.append("line %d: the file ends inside a continued line" % start)

stages = []
for n, word, rest in instructions:
    if word == "FROM":
        stages.append({"line": n, "from": rest, "ins": []})
    elif not stages:
        if word != "ARG":
            errors.append("line %d: %s before the first FROM" % (n, word))
    else:
        stages[-1]["ins"].append((n, word, rest))

if len(stages) < 2:
    errors.append("not multi-stage: build and runtime need their own FROM")
names = set()
for st in stages:
    m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", st["from"], re.I)
    if not m:
        errors.append("line %d: cannot read FROM %s" % (st["line"], st["from"]))
        continue
    image, alias = m.group(1), m.group(2)
    if alias:
        names.add(alias.lower())
    if image.lower() in names:
        continue
    if not re.match(r"^(docker\.io/(library/)?)?debian:(bookworm|12)([-.][\w.-]*)?(@sha256:[0-9a-f]{64})?$", image):
        errors.append("line %d: base image %s is not pinned to Debian 12 (debian:bookworm...)"
                      % (st["line"], image))
if len(stages) >= 2 and not re.search(r"\sAS\s+\S+", stages[0]["from"], re.I):
    errors.append("line %d: the build stage has no name (FROM ... AS build)" % stages[0]["line"])

for st in stages:
    for n, word, rest in st["ins"]:
        if word == "RUN":
            cmds = re.split(r"&&|;|\|\|", rest)
            has_update = any(re.search(r"\bapt-get\s+update\b", c) for c in cmds)
            installs = [c for c in cmds if re.search(r"\bapt-get\s+(-\S+\s+)*install\b", c)]
            for c in installs:
                if "--no-install-recommends" not in c:
                    errors.append("line %d: apt-get install without --no-install-recommends" % n)
                if not re.search(r"(^|\s)(-y|--yes|--assume-yes|-\w*y\w*)(\s|$)", c):
                    errors.append("line %d: apt-get install without -y" % n)
            if has_update and not installs:
                errors.append("line %d: apt-get update in a RUN of its own (stale cache layer)" % n)
            if (has_update or installs) and "rm -rf /var/lib/apt/lists" not in rest:
                errors.append("line %d: apt lists are not removed (rm -rf /var/lib/apt/lists/*)" % n)
            if re.search(r"\bapt\s+(install|update|upgrade)\b", rest):
                errors.append("line %d: use apt-get, not apt, in scripts" % n)
            if re.search(r"\bapt-get\s+(dist-)?upgrade\b", rest):
                errors.append("line %d: apt-get upgrade in an image build" % n)
            if re.search(r"\bsudo\b", rest):
                errors.append("line %d: sudo in a RUN" % n)
            if re.search(r"(^|\s)cd\s", rest):
                errors.append("line %d: cd in a RUN; use WORKDIR" % n)
        if word == "ADD" and re.search(r"https?://", rest):
            errors.append("line %d: ADD of a URL; download in a RUN and check it" % n)
        if word == "WORKDIR" and not rest.startswith("/"):
            errors.append("line %d: WORKDIR must be absolute" % n)
        if word in ("CMD", "ENTRYPOINT"):
            try:
                json.loads(rest)
            except ValueError:
                errors.append("line %d: %s must use the JSON (exec) form" % (n, word))

if len(stages) >= 2:
    final = stages[-1]["ins"]
    words = [w for _, w, _ in final]
    text = "\n".join(r for _, w, r in final if w == "RUN")
    users = [r for _, w, r in final if w == "USER"]
    if not users:
        errors.append("the final stage has no USER: the container would run as root")
    elif users[-1].split(":")[0] in ("root", "0"):
        errors.append("the final stage runs as root (USER %s)" % users[-1])
    for tool in ("gcc", "g++", "clang", "make", "cmake", "pkg-config", "build-essential"):
        if re.search(r"(^|\s)%s(\s|$)" % re.escape(tool), text):
            errors.append("the final stage installs the build tool %s" % tool)
    if re.search(r"\S+-dev(\s|$)", text):
        errors.append("the final stage installs -dev packages")
    for lib in ("libevent-2.1-7", "libevent-openssl-2.1-7", "libpq5", "libjansson4", "libssl3",
                "ca-certificates"):
        if not re.search(r"(^|\s)%s(\s|$)" % re.escape(lib), text):
            errors.append("the final stage does not install %s" % lib)
    if not any(w == "COPY" and "--from=" in r for _, w, r in final):
        errors.append("the final stage copies nothing from the build stage")
    ep = [r for _, w, r in final if w == "ENTRYPOINT"]
    if not ep or json.loads(ep[-1] if ep[-1].startswith("[") else "[]")[:1] != ["scimgate"]:
        errors.append('the final stage has no ENTRYPOINT ["scimgate"]')
    if not any(w == "EXPOSE" and "8080" in r.split() for _, w, r in final):
        errors.append("the final stage does not EXPOSE 8080")
    if "HEALTHCHECK" not in words:
        errors.append("the final stage has no HEALTHCHECK")
    if "LABEL" not in words:
        errors.append("the final stage has no LABEL")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY
    ); then
        while IFS= read -r line; do fail "$DOCKERFILE: $line"; done <<<"$out"
    else
        pass "$DOCKERFILE: multi-stage on debian:bookworm, non-root, apt hygiene, runtime libraries only"
    fi
fi

# ---- .dockerignore ----

if [ ! -f .dockerignore ]; then
    fail ".dockerignore is missing: the build context would carry .git, build trees and .local"
else
    for entry in .git .local build; do
        grep -qxE "/?${entry//./\\.}/?(\*\*)?" .dockerignore ||
            fail ".dockerignore does not exclude $entry"
    done
    pass ".dockerignore excludes .git, .local and build trees"
fi

# ---- scripts/scimgate.service ----

UNIT=scripts/scimgate.service
if [ ! -f "$UNIT" ]; then
    fail "$UNIT is missing"
else
    for want in '^Type=notify$' '^Restart=on-failure$' '^EnvironmentFile=/etc/scimgate/env$' \
        '^NoNewPrivileges=yes$' '^ProtectSystem=strict$' '^PrivateTmp=yes$' '^KillSignal=SIGTERM$' \
        '^TimeoutStopSec='; do
        grep -qE "$want" "$UNIT" || fail "$UNIT: no line matching $want"
    done
    stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$UNIT")
    if [ -n "$stop" ] && [ "$stop" -le 10 ]; then
        fail "$UNIT: TimeoutStopSec=$stop does not leave room for the 10 s drain"
    fi
    if command -v systemd-analyze >/dev/null 2>&1; then
        # verify insists that ExecStart's binary exists; point it at one that does.
        sed "s#/usr/local/bin/scimgate#$(command -v true)#" "$UNIT" >"$tmpdir/scimgate.service"
        out=$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$tmpdir/scimgate.service" 2>&1)
        if [ -n "$out" ]; then
            fail "$UNIT: systemd-analyze verify:"
            printf '%s\n' "$out" >&2
        else
            pass "$UNIT: systemd-analyze verify finds nothing"
        fi
    else
        note "systemd-analyze is not installed; $UNIT checked by its lines only"
    fi
fi

if [ "$failures" -gt 0 ]; then
    printf '\ncheck_deploy: %d problem(s) in the deployment files\n' "$failures" >&2
    exit 1
fi
printf 'check_deploy: deployment files are valid\n'
