#!/usr/bin/env bash
# The whole test suite: set up the environment, check the package matches the notebooks, run every notebook's tests,
# then the pytest suite (CLIs, downloads against a local server, multi-process tests, docs, packaging).
# Extra arguments go to pytest. SFX_SLOW=1 also runs the notebooks' '#| slow' cells.
source "$(dirname "$0")/env.sh"
echo "[test] 1/3 library in sync with notebooks (nbdev_export must change nothing)"
snap="$(mktemp -d)"; cp -r sequence_fx "$snap/"
nbdev_export
if ! diff -r -x __pycache__ "$snap/sequence_fx" sequence_fx >/dev/null; then
  diff -r -x __pycache__ "$snap/sequence_fx" sequence_fx | head -40
  echo "[test] FAIL: sequence_fx/ differs from what the notebooks export; run nbdev_export and commit" >&2
  exit 1
fi
rm -rf "$snap"
echo "[test] 2/3 nbdev_test (all notebooks)"
nbdev_test --n_workers 2 --timing ${SFX_SLOW:+--flags slow}
echo "[test] 3/3 pytest tests/"
python -m pytest tests -q -p no:cacheprovider "$@"
