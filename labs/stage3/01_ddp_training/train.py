"""Lab 3.1: data-parallel training with DistributedDataParallel, launched by torchrun.

Run it on your laptop (CPU, gloo), two processes:

    torchrun --nproc-per-node=2 train.py --epochs 4

On a GPU node the same command uses NCCL and bf16 autocast. torchrun sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT for every process; the script
reads them through `init_process_group`. Check your work with `kflab check 3.1`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

DATA_SEED = 1234  # the data is the same in every process and every run; --seed varies the training


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train a small MLP with DDP (launch with torchrun).")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=64, help="per process; the global batch is this times WORLD_SIZE")
    p.add_argument("--accumulate", type=int, default=1, help="batches per optimizer step (gradient accumulation)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--samples", type=int, default=4096, help="training samples (validation: a quarter of that)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout-s", type=int, default=300, help="how long a rendezvous or collective waits for a missing rank")
    p.add_argument("--checkpoint-dir", default="checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--precision", choices=("auto", "bf16", "tf32", "fp32"), default="auto",
                   help="auto: bf16 autocast on a GPU, fp32 on the CPU (which has bf16 autocast too)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--debug-dir", default=None, help="write one record per rank for the checks (parameter digest, samples seen)")
    return p


class SyntheticClasses(Dataset):
    """A seeded 4-class problem: a linear rule plus a smooth non-linear part. No download."""

    def __init__(self, n: int, features: int, split: str, device: torch.device):
        g = torch.Generator().manual_seed(DATA_SEED)
        w = torch.randn(features, 16, generator=g) / features**0.5
        v = torch.randn(16, 4, generator=g)
        offset = 0 if split == "train" else 1
        x = torch.randn(n, features, generator=torch.Generator().manual_seed(DATA_SEED + 1 + offset))
        self.y = (3 * x @ w[:, :4] + 0.5 * torch.tanh(x @ w) @ v).argmax(1).to(device)
        self.x = x.to(device)
        self.epoch, self.seen = 0, {}  # which samples this process read, per epoch (for the checks)

    def __len__(self) -> int:
        return len(self.y)

    def __getitems__(self, indices: list[int]):
        # One fetch per batch (not per sample), so the data pipeline keeps up with a GPU.
        self.seen.setdefault(self.epoch, []).extend(indices)
        idx = torch.as_tensor(indices)
        if self.x.is_cuda:  # pinned memory goes to the GPU without waiting for the steps queued there
            idx = idx.pin_memory().to(self.x.device, non_blocking=True)
        return self.x[idx], self.y[idx]


def make_loader(dataset: Dataset, batch_size: int, sampler=None, shuffle: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=shuffle, collate_fn=lambda batch: batch)


def make_model(features: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 4))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device


# --8<-- [start:setup]
def setup_distributed(args) -> tuple[int, int, torch.device]:
    """Join the process group that torchrun describes in the environment."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    # TODO: pick the backend in code: "nccl" on CUDA (NCCL only runs on GPUs), "gloo" on the CPU.
    # TODO: join the process group: dist.init_process_group(backend, timeout=timedelta(seconds=args.timeout_s)).
    #       Without a timeout, a rank that never joins makes the others wait 10 to 30 minutes.
    # TODO: return dist.get_rank(), dist.get_world_size(), device.
    return int(os.environ.get("RANK", 0)), 1, device
# --8<-- [end:setup]


# --8<-- [start:epoch]
def train_one_epoch(model, loader, opt, device: torch.device, precision: str, accumulate: int = 1) -> tuple[float, float]:
    """One pass over this rank's shard; returns the mean loss over all ranks and global samples/s."""
    model.train()
    loss_sum, samples = torch.zeros((), device=device), 0  # the loss stays on the device: no sync per step
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader, 1):
        last = step % accumulate == 0 or step == len(loader)
        # Between optimizer steps, no_sync() skips DDP's all-reduce: gradients add up locally
        # and are averaged across ranks once, in the backward pass of the last batch.
        with nullcontext() if last or not isinstance(model, DDP) else model.no_sync():
            # TODO: when precision is "bf16", run the forward pass and the loss under
            #       torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=...).
            loss = nn.functional.cross_entropy(model(x), y)
            (loss / accumulate).backward()
        if last:
            opt.step()
            opt.zero_grad(set_to_none=True)
        loss_sum += loss.detach().float() * len(y)
        samples += len(y)
    total = torch.stack([loss_sum, torch.tensor(float(samples), device=device)])
    # TODO: each rank saw only its shard: sum `total` over all ranks with dist.all_reduce.
    loss_total, samples_total = total.tolist()  # waits for the GPU, so the time below covers all its work
    return loss_total / samples_total, samples_total / (time.perf_counter() - start)
