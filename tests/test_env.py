"""The trading environment across a process boundary (AsyncVectorEnv, fork and spawn) and with stable-baselines3
(PPO on the discrete, SAC on the continuous action space): API compatibility, not results."""
import os
import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
from sequence_fx.features import random_bars
from sequence_fx.dataset import DataConfig, prepare_dataset
from sequence_fx.backtest import ExecutionConfig
from sequence_fx.env import ENV_ID, make_env, make_vec_env, replay, RiskConfig


@pytest.fixture(scope="module")
def ds():
    return prepare_dataset(random_bars(1500, seed=3), DataConfig(t_in=16, t_out=5))


def _rollout(vec, n_steps, seed):
    "Observations, rewards and done flags of n_steps fixed pseudo-random actions."
    rng = np.random.default_rng(seed)
    obs, _ = vec.reset(seed=seed)
    out = [(obs["features"].copy(), obs["account"].copy(), np.zeros(vec.num_envs), np.zeros(vec.num_envs, bool))]
    for _ in range(n_steps):
        obs, r, term, trunc, info = vec.step(rng.integers(0, 3, vec.num_envs))
        out.append((obs["features"].copy(), obs["account"].copy(), r.copy(), term | trunc))
    return out


@pytest.mark.parametrize("mode", ["backtesting", "simulated"])
def test_async_vector_env_equals_sync(ds, mode):
    kw = dict(n_envs=3, split="train", mode=mode, episode_length=25, seed=11, exec_cfg=ExecutionConfig(latency_bars=1))
    sync = make_vec_env(ds, vectorization="sync", **kw)
    asyn = make_vec_env(ds, vectorization="async", **kw)
    try:
        a, b = _rollout(sync, 80, 5), _rollout(asyn, 80, 5)
        assert asyn.metadata["autoreset_mode"].name == "SAME_STEP"
    finally:
        sync.close(); asyn.close()
    assert sum(int(x[3].sum()) for x in b) == 9          # 25-step episodes, 80 steps, 3 envs: each ended 3 times
    for x, y in zip(a, b):
        for u, v in zip(x, y): np.testing.assert_array_equal(u, v)


def test_async_spawn_loads_dataset_from_directory(ds, tmp_path):
    "A spawned worker gets the dataset's directory, not the arrays, and loads it itself."
    ds.save(tmp_path / "ds")
    vec = make_vec_env(tmp_path / "ds", n_envs=2, vectorization="async", context="spawn", split="val", episode_length=10, seed=0)
    try:
        obs, _ = vec.reset(seed=0)
        for _ in range(25): obs, r, term, trunc, info = vec.step(np.array([2, 0]))
        assert obs["features"].shape == (2, 16, len(ds.feature_columns)) and np.isfinite(r).all()
    finally:
        vec.close()


def test_gym_make_by_id_from_a_fresh_import(ds, tmp_path):
    ds.save(tmp_path / "ds")
    env = gym.make(ENV_ID, prepared=tmp_path / "ds", split="test", episode_length=None, risk_cfg=RiskConfig(max_drawdown=None))
    rep = replay(env, lambda o, i: 2)
    assert rep.truncated and len(rep.steps) == env.unwrapped.episode_length
    np.testing.assert_array_equal(rep.equity.to_numpy(), rep.backtest(trades=False, n_boot=0).equity.to_numpy()[:-1])


def test_sb3_ppo_trains_on_the_env(ds):
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env as sb3_vec
    torch.set_num_threads(1)
    venv = sb3_vec(lambda: make_env(ds, split="train", episode_length=128, seed=0), n_envs=2, seed=0)
    model = PPO("MultiInputPolicy", venv, n_steps=256, batch_size=128, n_epochs=2, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=3072)
    assert model.num_timesteps >= 3072
    obs = venv.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2,) and set(action.tolist()) <= {0, 1, 2}


def test_sb3_sac_trains_on_the_continuous_env(ds):
    import torch
    from stable_baselines3 import SAC
    torch.set_num_threads(1)
    env = make_env(ds, split="train", obs="window", action="continuous", mode="simulated", episode_length=100, seed=0)
    model = SAC("MultiInputPolicy", env, learning_starts=100, batch_size=64, buffer_size=2000, train_freq=4, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=600)
    assert model.num_timesteps >= 600
