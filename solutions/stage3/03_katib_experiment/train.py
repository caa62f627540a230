"""The training script that lab 3.3's Experiment tunes (given code: you do not edit it).

One process, a few seconds on a laptop CPU. Its defaults are deliberately poor
(a tiny learning rate and no momentum), so tuning has something to find. It
prints its metrics the way Katib's StdOut collector reads them:

    epoch=3 loss=0.4121 accuracy=0.8613

Try it: `python train.py`, then `python train.py --lr 0.1 --momentum 0.9`.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

DATA_SEED = 1234


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a small MLP on a seeded synthetic problem.")
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p


def make_data(n: int = 4096, features: int = 32):
    """Train and validation sets of a 4-class problem: a linear rule plus a smooth non-linear part."""
    g = torch.Generator().manual_seed(DATA_SEED)
    w = torch.randn(features, 16, generator=g) / features**0.5
    v = torch.randn(16, 4, generator=g)
    x = torch.randn(n + n // 4, features, generator=g)
    y = (3 * x @ w[:, :4] + 0.5 * torch.tanh(x @ w) @ v).argmax(1)
    return (x[:n], y[:n]), (x[n:], y[n:])


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # trials run side by side; one core each
    (x, y), (xv, yv) = make_data()
    model = nn.Sequential(nn.Linear(x.shape[1], args.hidden), nn.ReLU(), nn.Linear(args.hidden, 4))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            accuracy = (model(xv).argmax(1) == yv).float().mean().item()
        print(f"epoch={epoch} loss={total / len(x):.4f} accuracy={accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
