"""Build the docs site with every notebook's outputs, or check it without Quarto.

nbdev_docs renders notebooks as they are stored, and ours are stored without outputs (so diffs stay readable and
nothing stale is committed): the site would show code with no tables and no plots. This script executes each
notebook first, in a fresh kernel from the project's environment, then hands the executed copies to nbdev's own
processing (show_doc pages, directives) and to Quarto:

    python tools/docs_build.py             # execute -> process -> quarto render -> _docs/   (needs Quarto)
    python tools/docs_build.py --check     # execute -> process -> nbconvert HTML in _docs_check/, then check

`--check` is also the notebook test of `tools/test.sh`: one execution of every notebook serves both the tests (any
cell error fails it, as nbdev_test would) and the docs checks below, instead of running each notebook twice. Cells
flagged with the project's `tst_flags` (slow gpu network) are skipped, as nbdev_test skips them; `SFX_SLOW=1` runs
the `slow` ones too.

Plotly figures are rendered as HTML with plotly.js embedded once per page (no CDN, no MathJax), so pages work
offline. Cells flagged with one of `--skip` (default: settings.ini's tst_flags, less `slow` under SFX_SLOW=1) are not
executed; their code is shown without output. Progress bars are off while executing (they are noise on a static page).

The check fails when: a notebook raises; a module's page lacks one of its exported names; a numbered notebook's
page has no figure; a plotly output is empty or plotly.js is missing; an output carries a stray ipywidgets or
Bokeh loading message or an error; an exported function's or class's parameter has no docment.
"""
import argparse, ast, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs first in every kernel: an offline plotly renderer, no progress bars, quiet library logging.
PREAMBLE = r'''
import os as _os, logging as _logging
_os.environ["TQDM_DISABLE"] = "1"
_logging.getLogger().setLevel(_logging.WARNING)
import plotly.io as _pio
from plotly.io._base_renderers import MimetypeRenderer as _MR
class _OfflineHtml(_MR):
    "plotly.js inline with the first figure of the page, then only the figure (no CDN, no MathJax)."
    first = True
    def to_mimebundle(self, fig_dict):
        html = _pio.to_html(fig_dict, include_plotlyjs=_OfflineHtml.first, include_mathjax=False, full_html=False,
                            default_width="100%", default_height=460, validate=False, config={"displaylogo": False})
        _OfflineHtml.first = False
        return {"text/html": html}
_pio.renderers["sfx_offline"] = _OfflineHtml()
_pio.renderers.default = "sfx_offline"
'''

def _flags(cell) -> set:
    "nbdev directive flags on a code cell's first lines (`#| slow`, `#| eval: false`)."
    out = set()
    for line in cell.source.splitlines():
        m = re.match(r"\s*#\|\s*(.+?)\s*$", line)
        if not m:
            if line.strip(): break
            continue
        d = m.group(1)
        if re.fullmatch(r"eval:\s*false", d): out.add("eval-false")
        else: out.update(d.split())
    return out

def execute_notebook(src:str, dst:str, skip:tuple, timeout:int=1800) -> tuple:
    "Execute `src` cell by cell in a fresh kernel (cwd: its folder) and write it with outputs to `dst`."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(src, as_version=4)
    t0 = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(Path(src).parent)}})
    error = None
    with client.setup_kernel(env={**os.environ, "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore::DeprecationWarning"}):
        nb.cells.insert(0, nbformat.v4.new_code_cell(PREAMBLE, id="sfx-docs-preamble"))     # removed again before writing
        client.execute_cell(nb.cells[0], 0)
        for i, cell in enumerate(nb.cells):
            if i == 0 or cell.cell_type != "code": continue
            fl = _flags(cell)
            if fl & set(skip) or "eval-false" in fl:
                cell.outputs = []; continue
            try: client.execute_cell(cell, i)
            except CellExecutionError as e:
                last = re.sub(r"\x1b\[[0-9;]*m", "", str(e).strip().splitlines()[-1])     # no terminal colour codes
                error = f"{Path(src).name}, cell {i - 1}: {last[:300]}"
                break
    del nb.cells[0]
    nbformat.write(nb, dst)
    return Path(src).name, time.perf_counter() - t0, error

def exported_names(module_file:Path) -> list:
    "Functions and classes in the module's __all__ (constants get no show_doc entry)."
    tree = ast.parse(module_file.read_text())
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [n for n in (ast.literal_eval(e) for e in node.value.elts) if n in defs]
    return []

