"""Property tests for sequence_fx.intrinsic_time at full size (the notebook runs smaller versions by default).

- fast (numba) == reference (plain Python) on >= 1,000 random series with ties, flat runs and single-row series;
- no look-ahead: changing prices after t changes nothing known at t, for the event table, every dc_bars column and
  every dc_features column.
"""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sequence_fx.data import DataError
from sequence_fx.intrinsic_time import (DC_BAR_COLUMNS, EVENT_COLUMNS, _dc_core_numba, _dc_core_python, dc_bars,
                                        dc_events, dc_events_reference, dc_features, events_known_at)

MAX_LEN = 200
SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))


@st.composite
def price_series(draw, max_len: int = MAX_LEN):
    "Positive price walks built to hit corner cases: exact threshold ties, flat runs, pip rounding, 1-2 rows."
    n = draw(st.one_of(st.integers(1, 3), st.integers(1, max_len)))
    kind = draw(st.sampled_from(["integer", "decimal", "float", "flat"]))
    if kind == "integer":  # integer prices and θ = 2**-k: thresholds land exactly on prices
        steps = draw(st.lists(st.sampled_from([-2, -1, 0, 0, 0, 1, 2]), min_size=n - 1, max_size=n - 1))
        p = 2.0 * max_len + 64 + np.cumsum([0, *steps])
        thetas = st.sampled_from([1 / 8, 1 / 16, 1 / 32, 1 / 64])
    elif kind == "flat":  # long constant runs broken by jumps of exactly the threshold
        levels = draw(st.lists(st.sampled_from([64.0, 72.0, 81.0, 56.0, 63.0]), min_size=1, max_size=6))
        p = np.repeat(levels, -(-n // len(levels)))[:n]
        thetas = st.sampled_from([1 / 8, 1 / 16])
    else:
        r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        z = r.normal(0, 0.002, n - 1) * (r.random(n - 1) < draw(st.sampled_from([0.3, 0.7, 1.0])))
        p = 1.1 * np.exp(np.cumsum([0, *z]))
        if kind == "decimal": p = np.round(p, 4)
        thetas = st.sampled_from([0.0005, 0.001, 0.002, 0.005, 0.01])
    up = draw(thetas)
    down = draw(st.one_of(st.none(), thetas))
    log_price = draw(st.booleans()) if kind in ("decimal", "float") else False
    return np.asarray(p, float), up, down, log_price


def _times(n, freq="min"):
    return pd.date_range("2020-01-01", periods=n, freq=freq, tz="UTC", name="time")


def _bars(p, seed=0):
    r = np.random.default_rng(seed)
    o = np.r_[p[0], p[:-1]]
    return pd.DataFrame({"open": o, "high": np.maximum(o, p) * (1 + r.random(len(p)) * 1e-3),
                         "low": np.minimum(o, p) * (1 - r.random(len(p)) * 1e-3), "close": p,
                         "volume": r.integers(0, 5, len(p)).astype(float)}, index=_times(len(p), "h"))


def _other_future(b, c, seed):
    "A copy of bar frame b whose rows after c are replaced by a different (random) path."
    q = b.copy()
    k = len(b) - c - 1
    if k: q.iloc[c + 1:, :4] = q.iloc[c + 1:, :4].to_numpy() * np.exp(np.random.default_rng(seed).normal(0, .01, (k, 1)))
    return q


N_FAST_REF = 0

@settings(max_examples=1000, **SETTINGS)
@given(price_series())
def test_fast_equals_reference(case):
    global N_FAST_REF
    p, up, down, log_price = case
    down_ = up if down is None else down
    x = np.log(p) if log_price else p
    for a, b in zip(_dc_core_numba(x, up, down_, log_price), _dc_core_python(x, up, down_, log_price)):
        np.testing.assert_array_equal(a, b)
    t = _times(len(p))
    pd.testing.assert_frame_equal(dc_events(p, t, up, down, log_price), dc_events_reference(p, t, up, down, log_price))
    N_FAST_REF += 1


def test_fast_equals_reference_ran_1000():
    if N_FAST_REF == 0: pytest.skip("run together with test_fast_equals_reference")
    assert N_FAST_REF >= 1000


@pytest.mark.parametrize("seed", range(5))
def test_fast_equals_reference_long(seed):
    "Longer walks: many events, so the compiled loop's output buffers must grow."
    r = np.random.default_rng(seed)
    p = 1.2 * np.exp(np.cumsum(r.normal(0, 1e-4, 50_000)))
    if seed % 2: p = np.round(p, 5)
    t = _times(len(p), "s")
    for th in (0.0001, 0.0005):
        pd.testing.assert_frame_equal(dc_events(p, t, th), dc_events_reference(p, t, th))


@settings(max_examples=300, **SETTINGS)
@given(price_series(), st.data())
def test_events_no_lookahead(case, data):
    p, up, down, log_price = case
    c = data.draw(st.integers(0, len(p) - 1))
    q = _other_future(_bars(p), c, c)["close"].to_numpy()
    t = _times(len(p))
    known = events_known_at(dc_events(p, t, up, down, log_price), t[c])
    pd.testing.assert_frame_equal(known, events_known_at(dc_events(q, t, up, down, log_price), t[c]))
    pd.testing.assert_frame_equal(known, dc_events(p[:c + 1], t[:c + 1], up, down, log_price))


@settings(max_examples=300, **SETTINGS)
@given(price_series(), st.data())
def test_dc_bars_no_lookahead(case, data):
    p, up, down, log_price = case
    c = data.draw(st.integers(0, len(p) - 1))
    b = _bars(p)
    tc = b.index[c]
    full, other, past = (dc_bars(x, up, down, log_price, coastline_window="6h") for x in (b, _other_future(b, c, c), b.iloc[:c + 1]))
    assert list(full.columns) == ["open", "high", "low", "close", "volume", *DC_BAR_COLUMNS]
    pd.testing.assert_frame_equal(full[full.index <= tc], other[other.index <= tc])
    pd.testing.assert_frame_equal(full[full.index <= tc], past)


@settings(max_examples=300, **SETTINGS)
@given(price_series(), st.data())
def test_dc_features_no_lookahead(case, data):
    p, up, _, log_price = case
    c = data.draw(st.integers(0, len(p) - 1))
    b = _bars(p)
    kw = dict(thetas=(up, 2 * up), windows=("3h", "1D"), log_price=log_price)
    full, other, past = (dc_features(x, **kw) for x in (b, _other_future(b, c, c), b.iloc[:c + 1]))
    pd.testing.assert_frame_equal(full.iloc[:c + 1], other.iloc[:c + 1])
    pd.testing.assert_frame_equal(full.iloc[:c + 1], past)


def test_errors_and_empty():
    t = _times(3)
    with pytest.raises(DataError, match="theta_up must be a finite number > 0"): dc_events([1., 2., 3.], t, 0)
    with pytest.raises(DataError, match="theta_down must be a finite number > 0"): dc_events([1., 2., 3.], t, 0.1, -1)
    with pytest.raises(DataError, match="row 1 .*price is nan"): dc_events([1., np.nan, 3.], t, 0.1)
    with pytest.raises(DataError, match="row 2: times out of order"): dc_events([1., 2., 3.], t[[0, 2, 1]], 0.1)
    with pytest.raises(DataError, match="3 prices but 2 times"): dc_events([1., 2., 3.], t[:2], 0.1)
    for p in ([1.0], [1.0, 1.0, 1.0]):
        ev = dc_events(p, t[:len(p)], 0.1)
        assert len(ev) == 0 and dict(ev.dtypes.astype(str)) == EVENT_COLUMNS
    db = dc_bars(_bars(np.ones(5)), 0.1)
    assert len(db) == 0 and str(db.index.tz) == "UTC" and (db.dtypes == "float64").all()
