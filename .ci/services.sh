#!/usr/bin/env bash
# Install (from Debian, when missing) and start what the tests use:
#   PostgreSQL on 127.0.0.1:5432, user `postgres` without a password (trust, loopback only),
#   Redis on 127.0.0.1:6379 (no persistence), Debian's chromium for the browser tests, and
#   Maven for the Keycloak end-to-end tests.
# Idempotent: a machine that already has them running is left as it is.
# Used by `.ci/run` and `make test`; safe to run by hand.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Maven fetches Keycloak's server distribution for tests/e2e/test_keycloak.py (it also needs
# Java 21+, which Debian 12 does not package: the machine must bring one, see
# infra/keycloak/dist.py)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d 101: the packages' own service start (there is no systemd here) is skipped;
  # this script starts the servers itself below.
  as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  as_root rm -f /usr/sbin/policy-rc.d
fi

# --- PostgreSQL -------------------------------------------------------------------------
version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
if [ -z "$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main"')" ]; then
  log "creating PostgreSQL $version cluster main"
  as_root pg_createcluster "$version" main >/dev/null
fi
hba="/etc/postgresql/$version/main/pg_hba.conf"
marker="# oidc-bff-gateway tests: postgres on loopback without a password"
if ! as_root grep -qF "$marker" "$hba"; then
  log "allowing user postgres on 127.0.0.1 and ::1 without a password (test machine only)"
  # pg_hba.conf is read top-down; the first matching line wins, so these go first.
  as_root sh -c "{ printf '%s\n' '$marker' \
    'host all postgres 127.0.0.1/32 trust' 'host all postgres ::1/128 trust'; cat '$hba'; } \
    > '$hba.new' && chown postgres:postgres '$hba.new' && mv '$hba.new' '$hba'"
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    as_root pg_ctlcluster "$version" main reload
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 0.2
done
psql -w -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null \
  || { log "PostgreSQL is up but user postgres cannot log in on 127.0.0.1"; exit 1; }

# --- Redis ------------------------------------------------------------------------------
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile /tmp/redis-tests.log >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { log "Redis did not start"; exit 1; }

command -v chromium >/dev/null || { log "chromium is missing"; exit 1; }
log "PostgreSQL $version, Redis and $(chromium --version 2>/dev/null | head -n1) are ready"
