"""HistData downloader against a local HTTP server that speaks HistData's page-token + POST exchange."""
import io, threading, urllib.parse, zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sequence_fx.data import read_histdata, write_histdata
from sequence_fx.features import random_bars
from sequence_fx.histdata import DownloadError, download_histdata, histdata_filename

TOKEN = "0f3c9a7e5d1b"

def make_zip(pair, period, bars):
    "A zip laid out like HistData's: the CSV plus a status text file."
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"DAT_ASCII_{pair.upper()}_M1_{period}.csv"
        write_histdata(bars, p)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(p, p.name)
            z.writestr(f"DAT_ASCII_{pair.upper()}_M1_{period}.txt", "HistData.com status report\n")
        return buf.getvalue()

class Server:
    "HistData-like server: GET page with token, POST get.php returns the archive; failures injectable."
    def __init__(self, archives):
        self.archives, self.fail = archives, []  # fail: list of actions consumed one per POST: 500, 404, 'truncate', 'html'
        self.posts, self.gets = [], 0
        outer = self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                outer.gets += 1
                body = (f'<html><form action="get.php" method="POST"><input type="hidden" name="tk" id="tk" value="{TOKEN}">'
                        f'</form></html>').encode()
                self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                outer.posts.append(form)
                if form.get("tk") != TOKEN or "download-free-forex-historical-data" not in self.headers.get("Referer", ""):
                    self.send_response(403); self.end_headers(); return
                action = outer.fail.pop(0) if outer.fail else None
                if isinstance(action, int):
                    self.send_response(action); self.send_header("Content-Length", "0"); self.end_headers(); return
                data = outer.archives.get((form["fxpair"], form["datemonth"]))
                if data is None: self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
                if action == "html": data = b"<html>Please try again later</html>"
                if action == "redirect":                     # to another origin (same machine, other host name)
                    self.send_response(302); self.send_header("Location", f"http://localhost:{outer.httpd.server_address[1]}/evil.zip")
                    self.send_header("Content-Length", "0"); self.end_headers(); return
                if action == "drip":                         # a slow drip: each chunk well inside the socket timeout
                    self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
                    import time as _t
                    try:
                        for i in range(0, len(data), 64): self.wfile.write(data[i:i + 64]); self.wfile.flush(); _t.sleep(0.1)
                    except OSError: pass
                    return
                self.send_response(200); self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(data))); self.end_headers()
                self.wfile.write(data[: len(data) // 2] if action == "truncate" else data)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
    def close(self): self.httpd.shutdown(); self.httpd.server_close()

@pytest.fixture
def server():
    b18 = random_bars(3000, seed=1, start="2018-03-01", freq="1min")
    b19 = random_bars(3000, seed=2, start="2019-07-01", freq="1min")
    s = Server({("EURUSD", "2018"): make_zip("eurusd", "2018", b18), ("EURUSD", "2019"): make_zip("eurusd", "2019", b19)})
    s.bars = {2018: b18, 2019: b19}
    yield s
    s.close()

def test_download_load_round_trip(server, tmp_path):
    paths = download_histdata("eurusd", [2018, 2019], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert [p.name for p in paths] == [histdata_filename("eurusd", 2018), histdata_filename("eurusd", 2019)]
    assert server.posts[0]["platform"] == "ASCII" and server.posts[0]["timeframe"] == "M1" and server.posts[0]["fxpair"] == "EURUSD"
    bars = read_histdata(paths)
    expected = pd.concat([server.bars[2018], server.bars[2019]])
    assert bars.index.equals(expected.index)  # EST (fixed UTC-5) in the files, UTC again after loading
    np.testing.assert_allclose(bars["close"], expected["close"], rtol=1e-6)

def test_resume_skips_valid_cached_files(server, tmp_path):
    download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, backoff=0)
    n = len(server.posts)
    download_histdata("eurusd", [2018, 2019], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert len(server.posts) == n + 1  # only 2019 was fetched
    assert [f["datemonth"] for f in server.posts] == ["2018", "2019"]

def test_server_errors_and_truncation_are_retried(server, tmp_path):
    server.fail = [500, "truncate", "html", 503]
    (p,) = download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert len(server.posts) == 5
    assert len(read_histdata(p)) == 3000

def test_failed_download_leaves_no_complete_looking_file(server, tmp_path):
    server.fail = ["truncate"] * 10
    with pytest.raises(DownloadError, match="failed after 3 attempts"):
        download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, retries=2, backoff=0)
    assert list((tmp_path / "eurusd").glob("*")) == []  # neither the archive nor a temp file

def test_corrupt_cached_file_is_replaced(server, tmp_path):
    dest = tmp_path / "eurusd" / histdata_filename("eurusd", 2018)
    dest.parent.mkdir(parents=True); dest.write_bytes(b"PK\x03\x04 truncated")
    download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert len(server.posts) == 1 and zipfile.is_zipfile(dest)

def test_missing_period_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_histdata("eurusd", [2017], cache_dir=tmp_path, base_url=server.url, backoff=0)

def test_sfx_prepare_downloads_then_prepares(server, tmp_path, cli):
    r = cli("sfx-prepare", "--source", "histdata", "--histdata-download", "--years", "2018,2019", "--histdata-mirror", server.url,
            "--timeframe", "15m", "--t-in", "16", "--t-out", "2", "--data-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "histdata" / "eurusd").glob("*.zip")) == ["DAT_ASCII_EURUSD_M1_2018.zip", "DAT_ASCII_EURUSD_M1_2019.zip"]
    from sequence_fx.prepare import load_prepared
    ds = load_prepared(tmp_path, "eurusd")
    assert ds.frame.index[0] == server.bars[2018].index[0] and len(ds.frame) == 400   # 2 x 3000 M1 bars -> 15-minute bars
    n = len(server.posts)
    r = cli("sfx-prepare", "--source", "histdata", "--histdata-download", "--years", "2018,2019", "--histdata-mirror", server.url,
            "--timeframe", "15m", "--t-in", "16", "--t-out", "2", "--data-dir", tmp_path)
    assert r.returncode == 0 and len(server.posts) == n and "reusing cached dataset" in r.stderr   # nothing fetched twice
    r = cli("sfx-prepare", "--histdata-download", "--years", "2018", "--data-dir", tmp_path)
    assert r.returncode == 1 and "needs --source histdata" in r.stderr


def crc_corrupt(data: bytes) -> bytes:
    "The same zip with one byte of the deflated CSV flipped: it opens, but unpacking fails (CRC or zlib error)."
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.infolist()[0]
    raw[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    return bytes(raw)

def test_crc_corrupt_cached_archive_is_replaced(server, tmp_path):
    from sequence_fx.data import DataError
    from sequence_fx.histdata import valid_archive
    dest = tmp_path / "eurusd" / histdata_filename("eurusd", 2018)
    dest.parent.mkdir(parents=True); dest.write_bytes(crc_corrupt(server.archives[("EURUSD", "2018")]))
    assert not valid_archive(dest)                               # no zlib.error escapes
    with pytest.raises(DataError, match="corrupt zip member"):
        read_histdata(dest)
    download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert len(server.posts) == 1 and valid_archive(dest) and len(read_histdata(dest)) == 3000

def test_corrupt_download_is_retried(server, tmp_path):
    "An archive that arrives CRC-corrupt is retried, and never lands in the cache."
    server.archives[("EURUSD", "2018")] = crc_corrupt(server.archives[("EURUSD", "2018")])
    with pytest.raises(DownloadError, match="failed after 2 attempts: .*not a zip with a .csv inside"):
        download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, retries=1, backoff=0)
    assert len(server.posts) == 2 and list((tmp_path / "eurusd").glob("*")) == []

def test_redirect_to_another_origin_is_refused(server, tmp_path):
    server.fail = ["redirect"]
    with pytest.raises(DownloadError, match="redirects to another origin"):
        download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, backoff=0)
    assert list((tmp_path / "eurusd").glob("*")) == []

def test_slow_drip_hits_the_wall_clock_timeout(server, tmp_path):
    import time
    server.fail = ["drip"]
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="not finished within its time limit"):
        download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, retries=0, timeout=1.0)
    assert time.monotonic() - t0 < 5

