"""GDELT GKG downloader against a local HTTP server on 127.0.0.1 serving a masterfilelist.txt and GKG zips in the real format.

Run: .venv/bin/pytest tests/test_sentiment_download.py -q
"""
import hashlib, http.server, os, signal, subprocess, sys, textwrap, threading, time
from pathlib import Path

import pandas as pd
import pytest

from sequence_fx.sentiment import (BATCH, DownloadError, batch_name, download_gkg, gkg_files, is_verified,
                                   synthetic_gkg_records, write_gkg_zip)

T0 = pd.Timestamp("2017-07-03 09:00", tz="UTC")
REPO = Path(__file__).resolve().parents[1]


class Server:
    """Serves files from a folder. `actions[name]` is a list consumed one per request: 'ok', 'bad_md5' (same size,
    wrong bytes), 'truncate' (full Content-Length, half the body, then close), 'stall' (half the body, then wait for
    `release`), '404', '500'. An empty list means 'ok'. Counts requests and the most requests in flight at once."""

    def __init__(self, root: Path, delay: float = 0.0):
        self.root, self.delay = root, delay
        self.actions, self.requests = {}, {}
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.release, self.half_sent = threading.Event(), threading.Event()
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                with srv.lock:
                    srv.requests[name] = srv.requests.get(name, 0) + 1
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                    todo = srv.actions.get(name, [])
                    action = todo.pop(0) if todo else "ok"
                try:
                    if srv.delay: time.sleep(srv.delay)
                    if action in ("404", "500"):
                        self.send_error(int(action)); return
                    p = srv.root / name
                    if not p.is_file():
                        self.send_error(404); return
                    body = p.read_bytes()
                    if action == "bad_md5": body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/zip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if action in ("truncate", "stall"):
                        self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
                        if action == "stall":
                            srv.half_sent.set(); srv.release.wait(30)
                        self.close_connection = True
                        return
                    self.wfile.write(body)
                finally:
                    with srv.lock: srv.in_flight -= 1

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown(); self.httpd.server_close()


def make_batches(root: Path, n: int, list_base: str, skip=()):
    "n GKG batches from T0 in the real layout, and a masterfilelist.txt naming them (with export files, like GDELT's)."
    root.mkdir(parents=True, exist_ok=True)
    lines, stamps = [], []
    for k in range(n):
        s = T0 + k * BATCH
        p = write_gkg_zip(root / batch_name(s), [l for _, l in synthetic_gkg_records(40, s, seed=k)])
        stamps.append(s)
        if k in skip: continue
        lines.append(f"123 0123456789abcdef0123456789abcdef {list_base}/{s:%Y%m%d%H%M%S}.export.CSV.zip")
        lines.append(f"{p.stat().st_size} {hashlib.md5(p.read_bytes()).hexdigest()} {list_base}/{p.name}")
    (root / "masterfilelist.txt").write_text("\n".join(lines) + "\n")
    return stamps


@pytest.fixture
def served(tmp_path):
    srv = Server(tmp_path / "srv")
    stamps = make_batches(tmp_path / "srv", 4, srv.url + "/gdeltv2")
    yield srv, stamps, tmp_path / "cache"
    srv.close()


def dl(cache, stamps, srv, **kw):
    kw = {"mirror": srv.url, "retries": 2, "backoff": 0.01, "timeout": 5, "progress": False, **kw}
    return download_gkg(cache, stamps[0], stamps[-1], **kw)


def file_requests(srv):
    return {k: v for k, v in srv.requests.items() if k.endswith(".gkg.csv.zip")}


def test_download_verifies_and_resume_skips_verified(served):
    srv, stamps, cache = served
    rep = dl(cache, stamps, srv)
    assert rep.listed == 4 and len(rep.downloaded) == 4 and not rep.failed and not rep.absent
    for p in gkg_files(cache):
        assert p.read_bytes() == (srv.root / p.name).read_bytes()
    srv.requests.clear()
    rep2 = dl(cache, stamps, srv)
    assert rep2.downloaded == [] and len(rep2.skipped) == 4
    assert file_requests(srv) == {}                          # nothing fetched again
    # a verified file that gets corrupted on disk is detected (mtime changes -> re-hash) and fetched again
    victim = cache / batch_name(stamps[2])
    data = bytearray(victim.read_bytes()); data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    srv.requests.clear()
    rep3 = dl(cache, stamps, srv)
    assert rep3.downloaded == [victim.name] and file_requests(srv) == {victim.name: 1}
    assert victim.read_bytes() == (srv.root / victim.name).read_bytes()