def missing_docments(lib:str) -> list:
    "'module.name(param)' for every parameter of an exported function/class without a docment."
    import importlib, inspect, dataclasses
    from fastcore.docments import docments
    out = []
    for py in sorted((ROOT / lib).glob("*.py")):
        if py.name.startswith("_"): continue
        mod = importlib.import_module(f"{lib}.{py.stem}")
        for name in exported_names(py):
            obj = getattr(mod, name)
            if inspect.isclass(obj) and issubclass(obj, BaseException): continue   # exceptions take a message
            target = obj
            if inspect.isclass(obj) and not dataclasses.is_dataclass(obj):
                if obj.__init__ is object.__init__: continue
                if not (getattr(obj.__init__, "__module__", None) or "").startswith(lib): continue   # inherited (e.g. from torch): documented there
                target = obj.__init__
            try: d = docments(target, full=True, returns=False)
            except Exception as e:                                              # a signature docments cannot read
                out.append(f"{py.stem}.{name}: docments failed ({type(e).__name__})"); continue
            for p, info in d.items():
                if p in ("self", "cls") or p.startswith("_"): continue
                if info.get("docment") is None and (info.get("anno") is None or str(info.get("anno")) not in ("*args", "**kwargs")):
                    kind = None
                    try: kind = inspect.signature(target).parameters[p].kind
                    except (KeyError, ValueError, TypeError): pass
                    if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD): continue
                    out.append(f"{py.stem}.{name}({p})")
    return out

_PLOTLY_DIV = re.compile(r'<div id="([0-9a-f-]{36})" class="plotly-graph-div"')
_BAD_OUTPUT = re.compile(r"IProgress not found|ipywidgets|Loading BokehJS|BokehJS [\d.]+ successfully loaded|Traceback \(most recent call last\)")

def check_outputs(nb_path:Path) -> list:
    "Problems in one executed notebook's outputs: empty plotly figures, missing plotly.js, stray messages, errors."
    import nbformat
    nb = nbformat.read(nb_path, as_version=4)
    problems, plotly_js_seen, figures = [], False, 0
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code": continue
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                problems.append(f"{nb_path.name}, cell {i}: error output {o.get('ename')}: {o.get('evalue', '')[:120]}")
            text = o.get("text", "") if o.get("output_type") == "stream" else ""
            data = o.get("data", {})
            html = data.get("text/html", "")
            html = "".join(html) if isinstance(html, list) else html
            for blob in (text, html if "plotly-graph-div" not in html else ""):
                m = _BAD_OUTPUT.search(blob if isinstance(blob, str) else "".join(blob))
                if m: problems.append(f"{nb_path.name}, cell {i}: stray output {m.group(0)!r}")
            if "image/png" in data or "image/svg+xml" in data: figures += 1
            for div in _PLOTLY_DIV.findall(html):
                figures += 1
                if "Plotly.newPlot" not in html or f'"{div}"' not in html:
                    problems.append(f"{nb_path.name}, cell {i}: plotly figure {div[:8]} is never drawn")
                m = re.search(r'Plotly\.newPlot\(\s*"%s",\s*(\[.*?\])\s*,' % div, html, re.S)
                if m is None or m.group(1).strip() in ("[]", "[ ]"):
                    problems.append(f"{nb_path.name}, cell {i}: plotly figure {div[:8]} has no data")
                if not plotly_js_seen and "plotly.js v" not in html and "Plotly=" not in html and "window.Plotly" not in html:
                    problems.append(f"{nb_path.name}, cell {i}: plotly figure before plotly.js is on the page")
                plotly_js_seen = True
                if re.search(r"""<script[^>]+src=["']https?://""", html): problems.append(f"{nb_path.name}, cell {i}: plotly output loads a script from the network")
    if re.match(r"\d", nb_path.name) and figures == 0:
        problems.append(f"{nb_path.name}: a tutorial page without a single figure")
    return problems