def test_overall_deadline(server, tmp_path):
    import time
    server.fail = [500] * 20
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="overall deadline of 1.5s passed"):
        download_histdata("eurusd", [2018], cache_dir=tmp_path, base_url=server.url, retries=10, backoff=0.4, deadline=1.5)
    assert time.monotonic() - t0 < 4

def test_sfx_prepare_download_time_limits(server, tmp_path, cli_here):
    "The per-attempt and overall limits are sfx-prepare flags: a slow drip or a failing server ends in one line, in time."
    import time
    base = ["--source", "histdata", "--histdata-download", "--years", "2018", "--histdata-mirror", server.url, "--data-dir", tmp_path]
    server.fail = ["drip"] * 10
    t0 = time.monotonic()
    r = cli_here("sfx-prepare", *base, "--histdata-timeout", "1", "--histdata-deadline", "2.5")
    assert time.monotonic() - t0 < 8, "the overall deadline bounds the command"
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and lines[-1].startswith("sfx-prepare: error:") and ("deadline" in lines[-1] or "time limit" in lines[-1]), r.stderr[-2000:]
    assert not list((tmp_path / "histdata").rglob("*.zip"))                     # nothing half-written under a final name
    for flag, value in [("--histdata-timeout", "0"), ("--histdata-deadline", "-1")]:
        r = cli_here("sfx-prepare", *base, flag, value)
        assert r.returncode == 1 and flag in r.stderr.strip().splitlines()[-1], r.stderr

def test_zip_member_over_the_cap_is_refused(tmp_path, monkeypatch):
    from sequence_fx import data as sfx_data
    from sequence_fx.data import DataError
    from sequence_fx.histdata import valid_archive
    p = tmp_path / "DAT_ASCII_EURUSD_M1_2018.zip"
    p.write_bytes(make_zip("eurusd", "2018", random_bars(3000, seed=1, start="2018-03-01", freq="1min")))
    monkeypatch.setattr(sfx_data, "ZIP_MEMBER_LIMIT", 10_000)
    assert not valid_archive(p)
    with pytest.raises(DataError, match="over the 10000-byte limit"):
        read_histdata(p)
