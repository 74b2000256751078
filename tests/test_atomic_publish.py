"""Crash safety of dataset publication: `sfx-prepare --force` killed (SIGKILL) at each publication step, and two
concurrent `--force` runs into one data dir. After every one, `LATEST` resolves to a complete dataset (old or new) whose
content hash verifies; the next run cleans up what the killed one left."""
import os, signal
from pathlib import Path

from sequence_fx.prepare import load_prepared

ARGS = ["--t-in", "24", "--t-out", "5"]


def check_latest(data_dir):
    "LATEST names a complete dataset: meta.json, frame.parquet and their content hash agree."
    ds = load_prepared(data_dir, "eurusd")
    assert len(ds.frame) > 0 and ds.meta["content"]["frame_sha256"]
    return ds.meta["created_utc"]


def prepare_forked(data_dir, *args, kill_at=None) -> int:
    "Run sfx-prepare in a forked child (no interpreter start-up: the imports are already done); its wait status."
    from sequence_fx import data as sfx_data
    from sequence_fx.prepare import prepare_cli
    pid = os.fork()
    if pid == 0:                                                # the child: never returns into pytest
        code = 1
        try:
            if kill_at is not None: os.environ["SFX_KILL_AT"] = str(kill_at)
            sfx_data._FAULTS[0] = 0
            prepare_cli(["--data-dir", str(data_dir), *ARGS, *args]); code = 0
        finally: os._exit(code)
    return os.waitpid(pid, 0)[1]


def test_kill_at_each_publication_step(tmp_path):
    import logging; logging.getLogger("sequence_fx").setLevel(logging.WARNING)
    assert prepare_forked(tmp_path) == 0
    first = check_latest(tmp_path)
    kills, k = 0, 1
    while True:
        status = prepare_forked(tmp_path, "--force", kill_at=k)
        check_latest(tmp_path)                                  # old or new, always complete
        if status == 0: break
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        kills += 1; k += 1
        assert k < 20
    assert kills >= 3, kills                                    # publish, remove the replaced one, summary.html, LATEST ...
    base = tmp_path / "eurusd"
    leftovers = [q.name for q in base.iterdir() if q.name.startswith(".")]
    assert leftovers == [], leftovers                           # the last (complete) run removed what the killed ones left
    d = base / (base / "LATEST").read_text().strip()[:12]
    assert (d / "summary.html").is_file()


def test_concurrent_force_runs_do_not_corrupt(tmp_path):
    "Two `--force` runs at once (separate processes) into one data dir: both succeed and the dataset is complete."
    import threading
    assert prepare_forked(tmp_path) == 0
    out = []
    ts = [threading.Thread(target=lambda: out.append(prepare_forked(tmp_path, "--force"))) for _ in range(2)]
    for t in ts: t.start()
    for t in ts: t.join(300)
    assert out == [0, 0], out
    check_latest(tmp_path)
    assert [q.name for q in (tmp_path / "eurusd").iterdir() if q.name.startswith(".")] == []


def test_summary_regenerated_on_cache_hit(tmp_path):
    from sequence_fx.dataset import DataConfig
    from sequence_fx.prepare import prepare
    ds = prepare("eurusd", DataConfig(t_in=24, t_out=5), data_dir=tmp_path)
    d = tmp_path / "eurusd" / ds.meta["cache_key"][:12]
    (d / "summary.html").unlink()                              # lost to a crash after the dataset was published
    again = prepare("eurusd", DataConfig(t_in=24, t_out=5), data_dir=tmp_path)   # a cache hit
    assert again.meta["cache_key"] == ds.meta["cache_key"] and (d / "summary.html").is_file()
