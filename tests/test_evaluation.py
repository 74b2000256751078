"""sfx-evaluate as a user runs it: --help, one-line errors, a real checkpoint evaluated end to end, the report's
self-containedness (no URL a browser would fetch) and, where Chromium is installed, a headless screenshot."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path

import pytest

import numpy as np

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.encoder import ModelConfig
from sequence_fx.prepare import DatasetSpec, prepare, prepare_command
from sequence_fx.training import TrainingConfig, train
from sequence_fx.backtest import ExecutionConfig
from sequence_fx.evaluation import external_urls, evaluate, write_report

BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("SFX_CHROMIUM", "/usr/bin/chromium") # a headless Chromium/Chrome binary

def sfx_evaluate(*args, timeout=900):
    "The console script when installed, else the same entry point through the interpreter."
    exe = BIN / "sfx-evaluate"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from sequence_fx.evaluation import evaluate_cli; evaluate_cli()"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SFX_LOG_LEVEL": "WARNING"})

TINY = ModelConfig(cnn_channels=(8,), cnn_kernels=(3,), lstm_hidden=8, attn_dim=16, attn_heads=2, embed_dim=16, head_hidden=16)
QUICK = TrainingConfig(epochs=1, max_steps_per_epoch=4, progress=False, patience=0)

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    "A tiny SignalModel really trained (a few steps) on the EURUSD sample with the sample's default features."
    d = tmp_path_factory.mktemp("run")
    prep = prepare_dataset(load_sample(), DataConfig(pair="eurusd", t_in=32, t_out=10))
    res = train(prep, TINY, QUICK, d / "eurusd")
    return res.best_path

def metrics_json(report_dir) -> dict:
    return json.loads((Path(report_dir) / "eurusd" / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))

def test_help():
    r = sfx_evaluate("--help")
    assert r.returncode == 0, r.stderr
    for flag in ["--pairs", "--checkpoint-path", "--spread-pips", "--commission", "--walk-forward", "--report-dir", "--dataset", "--threads",
                 "--t-in", "--intrinsic-time", "--no-truncation-audit"]:
        assert flag in r.stdout

def test_bad_arguments_one_line(tmp_path, checkpoint, cli_here):
    for args, code, text in [(["--spread-pips", "wide"], 2, "invalid float value"),
                             (["--pairs", "eurxyz", "--checkpoint-path", checkpoint], 1, "unknown pair"),
                             (["--checkpoint-path", tmp_path / "nope.pt", "--data-dir", tmp_path], 1, "checkpoint not found"),
                             (["--pairs", "gbpusd", "--checkpoint-path", checkpoint, "--data-dir", tmp_path], 1, "trained on eurusd"),
                             (["--checkpoint-path", checkpoint, "--spread-pips", "-1", "--data-dir", tmp_path], 1, "spread_pips")]:
        r = cli_here("sfx-evaluate", *args, env={"SFX_LOG_LEVEL": "WARNING"})   # in this process: no start-up per case
        assert r.returncode == code, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sfx-evaluate: error:") and text in lines[0], r.stderr

def test_evaluate_end_to_end(tmp_path, checkpoint):
    out = tmp_path / "reports"
    r = sfx_evaluate("--pairs", "eurusd", "--checkpoint-path", checkpoint, "--spread-pips", "1.5", "--commission", "1e-5",
                     "--walk-forward", "2", "--wf-epochs", "1", "--wf-max-steps", "3", "--n-boot", "200",
                     "--report-dir", out, "--data-dir", tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "report" in r.stdout
    d = out / "eurusd"
    m = json.loads((d / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    # the verdict (printed, first in the report, and in metrics.json), with the paired difference and walk-forward's opinion
    a = m["audit"]
    assert a["verdict"] in r.stdout and "walk-forward" in a["verdict"] and a["walk_forward_agrees"] in (True, False)
    # a model trained for 4 steps may well be degenerate: then accuracy and log loss against always-majority lead
    assert ("vs always-majority" in a["verdict"]) if a["degenerate"] else ("balanced accuracy" in a["verdict"] and "difference" in a["verdict"])
    best = m["paired"]["best"]["balanced_accuracy"]
    assert best["baseline"] in m["metrics"] and best["lo"] <= best["value"] <= best["hi"] and best["verdict"] in ("better", "worse", "no difference")
    assert m["paired"]["majority"]["accuracy"]["baseline"] == "majority"
    assert m["bootstrap_blocks"]["metrics"] >= 30 and m["bootstrap_blocks"]["backtest"] >= 30      # never below 3 x t_out (t_out = 10)
    assert m["backtest"]["net"]["bootstrap_block"] == m["bootstrap_blocks"]["backtest"]
    assert a["truncation"]["status"] == "ok" and a["truncation"]["columns_checked"] > 30
    assert {"best", "majority"} <= set(m["walk_forward"]["pooled"]["_paired"])
    html = (d / "report.html").read_text()
    assert html.index("class='verdict'") < html.index("Prediction metrics") and "Paired differences" in html and "<h2>Audit</h2>" in html
    assert set(m["metrics"]) == {"model", "majority", "persistence", "momentum_10", "logistic", "random"}
    for name, mm in m["metrics"].items():
        for k in ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier", "ic"]:
            if k == "ic" and name in ("majority", "random"): # a constant signal has no rank correlation: null, not a number
                assert mm[k]["value"] is None; continue
            assert mm[k]["lo"] <= mm[k]["value"] <= mm[k]["hi"], (name, k, mm[k])
    assert m["execution"]["spread_pips"] == 1.5 and m["execution"]["commission"] == 1e-5
    assert max(m["engine_agreement"].values()) <= 1e-6           # backtesting.py replay agrees with the vectorised engine
    net, gross = m["backtest"]["net"], m["backtest"]["gross"]
    # the same positions with and without costs: the whole difference is the cost paid (forced trades: see below)
    assert gross["n_trades"] == net["n_trades"] and gross["cost_paid"] == 0
    assert gross["final_equity"] - net["final_equity"] == pytest.approx(net["cost_paid"], rel=1e-9, abs=1e-9)
    assert (net["cost_paid"] > 0) == (net["n_trades"] > 0)
    # the checkpoint was trained on an in-memory dataset (no cache key): its dataset was re-prepared from its configs
    assert m["meta"]["dataset"]["origin"] == "re-prepared" and m["meta"]["dataset"]["checkpoint_cache_key"] is None
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

def test_costs_charged_on_forced_trades():
    "A signal that flips long/short every 5 bars trades for sure; net = gross - cost paid, to the cent."
    prep = prepare_dataset(load_sample(), DataConfig(pair="eurusd", t_in=32, t_out=10))
    n = len(prep.sample_index("test"))
    up = (np.arange(n) // 5) % 2 == 0
    proba = np.where(up[:, None], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1])
    ev = evaluate(prep, proba, "test", exec_cfg=ExecutionConfig(pair="eurusd", spread_pips=1.5, commission=1e-5), baselines=False, n_boot=0)
    net, gross = ev.backtest.stats, ev.gross.stats
    assert net["n_trades"] >= n // 5 - 1 > 0 and net["n_trades"] == gross["n_trades"]
    assert gross["cost_paid"] == 0 and net["cost_paid"] > 0
    assert gross["final_equity"] - net["final_equity"] == pytest.approx(net["cost_paid"], rel=1e-9)
    assert net["final_equity"] < gross["final_equity"]

def test_evaluates_on_the_dataset_it_was_trained_on(tmp_path):
    "A model trained on a CSV dataset is evaluated on that dataset (found by its key), not on a re-prepared default source."
    csv, data = tmp_path / "eurusd.csv", tmp_path / "data"
    load_sample().iloc[1000:].to_csv(csv)                            # 4,000 bars: not the 5,000-bar default sample
    ds = prepare("eurusd", DataConfig(t_in=32, t_out=10), source="csv", input=csv, data_dir=data)
    ck = train(ds, TINY, QUICK, tmp_path / "run").best_path
    prepare("eurusd", DataConfig(t_in=32, t_out=10), data_dir=data)  # the sample, same configs, prepared later: now LATEST
    csv.unlink()                                                      # and the training input is gone
    r = sfx_evaluate("--checkpoint-path", ck, "--n-boot", "50", "--report-dir", tmp_path / "rep", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    m, test_rows = metrics_json(tmp_path / "rep"), ds.sample_index("test")
    assert m["meta"]["dataset"]["origin"] == "cache" and m["meta"]["dataset"]["cache_key"] == ds.meta["cache_key"]
    assert m["n_rows"] == len(test_rows) and m["first_time"] == str(ds.frame.index[test_rows[0]])

def test_dc_checkpoint_needs_its_dataset(tmp_path):
    "A DC model is evaluated on its DC dataset; deleted, it is rebuilt from the checkpoint's recorded spec (same key); with the input gone too, the error names the sfx-prepare flags."
    csv, data = tmp_path / "eurusd.csv", tmp_path / "data"
    load_sample().to_csv(csv)
    spec = DatasetSpec(source="csv", input=str(csv), t_in=32, t_out=10, intrinsic_time=True, dc_threshold_up=0.0005)
    ds = prepare_command(pairs="eurusd", data_dir=str(data), spec=spec)[0]
    ck = train(ds, TINY, QUICK, tmp_path / "run").best_path
    args = ["--checkpoint-path", ck, "--n-boot", "50", "--report-dir", tmp_path / "rep", "--data-dir", data]
    r = sfx_evaluate(*args)
    assert r.returncode == 0, r.stderr
    m = metrics_json(tmp_path / "rep")
    assert m["meta"]["dataset"]["origin"] == "cache" and m["meta"]["dataset"]["cache_key"] == ds.meta["cache_key"]
    assert m["n_rows"] == len(ds.sample_index("test"))
    assert m["audit"]["truncation"]["status"] == "ok"          # DC bars rebuilt from the truncated clock bars: no look-ahead
    shutil.rmtree(data / "eurusd")
    r = sfx_evaluate(*args)
    assert r.returncode == 0, r.stderr
    m = metrics_json(tmp_path / "rep")
    assert m["meta"]["dataset"]["origin"] == "rebuilt" and m["meta"]["dataset"]["cache_key"] == ds.meta["cache_key"]
    shutil.rmtree(data / "eurusd"); csv.unlink()
    r = sfx_evaluate(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("sfx-evaluate: error:"), r.stderr
    assert f"sfx-prepare --pairs eurusd --t-in 32 --source csv --input {csv} --intrinsic-time --data-dir {data}" in lines[0], lines[0]
    assert "no such file" in lines[0]

LEAK_PLUGIN = """
import numpy as np, pandas as pd
from sequence_fx.features import register_feature
@register_feature("next_bar_return")
def next_bar_return(bars, cfg):          # a planted leak: the NEXT bar's return
    lc = np.log(bars["close"])
    return pd.DataFrame({"next_ret": lc.shift(-1) - lc}, index=bars.index)