def process(exec_dir:Path, cache:Path) -> list:
    "nbdev's processing of the executed notebooks (show_doc pages, directives) into `cache`, one file at a time."
    import traceback, nbdev.serve_drv
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.doclinks import _build_modidx, nbglob
    from nbdev.serve import _proc_file
    cfg = get_config()
    refresh_quarto_yml(); _build_modidx(); nbdev_sidebar.__wrapped__()
    shutil.rmtree(cache, ignore_errors=True); cache.mkdir(parents=True)
    problems = []
    files = list(nbglob(exec_dir, func=Path, file_glob="", file_re="")) + \
            [f for f in exec_dir.rglob("*") if f.suffix in (".yml", ".css", ".png", ".svg") and f.is_file()]
    for f in files:
        job = _proc_file(f, cache=cache, path=exec_dir)
        if job is None: continue
        try: nbdev.serve_drv.main(job)
        except Exception as e:
            problems.append(f"{f.name}: processing failed: {e}".splitlines()[0] + " | " + " ".join(str(e.__cause__ or "").split())[:300])
    return problems

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="no Quarto: render with nbconvert into --out and run the checks")
    p.add_argument("--out", default=None, help="output folder (default: _docs with Quarto, _docs_check with --check)")
    p.add_argument("--skip", default=None, help="nbdev flags whose cells are not executed (default: tst_flags; without slow under SFX_SLOW=1)")
    p.add_argument("--workers", type=int, default=2, help="notebooks executed in parallel")
    p.add_argument("--only", default="", help="comma-separated notebook names to build (a quick look at a few pages)")
    a = p.parse_args(argv)
    os.chdir(ROOT)
    from nbdev.config import get_config
    cfg = get_config()
    if a.skip is None:
        a.skip = " ".join(f for f in str(cfg.get("tst_flags", "slow gpu network")).split() if not (f == "slow" and os.environ.get("SFX_SLOW")))
    nbs = Path(cfg.nbs_path)
    exec_dir = ROOT / "_exec"
    shutil.rmtree(exec_dir, ignore_errors=True)
    shutil.copytree(nbs, exec_dir, symlinks=False, ignore=shutil.ignore_patterns(".*", "_proc", "__pycache__"))
    notebooks = sorted(nbs.glob("*.ipynb"))
    if a.only: notebooks = [n for n in notebooks if n.stem in a.only.split(",") or n.name in a.only.split(",")]
    problems = []
    t0 = time.perf_counter()
    env_threads = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for k, v in env_threads.items(): os.environ.setdefault(k, v)
    with ProcessPoolExecutor(max_workers=max(1, a.workers)) as ex:
        futs = [ex.submit(execute_notebook, str(exec_dir / n.name), str(exec_dir / n.name), tuple(a.skip.split())) for n in notebooks]
        for f in futs:
            name, secs, err = f.result()
            print(f"docs: executed {name} in {secs:.0f} s" + (f" -- FAILED: {err}" if err else ""), flush=True)
            if err: problems.append(err)
    print(f"docs: executed {len(notebooks)} notebooks in {time.perf_counter() - t0:.0f} s", flush=True)
    if a.only:                              # a partial build: only the chosen pages are processed
        for n in sorted(exec_dir.glob("*.ipynb")):
            if n.stem not in [x.stem for x in notebooks]: n.unlink()
    for n in notebooks: problems += check_outputs(exec_dir / n.name)
    cache = ROOT / "_proc"
    problems += process(exec_dir, cache)
    if not a.check:
        if shutil.which("quarto") is None: sys.exit("docs: Quarto is not installed; use --check to render with nbconvert")
        subprocess.run(["quarto", "render", "--no-cache"], cwd=cache, check=True)
        out = Path(a.out or cfg.doc_path)
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(str(cache / Path(cfg.doc_path).name), str(out))
        print(f"docs: site in {out}")
    else:
        from nbconvert import HTMLExporter
        out = Path(a.out or ROOT / "_docs_check"); out.mkdir(exist_ok=True)
        exporter = HTMLExporter(template_name="lab", embed_images=True)
        pages = {}
        for nb in sorted(cache.glob("*.ipynb")):
            html, _ = exporter.from_filename(str(nb))
            (out / f"{nb.stem}.html").write_text(html)
            pages[nb.stem] = html
        for py in sorted((ROOT / cfg.lib_path).glob("*.py")):
            if py.name.startswith("_"): continue
            m = re.search(r"File to edit: \.\./nbs/(\S+?)\.ipynb", py.read_text())
            nbname = m.group(1) if m else None
            if a.only and nbname not in [x.stem for x in notebooks]: continue
            if nbname is None or nbname not in pages:
                problems.append(f"{py.name}: no rendered page ({nbname})"); continue
            missing = [n for n in exported_names(py) if n not in pages[nbname]]
            if missing: problems.append(f"{nbname}.html lacks {missing}")
        if not (cache / "_quarto.yml").exists(): problems.append("processed docs lack _quarto.yml")
        problems += [f"missing docment: {m}" for m in missing_docments(cfg.lib_name)]
        print(f"docs: rendered {len(pages)} pages to {out}")
    for q in problems: print("docs:", q, file=sys.stderr)
    return problems

if __name__ == "__main__":
    sys.exit(1 if main() else 0)
