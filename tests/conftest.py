import sys, subprocess, os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run_cli(name, *args, timeout=600, cwd=None, env=None):
    "Run a console script from this environment; returns CompletedProcess (text)."
    exe = BIN / name
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})

@pytest.fixture
def cli():
    return run_cli