"""

def test_planted_leak_is_named_in_report_and_metrics(cli, tmp_path):
    "A plug-in feature equal to the next bar's return: the report and metrics.json carry the truncation and plausibility alarms naming it."
    plugins, data = tmp_path / "plugins", tmp_path / "data"
    plugins.mkdir(); (plugins / "leak.py").write_text(LEAK_PLUGIN)
    flags = ["--feature-plugins", plugins, "--plugins", "next_bar_return", "--t-in", "24", "--t-out", "5"]
    env = {"OMP_NUM_THREADS": "1", "SFX_LOG_LEVEL": "WARNING"}
    r = cli("sfx-prepare", *flags, "--data-dir", data, env=env)
    assert r.returncode == 0, r.stderr
    r = cli("sfx-train", *flags, "--data-dir", data, "--run-dir", tmp_path / "runs", "--epochs", "1", "--max-steps-per-epoch", "3",
            "--cnn-channels", "8", "--lstm-hidden", "8", "--attn-heads", "2", "--no-progress", "--threads", "1", env=env)
    assert r.returncode == 0, r.stderr
    r = sfx_evaluate("--checkpoint-path", tmp_path / "runs" / "eurusd" / "best_model.pt", "--n-boot", "100", "--report-dir", tmp_path / "rep",
                     "--data-dir", data)
    assert r.returncode == 0, r.stderr
    m = metrics_json(tmp_path / "rep")
    alarms = m["audit"]["alarms"]
    trunc = [a for a in alarms if a["code"] == "truncation"]
    assert [a["detail"]["column"] for a in trunc] == ["next_ret"] and all(a["kind"] == "leakage" for a in trunc)
    assert any(a["code"] == "feature_ic" and a["detail"]["feature"] == "next_ret" and a["kind"] == "plausibility" for a in alarms), alarms
    assert m["audit"]["verdict"].startswith("NOT TRUSTWORTHY") and m["audit"]["verdict"] in r.stdout
    html = (tmp_path / "rep" / "eurusd" / "report.html").read_text()
    assert "<div class='alarm'><b>LEAKAGE</b> (truncation): column &#x27;next_ret&#x27;" in html
    assert "<div class='alarm'><b>PLAUSIBILITY</b> (feature_ic): feature &#x27;next_ret&#x27;" in html

def test_constant_predictor_leads_with_accuracy_against_majority(tmp_path):
    "A model that always says 'flat' gets the degenerate banner, and its verdict is accuracy and log loss against always-majority."
    prep = prepare_dataset(load_sample(), DataConfig(pair="eurusd", t_in=32, t_out=10))
    n = len(prep.sample_index("test"))
    ev = evaluate(prep, np.tile([0.25, 0.5, 0.25], (n, 1)), name="always flat", n_boot=100, truncation=False)
    paths = write_report(ev, tmp_path / "rep", backtesting_plot=False)
    html, m = paths["report"].read_text(), json.loads(paths["metrics"].read_text())
    assert "<div class='alarm'><b>DEGENERATE</b> (one_class): predicts &#x27;flat&#x27; on 100% of rows" in html
    assert "<div class='verdict'>DEGENERATE always flat" in html and "accuracy and log loss against always-majority lead" in html
    assert m["audit"]["degenerate"] and m["audit"]["headline"]["against"] == "majority"
    assert {"one_class", "constant_proba"} <= {a["code"] for a in m["audit"]["alarms"]}

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