def test_md5_mismatch_is_rejected_and_retried(served):
    srv, stamps, cache = served
    a, b = batch_name(stamps[0]), batch_name(stamps[1])
    srv.actions[a] = ["bad_md5"]                              # wrong once, then right
    srv.actions[b] = ["bad_md5"] * 10                         # always wrong
    rep = dl(cache, stamps, srv, retries=2)
    assert a in rep.downloaded and srv.requests[a] == 2
    assert (cache / a).read_bytes() == (srv.root / a).read_bytes()
    assert b in rep.failed and "MD5" in rep.failed[b] and srv.requests[b] == 3
    assert not (cache / b).exists()                           # a file failing verification is never kept
    assert rep.missing_intervals == [(stamps[1], stamps[1] + BATCH)]
    assert [p.name for p in gkg_files(cache)] == [batch_name(s) for s in stamps if s != stamps[1]]
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]


def test_truncated_transfer_leaves_no_complete_looking_file(served):
    srv, stamps, cache = served
    a = batch_name(stamps[0])
    srv.actions[a] = ["truncate"]
    rep = dl(cache, stamps, srv, retries=0)
    assert a in rep.failed and not (cache / a).exists()
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]
    srv.actions[a] = ["truncate"]
    rep = dl(cache, stamps, srv, retries=1)                   # retried: the second attempt completes
    assert rep.downloaded == [a] and is_verified(cache / a, (srv.root / a).stat().st_size,
                                                 hashlib.md5((srv.root / a).read_bytes()).hexdigest())