# --8<-- [end:epoch]


@torch.no_grad()
def evaluate(model: nn.Module, data: SyntheticClasses) -> float:
    model.eval()
    return (model(data.x).argmax(1) == data.y).float().mean().item()


# --8<-- [start:checkpoint]
def save_checkpoint(path: Path, epoch: int, model: DDP, opt) -> None:
    """Save the epoch, the model and the optimizer state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # TODO: once the model is wrapped in DDP, save model.module.state_dict() (the plain model's keys).
    # TODO: write to path.with_suffix(".tmp") and then .replace(path), so a crash never leaves half a file.
    torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict()}, path)


def load_checkpoint(path: Path, model: DDP, opt, device: torch.device) -> int:
    """Every rank loads the same file; returns the first epoch still to run."""
    # TODO: state = torch.load(path, map_location=device); load state["model"] into model.module and
    #       state["optimizer"] into opt; return the epoch after the saved one.
    return 1
# --8<-- [end:checkpoint]


def watch_dtype(model: nn.Module) -> dict:
    """Record the dtype the first layer computes in (bfloat16 under autocast), for the checks."""
    seen = {}
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))

    def hook(module, inputs, output):  # returns None, so the output is left unchanged
        seen.setdefault("first_layer", str(output.dtype))

    first.register_forward_hook(hook)
    return seen


def write_debug(folder: str, model: nn.Module, data: SyntheticClasses, dtypes: dict, losses: dict) -> None:
    """One JSON record per rank: what the checks compare across ranks."""
    params = model.module if isinstance(model, DDP) else model
    digest = hashlib.sha256()
    for t in params.state_dict().values():
        digest.update(bytes(t.detach().cpu().reshape(-1).view(torch.uint8).tolist()))  # no numpy needed
    record = {
        "rank": int(os.environ.get("RANK", 0)),
        "world_size": dist.get_world_size() if dist.is_initialized() else 1,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "param_sha256": digest.hexdigest(),
        "indices": {str(e): idx for e, idx in data.seen.items()},
        "dtypes": dtypes,
        "epoch_losses": losses,  # what train_one_epoch returned on this rank
    }
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"rank{record['rank']}.json").write_text(json.dumps(record))


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    seed_everything(args.seed)
    if args.precision == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    rank, world_size, device = setup_distributed(args)
    precision = args.precision if args.precision != "auto" else "bf16" if device.type == "cuda" else "fp32"

    train_set = SyntheticClasses(args.samples, args.features, "train", device)
    val_set = SyntheticClasses(args.samples // 4, args.features, "val", device)
    # --8<-- [start:loop]
    # TODO: give each rank its own shard: sampler = DistributedSampler(train_set, num_replicas=world_size,
    #       rank=rank, shuffle=True, seed=args.seed), and make_loader(train_set, args.batch_size, sampler=sampler).
    loader = make_loader(train_set, args.batch_size, shuffle=True)

    net = make_model(args.features, args.hidden).to(device)
    dtypes = watch_dtype(net)
    # TODO: wrap the model: DDP(net, device_ids=[device.index] if device.type == "cuda" else None).
    #       DDP broadcasts rank 0's weights at construction, then averages gradients every step.
    model = net
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    ckpt = Path(args.checkpoint_dir) / "checkpoint.pt"
    start, losses = 1, {}
    if args.resume and ckpt.exists():
        start = load_checkpoint(ckpt, model, opt, device)
        if rank == 0:
            print(f"resumed from {ckpt} at epoch {start}", flush=True)

    for epoch in range(start, args.epochs + 1):
        # TODO: sampler.set_epoch(epoch), so each epoch shuffles differently (and the same on every rank).
        train_set.epoch = epoch
        loss, samples_per_s = train_one_epoch(model, loader, opt, device, precision, args.accumulate)
        losses[epoch] = loss
        accuracy = evaluate(net, val_set)
        # TODO: print and save on rank 0 only, and print name=value pairs that Katib's collector reads:
        #       epoch=1 loss=0.4321 accuracy=0.8765 samples_per_sec=12345.6
        print(f"[rank {rank}] Epoch {epoch}/{args.epochs} - loss: {loss:.4f} - acc: {accuracy:.1%}", flush=True)
        save_checkpoint(ckpt, epoch, model, opt)
    # --8<-- [end:loop]

    if args.debug_dir:
        write_debug(args.debug_dir, model, train_set, dtypes, losses)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
