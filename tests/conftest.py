import sys, subprocess, os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run_cli(name, *args, timeout=600, cwd=None, env=None):
    "Run a console script from this environment; returns CompletedProcess (text)."
    exe = BIN / name
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "SFX_LOG_LEVEL": "INFO", **(env or {})})  # INFO unless the test asks

@pytest.fixture
def cli():
    return run_cli


def run_cli_here(name, *args, env=None):
    """Run console script `name` in this process, through the same launcher the installed script calls, with stdout, stderr
    and the log handler redirected: a CompletedProcess like `run_cli`'s, without an interpreter start-up (seconds) per
    case. For argument and input errors; what needs a process boundary (signals, exit codes of the real executable,
    environment at start-up) keeps `run_cli`."""
    import configparser, contextlib, importlib, io, logging
    cfg = configparser.ConfigParser(); cfg.read(Path(__file__).resolve().parents[1] / "settings.ini")
    mod, fn = dict(e.split("=") for e in cfg["DEFAULT"]["console_scripts"].split())[name].split(":")
    launcher = getattr(importlib.import_module(mod), fn)
    root, torch = logging.getLogger(), sys.modules.get("torch")
    saved = root.handlers[:], root.level, sys.argv, os.environ.copy(), torch.get_num_threads() if torch else None
    out, err = io.StringIO(), io.StringIO()
    root.handlers = []                                   # the command's basicConfig binds a fresh handler to the redirected stderr
    os.environ.update({"SFX_LOG_LEVEL": "INFO", **(env or {})})
    sys.argv = [name, *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try: launcher(); code = 0
            except SystemExit as e: code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        root.handlers, root.level, sys.argv = saved[0], saved[1], saved[2]
        os.environ.clear(); os.environ.update(saved[3])
        if torch is not None or "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(saved[4] or 1)     # --threads in the command must not leak into the next test
    return subprocess.CompletedProcess([name, *map(str, args)], code, out.getvalue(), err.getvalue())

@pytest.fixture
def cli_here():
    return run_cli_here