def test_killed_download_process_leaves_no_complete_looking_file(served):
    srv, stamps, cache = served
    a = batch_name(stamps[0])
    srv.actions[a] = ["stall"]
    code = textwrap.dedent(f"""
        from sequence_fx.sentiment import download_gkg
        download_gkg({str(cache)!r}, {str(stamps[0])!r}, {str(stamps[0])!r}, mirror={srv.url!r}, workers=1,
                     retries=0, timeout=60, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        assert srv.half_sent.wait(60), "the download never started"
        deadline = time.time() + 10                           # wait until the child has written the half it received
        while time.time() < deadline and not any(p.name.endswith(".tmp") and p.stat().st_size > 0 for p in cache.iterdir()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None: proc.kill()
    names = [p.name for p in cache.iterdir()]
    assert a not in names and gkg_files(cache) == []          # only a hidden temp file, never the final name
    assert any(n.startswith(f".{a}.") and n.endswith(".tmp") for n in names)
    srv.release.set()
    rep = dl(cache, stamps[:1], srv)                          # the next run completes the file
    assert rep.downloaded == [a] and [p.name for p in gkg_files(cache)] == [a]
    assert not [p for p in cache.iterdir() if p.name.endswith(".tmp")]   # the dead writer's partial file (its pid is in the name) is gone
    live, old = cache / f".{a}.p{os.getpid()}-live.tmp", cache / f".{a}.p{os.getpid()}-old.tmp"   # a live process's partial files
    live.write_bytes(b"x"); old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    dl(cache, stamps[:1], srv)
    assert live.exists() and not old.exists()                 # fresh: may belong to a live download, kept; two hours untouched: stale


def test_404_and_500_are_retried_then_reported(served):
    srv, stamps, cache = served
    a, b, c = (batch_name(s) for s in stamps[:3])
    srv.actions[a] = ["500", "500"]                           # two server errors, then fine
    srv.actions[b] = ["404"] * 10                             # gone for good
    srv.actions[c] = ["500"] * 10
    rep = dl(cache, stamps, srv, retries=2)
    assert a in rep.downloaded and srv.requests[a] == 3
    assert rep.failed[b].startswith("HTTP 404") and srv.requests[b] == 3
    assert rep.failed[c].startswith("HTTP 500") and srv.requests[c] == 3
    assert rep.missing_intervals == [(stamps[1], stamps[3])]  # consecutive failures merge into one interval
    assert "2017-07-03 09:15..2017-07-03 09:45" in str(rep)
    srv.actions[b], srv.actions[c] = ["404"] * 10, []
    with pytest.raises(DownloadError, match=r"missing intervals: 2017-07-03 09:15\.\.2017-07-03 09:30") as err:
        dl(cache, stamps, srv, retries=1, on_failure="raise")
    assert f"first error: {srv.url}/{b}: HTTP 404" in str(err.value)   # names the URL, not just the file


def test_mirror_replaces_base_url_and_absent_intervals_are_reported(tmp_path):
    srv = Server(tmp_path / "srv")
    try:
        # the list names a host that refuses connections; every request must go to the mirror
        stamps = make_batches(tmp_path / "srv", 5, "http://127.0.0.1:9/gdeltv2", skip={3})
        rep = dl(tmp_path / "cache", stamps, srv, retries=0)
        assert len(rep.downloaded) == 4 and not rep.failed
        assert rep.absent == [stamps[3]]                      # GDELT's own gap, not a failure
        assert srv.requests["masterfilelist.txt"] == 1
    finally:
        srv.close()


def test_bounded_concurrency(tmp_path):
    srv = Server(tmp_path / "srv", delay=0.2)
    try:
        stamps = make_batches(tmp_path / "srv", 8, srv.url + "/gdeltv2")
        rep = dl(tmp_path / "cache", stamps, srv, workers=2)
        assert len(rep.downloaded) == 8
        assert srv.max_in_flight == 2
    finally:
        srv.close()


def test_stale_cached_list_is_refreshed(served):
    srv, stamps, cache = served
    dl(cache, stamps[:2], srv)
    assert srv.requests["masterfilelist.txt"] == 1
    dl(cache, stamps[:2], srv)                                # the cached list covers the range: not fetched again
    assert srv.requests["masterfilelist.txt"] == 1
    (srv.root / "masterfilelist.txt").write_text((srv.root / "masterfilelist.txt").read_text())
    rep = download_gkg(cache, stamps[0], stamps[-1] + BATCH, mirror=srv.url, retries=0, backoff=0.01, progress=False)
    assert srv.requests["masterfilelist.txt"] == 2            # asks beyond the cached list's end: refreshed
    assert rep.absent == [stamps[-1] + BATCH]


def test_features_end_to_end_with_download(served, tmp_path):
    from sequence_fx.sentiment import SentimentConfig, sentiment_features_for_bars
    srv, stamps, cache = served
    bars = pd.DataFrame({c: 1.0 for c in ["open", "high", "low", "close"]} | {"volume": 0.0},
                        index=pd.DatetimeIndex([T0 + pd.Timedelta(minutes=30 * i) for i in range(3)], name="time"))
    cfg = SentimentConfig(model="none", half_lives=("1h",), warmup="0min", retries=0, backoff=0.01)
    f = sentiment_features_for_bars(bars, "eurusd", cache, cfg, mirror=srv.url, download=True, progress=False)
    assert list(f.index) == list(bars.index) and "sent_pair_tone" in f and "sent_pair_finbert" not in f
    assert f["sent_base_count"].sum() + f["sent_quote_count"].sum() > 0


def test_failed_and_absent_batches_show_as_coverage_not_calm(served):
    from sequence_fx.sentiment import SentimentConfig, sentiment_features_for_bars
    srv, stamps, cache = served                               # GDELT lists batches 09:00..09:45 only
    srv.actions[batch_name(stamps[1])] = ["404"] * 10         # 09:15 fails for good
    bars = pd.DataFrame({c: 1.0 for c in ["open", "high", "low", "close"]} | {"volume": 0.0},
                        index=pd.DatetimeIndex([T0 + pd.Timedelta(minutes=30 * i) for i in range(3)], name="time"))
    cfg = SentimentConfig(model="none", half_lives=("1h",), warmup="0min", retries=0, backoff=0.01, on_download_failure="warn")
    f = sentiment_features_for_bars(bars, "eurusd", cache, cfg, mirror=srv.url, download=True, progress=False)
    # bar closing 09:30 is owed 09:00 and 09:15 (failed); 10:00 is owed 09:30, 09:45; 10:30 is owed 10:00, 10:15 (never listed)
    assert f["sent_coverage"].tolist() == [0.5, 1.0, 0.0]
    assert f.loc[bars.index[2], ["sent_base_count", "sent_quote_count"]].tolist() == [0, 0]   # no news, and coverage says why


def test_master_list_that_is_an_html_page_is_an_error(served):
    "A mirror answering 200 with an HTML page instead of the list: an error naming the URL, not '0 listed' and success."
    srv, stamps, cache = served
    (srv.root / "masterfilelist.txt").write_text("<!DOCTYPE html><html><body>Service unavailable</body></html>\n")
    with pytest.raises(DownloadError, match="not a GDELT master file list"):
        dl(cache, stamps, srv)
    assert not (cache / "masterfilelist.txt").exists()
