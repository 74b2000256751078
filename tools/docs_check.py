"""Check the docs without Quarto: process the notebooks as nbdev_docs would (nbdev's proc_nbs, sidebar, quarto yml),
then render each processed notebook to HTML with nbconvert, and check that every module's API page exists and
names every exported symbol. Usage: python tools/docs_check.py [OUT_DIR]  (default _docs_check/)."""
import ast, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def exported_names(module_file: Path) -> list:
    "Functions and classes in the module's __all__ (constants get no show_doc entry)."
    tree = ast.parse(module_file.read_text())
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [n for n in (ast.literal_eval(e) for e in node.value.elts) if n in defs]
    return []

def main(out=ROOT / "_docs_check"):
    import os
    os.chdir(ROOT)
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.doclinks import _build_modidx
    from nbconvert import HTMLExporter
    cfg = get_config()
    refresh_quarto_yml(); _build_modidx(); nbdev_sidebar.__wrapped__()
    # what nbdev_proc_nbs does (minus installing Quarto), one notebook at a time so every failure is reported
    import shutil, traceback, nbdev.serve_drv
    from nbdev.serve import _proc_file
    from nbdev.doclinks import nbglob
    cache = cfg.config_path / "_proc"
    shutil.rmtree(cache, ignore_errors=True); cache.mkdir()
    problems = []
    path = cfg.nbs_path
    files = list(nbglob(path, func=Path, file_glob="", file_re="")) + [f for f in path.rglob("*") if f.suffix in (".yml", ".css", ".png")]
    for f in files:
        job = _proc_file(f, cache=cache, path=path)
        if job is None: continue
        try: nbdev.serve_drv.main(job)
        except Exception as e:
            problems.append(f"{f.name}: processing failed: {e}".splitlines()[0] + " | " + " ".join(str(e.__cause__ or "").split())[:300])
    out = Path(out); out.mkdir(exist_ok=True)
    exporter = HTMLExporter(template_name="lab", embed_images=True)
    pages = {}
    for nb in sorted(cache.glob("*.ipynb")):
        html, _ = exporter.from_filename(str(nb))
        (out / f"{nb.stem}.html").write_text(html)
        pages[nb.stem] = html
    # every module's page exists and shows every exported name
    for py in sorted((ROOT / cfg.lib_path).glob("*.py")):
        if py.name.startswith("_"): continue
        m = re.search(r"File to edit: \.\./nbs/(\S+?)\.ipynb", py.read_text())
        nbname = m.group(1) if m else None
        if nbname is None or nbname not in pages:
            problems.append(f"{py.name}: no rendered page ({nbname})"); continue
        missing = [n for n in exported_names(py) if n not in pages[nbname]]
        if missing: problems.append(f"{nbname}.html lacks {missing}")
    if not (cache / "_quarto.yml").exists(): problems.append("processed docs lack _quarto.yml")
    for p in problems: print("docs:", p, file=sys.stderr)
    print(f"docs: rendered {len(pages)} pages to {out}")
    return problems

if __name__ == "__main__":
    sys.exit(1 if main(*sys.argv[1:]) else 0)
