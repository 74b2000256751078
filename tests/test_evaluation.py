"""sfx-evaluate as a user runs it: --help, one-line errors, a real checkpoint evaluated end to end, the report's
self-containedness (no URL a browser would fetch) and, where Chromium is installed, a headless screenshot."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig
from sequence_fx.training import TrainingConfig, train
from sequence_fx.evaluation import external_urls

BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("SFX_CHROMIUM", "/usr/bin/chromium") # a headless Chromium/Chrome binary

def sfx_evaluate(*args, timeout=900):
    "The console script when installed, else the same entry point through the interpreter."
    exe = BIN / "sfx-evaluate"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from sequence_fx.evaluation import evaluate_cli; evaluate_cli()"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SFX_LOG_LEVEL": "WARNING"})

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    "A tiny SignalModel really trained (a few steps) on the EURUSD sample with the sample's default features."
    d = tmp_path_factory.mktemp("run")
    prep = prepare_dataset(load_sample(), DataConfig(pair="eurusd", t_in=32, t_out=10))
    mc = ModelConfig(cnn_channels=(8,), cnn_kernels=(3,), lstm_hidden=8, attn_dim=16, attn_heads=2, embed_dim=16, head_hidden=16)
    res = train(prep, mc, TrainingConfig(epochs=1, max_steps_per_epoch=4, progress=False, patience=0), d / "eurusd")
    return res.best_path

def test_help():
    r = sfx_evaluate("--help")
    assert r.returncode == 0, r.stderr
    for flag in ["--pairs", "--checkpoint-path", "--spread-pips", "--commission", "--walk-forward", "--report-dir"]:
        assert flag in r.stdout

def test_bad_arguments_one_line(tmp_path, checkpoint):
    for args, code, text in [(["--spread-pips", "wide"], 2, "invalid float value"),
                             (["--pairs", "eurxyz", "--checkpoint-path", checkpoint], 1, "unknown pair"),
                             (["--checkpoint-path", tmp_path / "nope.pt", "--data-dir", tmp_path], 1, "checkpoint not found"),
                             (["--pairs", "gbpusd", "--checkpoint-path", checkpoint, "--data-dir", tmp_path], 1, "trained on eurusd"),
                             (["--checkpoint-path", checkpoint, "--spread-pips", "-1", "--data-dir", tmp_path], 1, "spread_pips")]:
        r = sfx_evaluate(*args)
        assert r.returncode == code, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sfx-evaluate: error:") and text in lines[0], r.stderr

def test_evaluate_end_to_end(tmp_path, checkpoint):
    out = tmp_path / "reports"
    r = sfx_evaluate("--pairs", "eurusd", "--checkpoint-path", checkpoint, "--spread-pips", "1.5", "--commission", "1e-5",
                     "--walk-forward", "2", "--wf-epochs", "1", "--wf-max-steps", "3", "--n-boot", "200",
                     "--report-dir", out, "--data-dir", tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "balanced accuracy" in r.stdout and "report" in r.stdout
    d = out / "eurusd"
    m = json.loads((d / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert set(m["metrics"]) == {"model", "majority", "persistence", "momentum_10", "logistic", "random"}
    for name, mm in m["metrics"].items():
        for k in ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier", "ic"]:
            if k == "ic" and name in ("majority", "random"): # a constant signal has no rank correlation: null, not a number
                assert mm[k]["value"] is None; continue
            assert mm[k]["lo"] <= mm[k]["value"] <= mm[k]["hi"], (name, k, mm[k])
    assert m["execution"]["spread_pips"] == 1.5 and m["execution"]["commission"] == 1e-5
    assert max(m["engine_agreement"].values()) <= 1e-6           # backtesting.py replay agrees with the vectorised engine
    net, gross = m["backtest"]["net"], m["backtest"]["gross"]
    assert net["n_trades"] == 0 or net["final_equity"] < gross["final_equity"]   # costs are charged
    assert len(m["walk_forward"]["folds"]) == 2 and "balanced_accuracy" in m["walk_forward"]["pooled"]
    sp = m["sharpe_vs_spread"]
    assert [x["spread_pips"] for x in sp][:2] == [0.0, 0.25]
    for name in ["report.html", "backtest_plot.html"]:
        html = (d / name).read_text()
        assert len(html) > 100_000                                # the JS libraries are embedded
        assert external_urls(html) == [], name
        # the markup itself (everything outside <script>/<style>) has no remote src/href/url() at all
        markup = re.sub(r"<script\b.*?</script>|<style\b.*?</style>", "", html, flags=re.S | re.I)
        assert not re.search(r"""(src|href|action|poster|data)\s*=\s*["']?\s*(https?:)?//""", markup, re.I), name
        assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", html, re.I), name
    assert "cdn.plot.ly" not in (d / "report.html").read_text().split("<script", 1)[0]

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_report_opens_in_headless_chromium(tmp_path, checkpoint):
    out = tmp_path / "reports"
    r = sfx_evaluate("--checkpoint-path", checkpoint, "--n-boot", "100", "--report-dir", out, "--data-dir", tmp_path / "data")
    assert r.returncode == 0, r.stderr
    for page in ["report.html", "backtest_plot.html"]:
        shot, netlog = tmp_path / f"{page}.png", tmp_path / f"{page}.netlog.json"
        # the browser's own background traffic (updates, sync, time, spell-check dictionaries) is switched off so that
        # the network log holds only what the page asks for
        c = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--disable-features=SpellCheck,NetworkTimeServiceQuerying", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                            f"--log-net-log={netlog}", "--virtual-time-budget=5000",
                            f"--screenshot={shot}", "--window-size=1280,3000", (out / "eurusd" / page).as_uri()],
                           capture_output=True, text=True, timeout=120)
        assert shot.exists() and shot.stat().st_size > 50_000, (page, c.stderr)   # a page with charts, not a blank one
        assert "is not defined" not in c.stderr and "Uncaught" not in c.stderr, (page, c.stderr)   # the inline scripts ran
        # the browser's own network log: the page asked for no http(s) URL
        assert page_requests(netlog) == [], page

def page_requests(netlog) -> list:
    "http(s) URLs requested by documents (not by the browser's own services) in a Chromium net log."
    d = json.loads(Path(netlog).read_text())
    start = d["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in d["events"]
            if e["type"] == start and e.get("params", {}).get("url", "").startswith("http")
            and e["params"].get("initiator") != "not an origin"]       # the browser's own background requests

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_network_log_check_catches_a_remote_resource(tmp_path):
    "Positive control for the check above: a page that loads a remote image and script is caught."
    page = tmp_path / "leaky.html"
    page.write_text('<html><body><img src="https://example.invalid/x.png"><script src="http://127.0.0.1:9/a.js"></script>hi</body></html>')
    netlog = tmp_path / "n.json"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'p'}", f"--log-net-log={netlog}", "--virtual-time-budget=2000",
                    f"--screenshot={tmp_path / 's.png'}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert sorted(page_requests(netlog)) == ["http://127.0.0.1:9/a.js", "https://example.invalid/x.png"]
