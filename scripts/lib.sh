# Shared by scripts/test and scripts/bench: starting, or installing (Debian/Ubuntu,
# apt-get), what they need — PostgreSQL, Redis, an SMTP server for the tests, Node.js and
# Chromium. Sourced, not run.

say() { printf '\n== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; } # with the time since the script started
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...: up to 30 s for COMMAND to succeed
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "error: $what did not come up" >&2; return 1
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }

ensure_postgres() {
  if [ -n "${SALON_TEST_POSTGRES:-}" ]; then return; fi
  if command -v pg_isready >/dev/null && pg_up; then return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    say "installing PostgreSQL"
    apt_install postgresql
    # A fresh cluster asks for passwords on TCP; the tests connect as postgres without
    # one, on loopback only.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+$/\1trust/' "$hba"
    done
  fi
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_for "PostgreSQL on 127.0.0.1:5432" pg_up
}

ensure_redis() {
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  if ! command -v redis-server >/dev/null; then
    say "installing Redis"
    apt_install redis-server
  fi
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_for "Redis on 127.0.0.1:6379" redis-cli -h 127.0.0.1 -p 6379 ping
}

ensure_smtp_server() {
  local venv=${XDG_CACHE_HOME:-$HOME/.cache}/salon/test-python
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
    export SALON_TEST_PYTHON="$venv/bin/python"; return
  fi
  say "installing aiosmtpd (a real SMTP server for the e-mail tests)"
  command -v python3 >/dev/null || apt_install python3
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check aiosmtpd
  export SALON_TEST_PYTHON="$venv/bin/python"
}

ensure_browser() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "installing Node.js (for the browser tests)"
    apt_install nodejs npm
  fi
  if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    say "installing Chromium (for the browser tests)"
    apt_install chromium
  fi
  local web=clients/web
  if [ ! -d "$web/node_modules/playwright-core" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
    say "installing the browser tests' npm packages"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

