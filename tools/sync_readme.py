"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which is not available everywhere).

Markdown cells are copied, visible code cells become ```python blocks, hidden cells (`#| hide`) are skipped, and image
paths are made relative to the repository root. `--check` exits 1 if README.md is out of date.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render() -> str:
    nb = json.loads((ROOT / "nbs" / "index.ipynb").read_text())
    out = []
    for c in nb["cells"]:
        src = "".join(c["source"]).strip("\n")
        if not src: continue
        if c["cell_type"] == "markdown":
            src = re.sub(r"\]\((?!https?:)(images/[^)]+)\)", r"](nbs/\1)", src)
            out.append(src)
        elif c["cell_type"] == "code":
            lines = src.splitlines()
            if any(re.match(r"#\|\s*(hide|exporti?)\b", l) for l in lines): continue
            code = "\n".join(l for l in lines if not l.startswith("#|"))
            out.append(f"```python\n{code}\n```")
    return "<!-- generated from nbs/index.ipynb by tools/sync_readme.py: edit the notebook, not this file -->\n\n" + "\n\n".join(out) + "\n"

if __name__ == "__main__":
    text, readme = render(), ROOT / "README.md"
    if "--check" in sys.argv:
        if readme.read_text() != text:
            print("README.md is out of date: run python tools/sync_readme.py", file=sys.stderr); sys.exit(1)
    else:
        readme.write_text(text); print(f"wrote {readme}")
