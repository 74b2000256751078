"""ShardStream under real DataLoader workers: every sample exactly once."""
import numpy as np
import pytest
from torch.utils.data import DataLoader

from sequence_fx.data import load_sample
from sequence_fx.dataset import DataConfig, prepare_dataset, write_shards
from sequence_fx.training import ShardStream

@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    ds = prepare_dataset(load_sample(), DataConfig(t_in=32, t_out=4))
    d = tmp_path_factory.mktemp("shards")
    write_shards(ds, d, rows_per_shard=600)
    return ds, d

@pytest.mark.parametrize("workers", [0, 2, 3])
@pytest.mark.parametrize("split", ["train", "test"])
def test_workers_partition_samples(shards, workers, split):
    ds, d = shards
    stream = ShardStream(d, split, chunk=97, shuffle=True, seed=1)
    rows = []
    for x, y, r in DataLoader(stream, batch_size=64, num_workers=workers):
        assert x.shape[1:] == (32, ds.n_features)
        for xi, yi, ri in zip(x.numpy(), y.numpy(), r.tolist()):   # each window is the in-memory window of its row
            np.testing.assert_array_equal(xi, ds.X[ri - 31:ri + 1])
            assert yi == ds.y[ri]
        rows += r.tolist()
    assert len(rows) == len(set(rows))                       # no sample twice
    assert sorted(rows) == list(ds.sample_index(split))      # none missed

def test_ranks_times_workers(shards, monkeypatch):
    "Emulate 2 ranks x 2 workers: the 4 consumers partition the samples."
    ds, d = shards
    seen = []
    for me in range(4):
        s = ShardStream(d, "train", chunk=50)
        monkeypatch.setattr(s, "_assignment", lambda me=me: (me, 4))
        seen += [r for _, _, r in s]
    assert sorted(seen) == list(ds.sample_index("train"))


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_windows_workers(shards, workers):
    "StreamWindows (the trainer's --stream path) under real DataLoader workers: the in-memory training samples, each once."
    from sequence_fx.training import StreamWindows
    ds, d = shards
    sw = StreamWindows(d, "train", batch_size=64, buffer_shards=2, pad=False, seed=3, workers=workers)
    sw.set_epoch(2)
    batches = list(DataLoader(sw, batch_size=None, num_workers=workers))
    assert len(batches) == len(sw)
    ends = np.concatenate([x[:, -1].numpy() for x, _ in batches])
    ref = ds.X[ds.sample_index("train")]
    assert len(ends) == len(ref) and (np.unique(ends, axis=0) == np.unique(ref, axis=0)).all()


def test_sfx_train_stream(cli, tmp_path):
    "sfx-train --stream on the sample: a checkpoint, and the shards it trained from."
    r = cli("sfx-train", "--pairs", "eurusd", "--epochs", "1", "--max-steps-per-epoch", "3", "--stream", "--t-in", "32",
            "--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "runs"), "--no-progress", "--threads", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "runs" / "eurusd" / "best_model.pt").exists()
    assert (tmp_path / "runs" / "eurusd" / "shards" / "shards.json").exists()
