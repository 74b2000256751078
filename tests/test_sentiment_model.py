"""FinBERT loading and the download CLI across a process boundary.

A child process loads a tiny random BertForSequenceClassification (saved with save_pretrained) through the real
loading code with every proxy pointing at a dead local port and an empty Hugging Face home: it must score without
touching the network, and a hub name that is not cached must fail fast with a message saying what to download.

Run: .venv/bin/pytest tests/test_sentiment_model.py -q
"""
import hashlib, os, subprocess, sys, textwrap, time
from pathlib import Path

import pandas as pd

from sequence_fx.sentiment import make_tiny_classifier

REPO = Path(__file__).resolve().parents[1]


def run_py(code, tmp_path, *args, timeout=180, dead_proxies=True, **env_extra):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), **env_extra}
    if dead_proxies:   # anything that tries the network goes to a closed local port
        env.update({k: "http://127.0.0.1:9" for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
        env.update(NO_PROXY="", no_proxy="")
    env.pop("HF_HUB_OFFLINE", None); env.pop("TRANSFORMERS_OFFLINE", None)   # offline must come from the code itself
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_tiny_model_loads_offline_and_cache_persists_across_processes(tmp_path):
    model = make_tiny_classifier(tmp_path / "tiny")
    code = """
        import sys, json
        from sequence_fx.sentiment import FinbertScorer
        sc = FinbertScorer(sys.argv[1], batch_size=2, cache_dir=sys.argv[2])
        s = sc.score(["euro rises as ecb signals rate hike", "dollar falls", "yen firms"])
        print(json.dumps({"scores": [float(x) for x in s], "hits": sc.hits, "misses": sc.misses}))
    """
    r1 = run_py(code, tmp_path, str(model), str(tmp_path / "scores"))
    assert r1.returncode == 0, r1.stderr[-2000:]
    r2 = run_py(code, tmp_path, str(model), str(tmp_path / "scores"))
    assert r2.returncode == 0, r2.stderr[-2000:]
    import json
    a, b = json.loads(r1.stdout.strip().splitlines()[-1]), json.loads(r2.stdout.strip().splitlines()[-1])
    assert (a["misses"], a["hits"]) == (3, 0) and (b["misses"], b["hits"]) == (0, 3)   # second process scores nothing
    assert a["scores"] == b["scores"] and all(-1 <= x <= 1 for x in a["scores"])


def test_missing_weights_fail_fast_with_instructions(tmp_path):
    code = """
        from sequence_fx.sentiment import FinbertScorer, SentimentModelError
        try: FinbertScorer()
        except SentimentModelError as e: print("ERR", e)
    """
    t = time.time()
    r = run_py(code, tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ERR sentiment model unavailable" in r.stdout and "hf download ProsusAI/finbert" in r.stdout
    assert "save_pretrained" in r.stdout and "--sentiment-model none" in r.stdout
    assert time.time() - t < 60                                # no network waits


CLI = "import sys; from sequence_fx.sentiment import gdelt_download_cli; sys.exit(gdelt_download_cli())"   # as the console script runs it


def not_log_lines(stderr):
    "stderr lines that are not log records (the CLI logs as '<LEVEL> <logger>: ...')."
    return [l for l in stderr.strip().splitlines() if not l.startswith(("DEBUG ", "INFO ", "WARNING "))]


def test_download_cli_one_line_errors_and_success(tmp_path):
    from test_sentiment_download import Server, make_batches   # the same local server
    srv = Server(tmp_path / "srv")
    try:
        stamps = make_batches(tmp_path / "srv", 3, srv.url + "/gdeltv2")
        ok = run_py(CLI, tmp_path, "--start", str(stamps[0]), "--end", str(stamps[-1]), "--gdelt-dir", str(tmp_path / "g"),
                    "--gdelt-mirror", srv.url, dead_proxies=False)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert "3 downloaded" in ok.stdout and len(list((tmp_path / "g").glob("*.gkg.csv.zip"))) == 3
        assert not_log_lines(ok.stderr) == []                   # no progress bar when stderr is not a terminal
        bad = run_py(CLI, tmp_path, "--start", "not-a-date", "--end", "2017-07-03", "--gdelt-dir", str(tmp_path / "g"))
        assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [bad.stderr.strip()]
        assert bad.stderr.startswith("sfx-gdelt-download: error: --start/--end: not a time")
        srv.actions["20170703090000.gkg.csv.zip"] = ["404"] * 10
        (tmp_path / "g" / "20170703090000.gkg.csv.zip").unlink()
        args = ("--start", str(stamps[0]), "--end", str(stamps[-1]), "--gdelt-dir", str(tmp_path / "g"),
                "--gdelt-mirror", srv.url, "--retries", "0")
        fail = run_py(CLI, tmp_path, *args, dead_proxies=False)
        assert fail.returncode == 1, fail.stderr[-2000:]
        [line] = not_log_lines(fail.stderr)                     # exactly one error line among the INFO log records
        assert line.startswith("sfx-gdelt-download: error:") and "missing intervals: 2017-07-03 09:00..2017-07-03 09:15" in line
        assert f"{srv.url}/20170703090000.gkg.csv.zip: HTTP 404" in line   # names the URL that failed
        quiet = run_py(CLI, tmp_path, *args, dead_proxies=False, SFX_LOG_LEVEL="WARNING")
        assert quiet.returncode == 1 and quiet.stderr.strip().splitlines() == [line]   # nothing else at all
        allowed = run_py(CLI, tmp_path, *args, "--allow-missing", dead_proxies=False)
        assert allowed.returncode == 0 and "1 failed (missing: 2017-07-03 09:00..2017-07-03 09:15)" in allowed.stdout
    finally:
        srv.close()


def test_download_cli_usage_errors_exit_2_with_one_line(tmp_path):
    for args, want in [(["--start", "2017-07-03", "--end", "2017-07-03", "--workers", "abc"], "--workers: invalid int value: 'abc'"),
                       (["--end", "2017-07-03"], "the following arguments are required: --start"),
                       (["--start", "2017-07-03", "--end", "2017-07-03", "--no-such-flag"], "unrecognized arguments: --no-such-flag")]:
        r = run_py(CLI, tmp_path, *args, "--gdelt-dir", str(tmp_path / "g"))
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sfx-gdelt-download: error:") and want in lines[0], (args, r.stderr)
        assert not (tmp_path / "g").exists()                    # nothing was started
    h = run_py(CLI, tmp_path, "--help")
    assert h.returncode == 0 and "--gdelt-mirror" in h.stdout and "concurrent downloads" in h.stdout
