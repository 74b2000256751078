"""sfx-tune across process boundaries: two worker processes (as two machines would) share one study through the
journal file backend, through SQLite, and through a real PostgreSQL server started here, and together finish the
trial budget with no trial lost or run twice; the creator then retrains the best trial and evaluates it once."""
import glob, json, os, shutil, socket, subprocess, sys, tempfile, time
from collections import Counter
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "SFX_LOG_LEVEL": "INFO"}
BUDGET = 4
TINY = ["--pairs", "eurusd", "--t-in", "32", "--cnn-channels", "8", "--lstm-hidden", "8", "--epochs", "1", "--max-steps-per-epoch", "5",
        "--n-folds", "2", "--n-boot", "200", "--device", "cpu", "--threads", "1", "--no-progress"]

def sfx_tune(*args, timeout=900):
    return subprocess.run([str(BIN / "sfx-tune"), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=ENV)

def start(*args, log):
    return subprocess.Popen([str(BIN / "sfx-tune"), *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=ENV)

def test_help_and_one_line_errors(tmp_path, capsys):
    r = sfx_tune("--help")                                        # the installed console script
    assert r.returncode == 0, r.stderr
    for flag in ["--n-trials", "--search", "--metric", "--n-folds", "--storage", "--workers", "--join", "--no-final", "--epochs", "--t-in"]:
        assert flag in r.stdout, flag
    from sequence_fx.tune import tune_cli                        # the error cases in this process: no interpreter start-up each
    for args, code, text in [(["--search", "learning_rate,epochz"], 1, "unknown ['epochz']"), (["--metric", "sharpe"], 2, "argument --metric: invalid choice 'sharpe' (choose from balanced_accuracy"),
                             (["--n-trials", "x"], 2, "invalid int value"),
                             (["--join", "--join-timeout", "1", "--storage", f"journal:{tmp_path / 'none.journal'}"], 1, "no ready study")]:
        with pytest.raises(SystemExit) as e: tune_cli([*map(str, args), "--run-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "data")])
        lines = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == code and lines and lines[-1].startswith("sfx-tune: error:") and text in lines[-1], (args, lines[-5:])

def shared_study(tmp_path, storage:str, final:bool):
    "Machine B joins (started first, it waits for the study); machine A creates the study and works; both share the budget."
    a, b = tmp_path / "a", tmp_path / "b"
    data = tmp_path / "data"
    with open(tmp_path / "b.log", "w") as lb, open(tmp_path / "a.log", "w") as la:
        pb = start(*TINY, "--storage", storage, "--join", "--join-timeout", "600", "--run-dir", b, "--data-dir", data, log=lb)
        pa = start(*TINY, "--storage", storage, "--n-trials", BUDGET, "--run-dir", a, "--data-dir", data, *([] if final else ["--no-final"]), log=la)
        ra, rb = pa.wait(timeout=1200), pb.wait(timeout=1200)
    assert ra == 0, (tmp_path / "a.log").read_text()[-4000:]
    assert rb == 0, (tmp_path / "b.log").read_text()[-4000:]
    from sequence_fx.tune import open_storage, storage_url
    import optuna
    study = optuna.load_study(study_name="sfx-tune-eurusd", storage=open_storage(storage_url(storage, a)))
    trials = study.get_trials()
    states = Counter(t.state.name for t in trials)
    # the budget exactly: no trial lost (none left waiting or running), none extra
    assert sorted(t.number for t in trials) == list(range(BUDGET)), [(t.number, t.state.name) for t in trials]
    assert states["COMPLETE"] + states["PRUNED"] == BUDGET and states["COMPLETE"] >= 1, states
    # every trial ran exactly once, in one of the two processes, and both processes took part
    runs = [json.loads(l) for d in (a, b) for f in (d / "workers").glob("*.jsonl") for l in f.read_text().splitlines()]
    assert sorted(r["trial"] for r in runs) == list(range(BUDGET)), runs
    assert {r["state"] for r in runs} <= {"COMPLETE", "PRUNED"}
    by_dir = {d.name: {r["trial"] for f in (d / "workers").glob("*.jsonl") for r in map(json.loads, f.read_text().splitlines())} for d in (a, b)}
    assert by_dir["a"] and by_dir["b"], by_dir
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    return a, study

def test_two_processes_share_a_journal_study(tmp_path):
    a, study = shared_study(tmp_path, f"journal:{tmp_path / 'shared' / 'study.journal'}", final=False)
    assert not (a / "final").exists()                                       # --no-final: the test split is never touched
    assert "evaluated once on test" not in (a / "tune_eurusd.html").read_text() and "final" not in json.loads((a / "best_eurusd.json").read_text())

def test_two_processes_share_a_sqlite_study(tmp_path):
    shared_study(tmp_path, f"sqlite:///{tmp_path / 'shared' / 'study.db'}", final=False)

@pytest.mark.skipif(not os.environ.get("SFX_SLOW"), reason="slow (SFX_SLOW=1): the final retrain; 07a_tune does it in-process in the default run")
def test_sqlite_study_then_the_best_is_evaluated_once_and_resumes(tmp_path):
    db = tmp_path / "shared" / "study.db"
    a, study = shared_study(tmp_path, f"sqlite:///{db}", final=True)
    best = json.loads((a / "best_eurusd.json").read_text())
    assert best["best_trial"] == study.best_trial.number and best["n_trials"] == BUDGET
    st = json.loads((a / "final" / "status.json").read_text())["stages"]
    assert all(st[s]["state"] == "done" and st[s]["runs"] == 1 for s in ("eurusd/prepare", "eurusd/train", "eurusd/evaluate"))
    m = json.loads((a / "final" / "evaluate" / "eurusd" / "metrics.json").read_text())
    assert m["split"] == "test" and m["audit"]["verdict"]
    page = (a / "tune_eurusd.html").read_text()
    from sequence_fx.evaluation import external_urls
    assert external_urls(page) == [] and f"{BUDGET} trials were tried" in page and "optimisation history" in page
    # a second run resumes the study: nothing left to do, nothing retrained
    r = sfx_tune(*TINY, "--storage", f"sqlite:///{db}", "--n-trials", BUDGET, "--run-dir", a, "--data-dir", tmp_path / "data")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((a / "final" / "status.json").read_text())["stages"]["eurusd/train"]["runs"] == 1

def _pg_bindir():
    dirs = [*os.environ.get("PATH", "").split(os.pathsep), *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return next((Path(d) for d in dirs if d and all((Path(d) / b).is_file() for b in ("initdb", "pg_ctl", "postgres"))), None)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture
def postgres():
    "A throw-away PostgreSQL server on 127.0.0.1 (as an unprivileged user when the tests run as root)."
    bindir = _pg_bindir()
    if bindir is None: pytest.skip("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
    pytest.importorskip("psycopg2")
    base = Path(tempfile.mkdtemp(prefix="sfx_pg_"))                  # under /tmp: reachable by the server's user
    prefix = []
    if os.geteuid() == 0:                                          # PostgreSQL refuses to run as root
        import pwd
        runner = shutil.which("runuser")
        if runner is None: pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        nobody = pwd.getpwnam("nobody")
        os.chown(base, nobody.pw_uid, nobody.pw_gid)
        prefix = [runner, "-u", "nobody", "--"]
    run = lambda *cmd: subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, timeout=180)
    r = run(bindir / "initdb", "-D", base / "data", "-U", "sfx", "--auth=trust", "-E", "UTF8")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    port = _free_port()
    r = run(bindir / "pg_ctl", "-D", base / "data", "-l", base / "server.log", "-o", f"-p {port} -h 127.0.0.1 -k {base}", "-w", "-t", "120", "start")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:] + ((base / "server.log").read_text()[-2000:] if (base / "server.log").exists() else "")
    try: yield f"postgresql://sfx@127.0.0.1:{port}/postgres"
    finally:
        run(bindir / "pg_ctl", "-D", base / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)

def test_two_processes_share_a_postgresql_study(tmp_path, postgres):
    shared_study(tmp_path, postgres, final=False)
