#!/usr/bin/env bash
# The whole test suite: set up the environment, check the package matches the notebooks, run every notebook's tests
# (tools/docs_build.py --check: the same execution renders and checks the docs pages), then the pytest suite (CLIs,
# downloads against a local server, multi-process tests, docs checker, packaging).
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
echo "[test] 2/3 notebooks: execute each once (any cell error fails), render the docs pages and check them"
# one execution serves the notebook tests and the docs checks (figures on every tutorial page, non-empty plotly,
# no stray ipywidgets/Bokeh/error output, API pages, a docment for every parameter); SFX_SLOW=1 adds '#| slow' cells
python tools/docs_build.py --check --workers 2
echo "[test] 3/3 pytest tests/ (${SFX_TEST_WORKERS:-2} workers)"
python -m pytest tests -q -p no:cacheprovider -n "${SFX_TEST_WORKERS:-2}" --durations=25 "$@"   # pytest-xdist: the tests are mostly single-threaded subprocesses
