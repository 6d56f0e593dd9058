#!/usr/bin/env python3
"""PyTorch reference for `peephole bench training`.

Builds the same network as the native trainer from the expanded network
JSON that `peephole bench training` writes (the `Network` of the
architecture model: a list of layers with their ops and padding), then
times SGD steps exactly as `model::train::throughput` does: random
normal images, fixed labels, cross-entropy, SGD with momentum 0.9,
dampening 0 and weight decay 1e-4, lr 0.1; warm-up steps untimed; the
forward pass (with the loss), the backward pass and the optimiser step
timed separately. Prints one JSON object on stdout.

Usage:
    python3 scripts/bench_training.py --network net.json --threads 2 \
        --batch-size 64 --warmup 3 --steps 20
Exit status 3 when torch is not installed (the caller skips the column).
"""

import argparse
import json
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("torch is not installed", file=sys.stderr)
    sys.exit(3)


def padded(pad, module, fill):
    """`module` after explicit (possibly asymmetric) padding with `fill`."""
    p = (pad["left"], pad["right"], pad["top"], pad["bottom"])
    if not any(p):
        return [module]
    return [nn.ConstantPad2d(p, fill), module]


def build(network):
    """nn.Sequential equivalent of the native trainer's Classifier."""
    layers = []
    ops = [layer["op"] for layer in network["layers"]]
    for op in ops[:-2]:
        kind = op["op"]
        if kind == "conv":
            conv = nn.Conv2d(op["in_ch"], op["out_ch"], (op["kh"], op["kw"]),
                             stride=op["stride"], bias=op["bias"])
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)
            layers += padded(op["pad"], conv, 0.0)
        elif kind == "max_pool":
            pool = nn.MaxPool2d((op["kh"], op["kw"]), stride=op["stride"])
            layers += padded(op["pad"], pool, float("-inf"))
        elif kind == "avg_pool":
            # Zero padding counted in the average: the same cost as the
            # native trainer's real-pixel count, which is all a timing
            # needs.
            pool = nn.AvgPool2d((op["kh"], op["kw"]), stride=op["stride"])
            layers += padded(op["pad"], pool, 0.0)
        elif kind == "batch_norm":
            layers.append(nn.BatchNorm2d(op["ch"]))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "sigmoid":
            layers.append(nn.Sigmoid())
        elif kind == "tanh":
            layers.append(nn.Tanh())
        elif kind == "identity":
            pass
        else:
            raise SystemExit(f"unsupported op {kind}")
    head = ops[-1]
    linear = nn.Linear(head["in_features"], head["out_features"])
    nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
    nn.init.zeros_(linear.bias)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.network) as f:
        network = json.load(f)
    model = build(network)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                          dampening=0, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    inp = network["input"]
    b = args.batch_size
    images = torch.randn(b, inp["c"], inp["h"], inp["w"])
    labels = torch.arange(b) % network["classes"]

    fwd = bwd = step = 0.0
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= args.warmup:
            fwd += t1 - t0
            bwd += t2 - t1
            step += t3 - t2
    n = max(args.steps, 1)
    total = fwd + bwd + step
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": b,
        "steps": args.steps,
        "images_per_second": args.steps * b / total,
        "forward_seconds": fwd / n,
        "backward_seconds": bwd / n,
        "optimizer_seconds": step / n,
    }))


if __name__ == "__main__":
    main()
