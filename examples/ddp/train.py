#!/usr/bin/env python3
"""Train a digits classifier with PyTorch DistributedDataParallel across the job's nodes.

trainyard starts one process per node and gives each the rendezvous of SPEC §3.8
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK); init_method env:// reads
them. Each rank trains on its own shard of the 1,797 UCI 8x8 digits with the gloo
backend (CPU), DDP averages the gradients, and at the end every rank prints the same
final loss, which rank 0 checks by gathering them all.

    python3 train.py --epochs 20        # on one machine: WORLD_SIZE=1
"""

import argparse
import csv
import gzip
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    with gzip.open(path, "rt") as f:
        rows = [list(map(float, r)) for r in csv.reader(f) if r]
    x = torch.tensor([r[:64] for r in rows]) / 16.0
    y = torch.tensor([int(r[64]) for r in rows])
    return x, y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--data", default=os.path.join(HERE, "..", "digits", "data", "digits.csv.gz"))
    args = p.parse_args()

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29500")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("RANK", "0")
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    print(f"rank {rank} of WORLD_SIZE={world} via {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}", flush=True)

    torch.manual_seed(0)  # the same initial weights on every rank
    x, y = load(args.data)
    split = len(x) * 4 // 5
    xs, ys = x[:split][rank::world], y[:split][rank::world]  # this rank's shard
    model = DistributedDataParallel(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, args.epochs + 1):
        opt.zero_grad()
        loss = loss_fn(model(xs), ys)
        loss.backward()  # gradients are averaged across the ranks here
        opt.step()
        if epoch % 5 == 0:
            print(f"rank {rank} epoch {epoch} loss {loss.item():.4f}", flush=True)

    with torch.no_grad():
        final = loss_fn(model(x[:split]), y[:split]).item()
        acc = (model(x[split:]).argmax(1) == y[split:]).float().mean().item()
    print(f"rank {rank} final loss {final:.6f} test accuracy {acc:.3f}", flush=True)
    losses = [torch.zeros(1) for _ in range(world)]
    dist.all_gather(losses, torch.tensor([final]))
    if rank == 0:
        agree = all(abs(l.item() - final) < 1e-6 for l in losses)
        print(f"ranks agree on the final loss: {agree}", flush=True)
        os.makedirs("outputs", exist_ok=True)
        torch.save(model.module.state_dict(), os.path.join("outputs", "model.pt"))
        if not agree:
            raise SystemExit("the ranks ended with different weights")
    dist.barrier()  # no rank leaves while another still talks to it
    dist.destroy_process_group()
    print(f"rank {rank} done", flush=True)
    # Debian's torch 1.13 can hang in gloo's teardown, when the model and process group are
    # freed or the interpreter exits, once rank 0 is gone; all is saved and flushed by now.
    os._exit(0)


if __name__ == "__main__":
    main()
