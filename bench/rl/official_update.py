"""Times the official CURL agent's update (MishaLaskin/curl's
CurlSacAgent.update, its ReplayBuffer.sample_cpc and random_crop
included) on this machine, for comparison with BenchmarkUpdate in
sdk/rl/runner. The official code is not part of this repository: pass the
folder of a checkout of github.com/MishaLaskin/curl. It needs only numpy
and torch (Debian's python3-torch): gym and skimage are stubbed here.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/rl/official_update.py /path/to/curl [updates]
"""
import os
import sys
import time
import types

import numpy as np
import torch


def stub_modules():
    gym = types.ModuleType("gym")

    class Wrapper:
        def __init__(self, env):
            self.env = env

    gym.Wrapper = Wrapper
    gym.spaces = types.SimpleNamespace(Box=lambda **kw: None)
    sys.modules["gym"] = gym
    sk = types.ModuleType("skimage")
    util = types.ModuleType("skimage.util")
    shape = types.ModuleType("skimage.util.shape")

    def view_as_windows(arr, window_shape):
        return np.lib.stride_tricks.sliding_window_view(arr, window_shape)

    shape.view_as_windows = view_as_windows
    sys.modules.update({"skimage": sk, "skimage.util": util, "skimage.util.shape": shape})


class NoLog:
    def log(self, *a, **k):
        pass

    def log_histogram(self, *a, **k):
        pass

    def log_param(self, *a, **k):
        pass

    def log_image(self, *a, **k):
        pass


def main():
    repo = sys.argv[1]
    updates = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    stub_modules()
    sys.path.insert(0, repo)
    import utils
    from curl_sac import CurlSacAgent

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(1)
    np.random.seed(1)
    # train.py's settings for cartpole (scripts/run.sh): batch 128
    buf = utils.ReplayBuffer(obs_shape=(9, 100, 100), action_shape=(1,), capacity=100_000, batch_size=128, device="cpu", image_size=84)
    rng = np.random.default_rng(1)
    for _ in range(1000):
        o = rng.integers(0, 256, (9, 100, 100), dtype=np.uint8)
        buf.add(o, rng.uniform(-1, 1, 1), rng.uniform(), o, 0.0)
    agent = CurlSacAgent(obs_shape=(9, 84, 84), action_shape=(1,), device="cpu", hidden_dim=1024, discount=0.99,
                         init_temperature=0.1, alpha_lr=1e-4, alpha_beta=0.5, actor_lr=1e-3, actor_beta=0.9,
                         actor_log_std_min=-10, actor_log_std_max=2, actor_update_freq=2, critic_lr=1e-3,
                         critic_beta=0.9, critic_tau=0.01, critic_target_update_freq=2, encoder_type="pixel",
                         encoder_feature_dim=50, encoder_lr=1e-3, encoder_tau=0.05, num_layers=4, num_filters=32,
                         log_interval=100, detach_encoder=False, curl_latent_dim=128)
    L = NoLog()
    for name, cpc in (("pixel-sac", 10**9), ("curl", 1)):
        agent.cpc_update_freq = cpc
        for step in range(2):
            agent.update(buf, L, step)
        t0 = time.perf_counter()
        for step in range(2, 2 + updates):
            agent.update(buf, L, step)
        dt = (time.perf_counter() - t0) / updates
        print(f"official {name}: {dt:.3f} s/update ({updates} updates, batch 128, {torch.get_num_threads()} threads)")
    obs = rng.integers(0, 256, (9, 100, 100), dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(50):
        agent.sample_action(obs)
    print(f"official acting: {(time.perf_counter() - t0) / 50 * 1000:.2f} ms/step")


if __name__ == "__main__":
    main()
