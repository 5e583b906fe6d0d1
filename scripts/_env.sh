# Shared by scripts/demo and scripts/test: a project venv with the package installed.
# Sourced, not run. Re-running is cheap: pip skips what is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${INTEGRITY_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3.11}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PKG... : installs the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_venv() {  # ensure_venv [EXTRAS] : venv at $VENV with the package installed editable
  local target="$ROOT" log
  [ -n "${1:-}" ] && target="$ROOT[$1]"
  if ! "$PYTHON_BIN" -c 'import ensurepip' 2>/dev/null; then apt_install python3.11-venv; fi
  [ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
  log="$(mktemp)"
  # --no-compile: byte-compiling all of torch costs a minute of CPU; Python compiles what it imports.
  if ! "$VENV/bin/python" -m pip install -q --no-compile -e "$target" >"$log" 2>&1; then
    cat "$log" >&2
    echo "pip install -e $target failed" >&2
    exit 1
  fi
  rm -f "$log"
}
