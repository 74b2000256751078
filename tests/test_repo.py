"""Repository-level checks: README in sync with index.ipynb, docs render, the wheel carries every module."""
import subprocess, sys, venv, zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

def test_readme_in_sync_with_index():
    r = subprocess.run([sys.executable, "tools/sync_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

# The docs pages themselves are executed, rendered and checked once, by `tools/docs_build.py --check` in step 2 of
# tools/test.sh (the same run is the notebook test). Here: the checker can fail, and the parameter docs are complete.
sys.path.insert(0, str(ROOT / "tools"))
import docs_build

def _executed(tmp_path, name, outputs):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", outputs=[nbformat.from_dict(o) for o in outputs])]
    p = tmp_path / name; nbformat.write(nb, p); return p

def _plotly(data="[{\"type\": \"scatter\", \"y\": [1, 2]}]"):
    div = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    html = (f'<script>/** plotly.js v2 */ window.Plotly={{}};</script><div id="{div}" class="plotly-graph-div"></div>'
            f'<script>Plotly.newPlot( "{div}", {data}, {{}}, {{}})</script>')
    return {"output_type": "display_data", "data": {"text/html": html}, "metadata": {}}

def test_docs_checker_flags_what_it_must(tmp_path):
    ok = docs_build.check_outputs(_executed(tmp_path, "01_ok.ipynb", [_plotly()]))
    assert ok == []
    assert "without a single figure" in " ".join(docs_build.check_outputs(_executed(tmp_path, "02_nofig.ipynb", [])))
    assert docs_build.check_outputs(_executed(tmp_path, "index.ipynb", [])) == []          # only numbered tutorial pages need one
    assert "has no data" in " ".join(docs_build.check_outputs(_executed(tmp_path, "03_empty.ipynb", [_plotly("[]")])))
    stray = {"output_type": "stream", "name": "stderr", "text": "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets."}
    assert "IProgress not found" in " ".join(docs_build.check_outputs(_executed(tmp_path, "04_w.ipynb", [_plotly(), stray])))
    bokeh = {"output_type": "display_data", "data": {"text/html": "<div>Loading BokehJS ...</div>"}, "metadata": {}}
    assert "Loading BokehJS" in " ".join(docs_build.check_outputs(_executed(tmp_path, "05_b.ipynb", [_plotly(), bokeh])))
    err = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    assert "error output ValueError" in " ".join(docs_build.check_outputs(_executed(tmp_path, "06_e.ipynb", [_plotly(), err])))
    png = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}, "metadata": {}}
    assert docs_build.check_outputs(_executed(tmp_path, "07_png.ipynb", [png])) == []

def test_every_parameter_has_a_docment():
    assert docs_build.missing_docments("sequence_fx") == []

def test_test_suite_executes_notebooks_once_through_the_docs_check():
    sh = (ROOT / "tools/test.sh").read_text()
    assert "docs_build.py --check" in sh and "nbdev_test" not in sh.replace("as nbdev_test", "")
    assert not (ROOT / "tools/docs_check.py").exists()

def test_wheel_contains_every_module_and_imports_from_clean_venv(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (whl,) = (tmp_path / "dist").glob("sequence_fx-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    modules = sorted(p.name for p in (ROOT / "sequence_fx").glob("*.py"))
    assert all(f"sequence_fx/{m}" in names for m in modules), set(modules) - {n.split("/")[-1] for n in names}
    ep = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sfx-prepare" in zipfile.ZipFile(whl).read(ep).decode()
    env = tmp_path / "clean"
    venv.create(env, with_pip=True)
    r = subprocess.run([env / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(whl)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # dependencies come from this environment's site-packages via PYTHONPATH (.pth files there, like the editable
    # install, are not processed), so `sequence_fx` itself must come from the wheel
    site = next(p for p in sys.path if p.endswith("site-packages"))
    code = ("import importlib, pkgutil, sequence_fx; assert 'clean' in sequence_fx.__file__, sequence_fx.__file__; "
            "[importlib.import_module('sequence_fx.' + m.name) for m in pkgutil.iter_modules(sequence_fx.__path__)]; print('ok')")
    r = subprocess.run([env / "bin/python", "-c", code], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": site, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]
