"""TimesFM loading and the forecast cache across process boundaries: the Hugging Face cache location is read when
huggingface_hub is imported, so each case runs in a fresh interpreter with HF_HOME / HF_HUB_CACHE set. Offline:
tiny random models from the package's own classes, a cache laid out exactly as huggingface_hub writes it."""
import hashlib, json, os, shutil, subprocess, sys
from pathlib import Path

import pytest

from sequence_fx.tsfm import HUB_IDS, WEIGHTS_FILE, CONFIG_FILE, save_random_timesfm

def run_py(code, env, timeout=600):
    "Run `code` in a fresh interpreter, offline, with `env` added; returns CompletedProcess."
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "SFX_LOG_LEVEL": "WARNING", **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full)

def hf_cache_with(root:Path, version:str, model_dir:Path, revision:str="0123456789abcdef0123456789abcdef01234567") -> Path:
    "Put `model_dir`'s files into a Hugging Face hub cache at `root` the way huggingface_hub lays one out."
    repo = root / ("models--" + HUB_IDS[version].replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snap = repo / "snapshots" / revision
    snap.mkdir(parents=True); (repo / "blobs").mkdir()
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        data = (model_dir / name).read_bytes()
        blob = hashlib.sha256(data).hexdigest() if name == WEIGHTS_FILE else hashlib.sha1(data).hexdigest() # LFS: sha256; git: sha1
        (repo / "blobs" / blob).write_bytes(data)
        (snap / name).symlink_to(Path("..") / ".." / "blobs" / blob)
    return root

@pytest.mark.parametrize("version", ["2.5", "3"])
def test_no_weights_one_clear_error(tmp_path, version):
    r = run_py(f"from sequence_fx.tsfm import load_timesfm; load_timesfm({version!r}, None, 'cpu')", {"HF_HOME": str(tmp_path / "empty"), "HF_HUB_CACHE": str(tmp_path / "empty" / "hub")})
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "TimesFMError" in last and f"TimesFM {version} weights not found" in last, r.stderr[-2000:]
    for part in [HUB_IDS[version], f"hf download {HUB_IDS[version]}", "--local-dir models/", "--timesfm-path", str(tmp_path / "empty")]:
        assert part in last, (part, last)
    assert ("non-commercial" in last) == (version == "3")

@pytest.mark.parametrize("version", ["2.5", "3"])
def test_loads_from_hf_cache_without_a_path(tmp_path, version):
    model = save_random_timesfm(tmp_path / "tiny", version)
    cache = hf_cache_with(tmp_path / "hub", version, model)
    blob = hashlib.sha256((model / WEIGHTS_FILE).read_bytes()).hexdigest()
    code = (f"import json, numpy as np; from sequence_fx.tsfm import load_timesfm\n"
            f"fc = load_timesfm({version!r}, None, 'cpu', batch_size=8)\n"
            f"q = fc.forecast([1.1 + 0.001 * np.sin(np.arange(80) / 5)] * 3, 10)\n"
            f"print(json.dumps({{'model_id': fc.model_id, 'shape': q.shape, 'directory': str(fc.directory)}}))")
    r = run_py(code, {"HF_HUB_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["model_id"] == HUB_IDS[version] + "@0123456789ab" and out["shape"] == [3, 10, 9], out
    directory = out["directory"]
    assert "/snapshots/" in directory
    # the fingerprint of a cached blob is its name: the same bytes as a plain file elsewhere give the same hash
    r2 = run_py(f"from sequence_fx.tsfm import weights_fingerprint as w; print(w({directory!r}) == w({str(model)!r}))", {})
    assert r2.stdout.strip() == "True", r2.stderr[-2000:]
    assert Path(directory, WEIGHTS_FILE).resolve().name == blob

def test_forecast_cache_survives_the_process(tmp_path):
    "A second process with the same model and contexts reads every forecast from disk and runs the model zero times."
    model = save_random_timesfm(tmp_path / "tiny", "3")
    code = (f"import numpy as np, json; from sequence_fx.tsfm import load_timesfm, forecast_log_returns\n"
            f"from sequence_fx.data import load_sample\n"
            f"fc = load_timesfm('3', {str(model)!r}, 'cpu', batch_size=16)\n"
            f"close = load_sample()['close'].to_numpy()\n"
            f"p = forecast_log_returns(fc, close, np.arange(300, 340), 10, 128, {str(tmp_path / 'cache')!r}, progress=False)\n"
            f"print(json.dumps({{'calls': fc.n_calls, 'sum': float(p.sum())}}))")
    first, second = run_py(code, {}), run_py(code, {})
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    a, b = json.loads(first.stdout.strip().splitlines()[-1]), json.loads(second.stdout.strip().splitlines()[-1])
    assert a["calls"] == 3 and b["calls"] == 0
    assert a["sum"] == b["sum"]
    # another horizon or another model is another key: nothing is read back by mistake
    other = save_random_timesfm(tmp_path / "other", "3", seed=1)
    r = run_py(code.replace(str(model), str(other)), {})
    assert json.loads(r.stdout.strip().splitlines()[-1])["calls"] == 3, r.stderr[-2000:]
