"""A training loop written by hand over LSTMCell
=============================================

A recipe as the PyTorch write-ups write it, over
:class:`fastrnn.nn.LSTMCell`. Run it: ``python examples/cell_loop.py
[--steps N]``. The task: read a sequence of random numbers one step at a
time and output their running mean. Forward steps the cell and a linear
read-out through time; backward walks the cell's tape in reverse
(backpropagation through time) and an Adam step updates the weights, every
line of it visible.
"""

import argparse
import time

import numpy as np

from fastrnn.nn import LSTMCell
from fastrnn.optim import Adam


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--steps", type=int, default=300, help="training iterations")
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    H, T, B, lr = 16, 10, 32, 0.01
    cell = LSTMCell(1, H, random_state=0)
    w_out, b_out = rng.normal(0, 0.1, (H, 1)).astype(np.float32), np.zeros(1, np.float32)
    params = [cell.flat_params, w_out, b_out]
    opt = Adam(learning_rate=lr)  # torch.optim.Adam: one state per array it steps

    start = time.perf_counter()
    for it in range(1, args.steps + 1):
        x = rng.uniform(-1, 1, (B, T, 1)).astype(np.float32)
        target = np.cumsum(x, axis=1) / np.arange(1, T + 1)[None, :, None]  # running mean
        state, hs = None, []
        for t in range(T):  # forward through time
            state = cell.forward(x[:, t], state, training=True)
            hs.append(state[0])
        preds = [h @ w_out + b_out for h in hs]
        loss = np.mean([(p_ - target[:, t]) ** 2 for t, p_ in enumerate(preds)])
        cell.zero_grad()
        g_w, g_b = np.zeros_like(w_out), np.zeros_like(b_out)
        dh, dc = np.zeros((B, H), np.float32), None
        for t in reversed(range(T)):  # backward through time, one tape entry per step
            d_pred = 2 * (preds[t] - target[:, t]) / (B * T)
            g_w += hs[t].T @ d_pred
            g_b += d_pred.sum(axis=0)
            _, (dh, dc) = cell.backward(dh + d_pred @ w_out.T, dc)
        for q, g in zip(params, [cell.flat_grad, g_w, g_b]):  # opt.step()
            opt.update(q, g)
        if it % 100 == 0 or it == args.steps:
            print(f"step {it}: loss {loss:.5f}")
    took = time.perf_counter() - start
    print(f"{args.steps} steps in {took:.2f} s")
    return {"seconds": took, "final loss": float(loss)}


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
