"""Repository-level checks: README in sync with index.ipynb, docs render, the wheel carries every module."""
import subprocess, sys, venv, zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

def test_readme_in_sync_with_index():
    r = subprocess.run([sys.executable, "tools/sync_readme.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_docs_render_with_api_pages(tmp_path):
    r = subprocess.run([sys.executable, "tools/docs_check.py", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    pages = {p.stem for p in tmp_path.glob("*.html")}
    assert {"index", "00_data", "00c_dataset"} <= pages
    assert "load_sample" in (tmp_path / "00_data.html").read_text()

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
