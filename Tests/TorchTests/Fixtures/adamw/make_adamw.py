#!/usr/bin/env python3
"""Generate ``adamw.safetensors``: a reference trajectory of ``torch.optim.AdamW``.

Run (from the repository root)::

    PY=$(scripts/peer-venv.sh | tail -n1)
    $PY Tests/TorchTests/Fixtures/adamw/make_adamw.py

The output is deterministic (``torch.manual_seed(0)``, all float32, CPU).

Optimizer::

    torch.optim.AdamW(params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                      weight_decay=0.1, foreach=False)
    # amsgrad=False, maximize=False, capturable=False, differentiable=False

Tensors (all float32 unless stated):

``init.{i}``
    Initial parameters, i = 0, 1, 2 with shapes [4, 3], [3], [2, 2, 2]
    (``torch.randn``, drawn in that order).
``grad.{s}.{i}``
    Gradient of parameter i at step s = 0..9 (``torch.randn``, drawn in order
    s-major, i-minor, after the init tensors). **There is no ``grad.3.1``**:
    parameter 1 has no gradient at step 3 (``p.grad = None``), so AdamW skips it
    completely at that step (no decay, no moment update, no step increment).
    (A value for it is still drawn and discarded, so the random stream keeps
    the same layout as without the skip.)
``expected.{s}.{i}``
    Parameter i right after ``optimizer.step()`` number s (s = 0..9).
``state.{i}.exp_avg``, ``state.{i}.exp_avg_sq``
    First/second moment of parameter i after the last step (same shape as it).
``state.{i}.step``
    Per-parameter step counter after the last step, 0-d float32 tensor as torch
    keeps it: 10 for parameters 0 and 2, 9 for parameter 1.

Per step, for each parameter with a gradient (``t`` = its own step count,
starting at 1), torch's single-tensor AdamW does, in float32::

    p  = p * (1 - lr * weight_decay)
    m  = lerp(m, g, 1 - beta1)            # m + (g - m) * (1 - beta1)
    v  = v * beta2 + (1 - beta2) * g * g
    bc1 = 1 - beta1**t ; bc2 = 1 - beta2**t
    denom = sqrt(v) / sqrt(bc2) + eps
    p  = p - (lr / bc1) * m / denom

``__metadata__`` (strings): lr, beta1, beta2, betas, eps, weight_decay, steps,
shapes, skipped (the "step.param" pairs without a gradient), torch, optimizer.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before importing torch

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

LR = 1e-2
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.1
STEPS = 10
SHAPES = [(4, 3), (3,), (2, 2, 2)]
SKIPPED = {(3, 1)}  # (step, parameter index) without a gradient

OUT = Path(__file__).resolve().with_name("adamw.safetensors")


def sort_metadata_in_place(path: Path) -> None:
    """Make the file byte-reproducible.

    ``save_file`` writes ``__metadata__`` in (random) hash-map order; rewrite the
    header with the metadata keys sorted. The header keeps its length (same
    keys, same compact JSON), so tensor data offsets are unaffected.
    """
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    ordered = {"__metadata__": dict(sorted(header.pop("__metadata__", {}).items()))}
    ordered.update(header)
    text = json.dumps(ordered, separators=(",", ":")).encode("ascii")
    if len(text) <= n:
        path.write_bytes(raw[:8] + text.ljust(n, b" ") + raw[8 + n:])


def main() -> None:
    torch.manual_seed(0)
    tensors: dict[str, torch.Tensor] = {}

    init = [torch.randn(shape, dtype=torch.float32) for shape in SHAPES]
    grads = [[torch.randn(shape, dtype=torch.float32) for shape in SHAPES] for _ in range(STEPS)]
    for i, t in enumerate(init):
        tensors[f"init.{i}"] = t.clone()

    params = [torch.nn.Parameter(t.clone()) for t in init]
    opt = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS,
                            weight_decay=WEIGHT_DECAY, foreach=False)

    for s in range(STEPS):
        for i, p in enumerate(params):
            if (s, i) in SKIPPED:
                p.grad = None
            else:
                p.grad = grads[s][i].clone()
                tensors[f"grad.{s}.{i}"] = grads[s][i].clone()
        opt.step()
        for i, p in enumerate(params):
            tensors[f"expected.{s}.{i}"] = p.detach().clone()

    for i, p in enumerate(params):
        state = opt.state[p]
        tensors[f"state.{i}.exp_avg"] = state["exp_avg"].clone()
        tensors[f"state.{i}.exp_avg_sq"] = state["exp_avg_sq"].clone()
        step = state["step"]
        step = step if torch.is_tensor(step) else torch.tensor(float(step))
        tensors[f"state.{i}.step"] = step.to(torch.float32).reshape(()).clone()

    # Sanity: the skipped parameter did not move at the skipped step.
    for (s, i) in SKIPPED:
        before = tensors[f"expected.{s - 1}.{i}"] if s > 0 else tensors[f"init.{i}"]
        assert torch.equal(before, tensors[f"expected.{s}.{i}"]), "skipped parameter moved"
    assert tensors["state.1.step"].item() == STEPS - 1
    assert tensors["state.0.step"].item() == STEPS

    metadata = {
        "lr": repr(LR),
        "beta1": repr(BETAS[0]),
        "beta2": repr(BETAS[1]),
        "betas": f"{BETAS[0]!r},{BETAS[1]!r}",
        "eps": repr(EPS),
        "weight_decay": repr(WEIGHT_DECAY),
        "steps": str(STEPS),
        "shapes": ";".join("x".join(map(str, sh)) for sh in SHAPES),
        "skipped": ",".join(f"{s}.{i}" for s, i in sorted(SKIPPED)),
        "optimizer": "torch.optim.AdamW(foreach=False, amsgrad=False, maximize=False)",
        "torch": torch.__version__,
        "generator": "Tests/TorchTests/Fixtures/adamw/make_adamw.py",
    }
    tensors = {k: v.contiguous() for k, v in sorted(tensors.items())}
    save_file(tensors, str(OUT), metadata=metadata)
    sort_metadata_in_place(OUT)
    print(f"wrote {OUT} ({len(tensors)} tensors, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
