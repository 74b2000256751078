# Sourced by tools/quickstart.sh and tools/test.sh: create or refresh the project's virtual environment.
# SFX_VENV overrides its location (default: .venv in the repository root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SFX_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[env] creating $VENV"
  "$PY" -m venv "$VENV"
fi
# torch first, as the CPU build: a plain 'torch' requirement on a machine without torch could pull a CUDA build of GBs.
if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
  echo "[env] installing torch (CPU build)"
  "$VENV/bin/pip" install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
  "$VENV/bin/python" -W ignore -c "import torch" # fail loudly if that did not work
fi
# the package, editable, with its dev tools; quiet when nothing changed
stamp="$VENV/.sfx-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/settings.ini" -nt "$stamp" ] || [ "$ROOT/setup.py" -nt "$stamp" ]; then
  echo "[env] installing sequence_fx[dev] (editable)"
  (cd "$ROOT" && "$VENV/bin/pip" install -q -e ".[dev]" 2>&1 | grep -v "is ignored" || true)
  "$VENV/bin/python" -c "import sequence_fx" && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
