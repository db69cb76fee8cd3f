#!/usr/bin/env python3
"""torch.distributed peer of ``memorag bench distributed``: all-reduce (sum) of fp32 buffers over Gloo.

Run as one rank of a world (the variables torchrun sets: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); rank 0 prints
ONE JSON line, the protocol our worker (``memorag bench distributed-worker``) speaks::

    RANK=r WORLD_SIZE=n MASTER_ADDR=127.0.0.1 MASTER_PORT=p python torch_allreduce.py --sizes 1048576,... --repeats 5

For each size (bytes): a float32 tensor of ones; two warm-up all-reduces; then per repeat a barrier and one timed
``dist.all_reduce`` (in place, SUM). Output: ``{"impl", "torch", "world_size", "results": [{"bytes", "seconds":
[...]}]}`` with rank 0's times. The process group is Gloo, like ours, with Gloo's default of 2 worker threads.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.distributed as dist


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", required=True, help="comma-separated buffer sizes in bytes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        buffer = torch.ones(size // 4, dtype=torch.float32)
        for _ in range(2):
            dist.all_reduce(buffer)
        seconds = []
        for _ in range(args.repeats):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buffer)
            seconds.append(time.perf_counter() - start)
        results.append({"bytes": size, "seconds": seconds})
    if dist.get_rank() == 0:
        print(json.dumps({"impl": "torch.distributed", "torch": torch.__version__,
                          "world_size": dist.get_world_size(), "results": results}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
