#!/usr/bin/env python3
"""PyTorch reference for `peephole bench screening`.

The same network as the Rust predictor (SPEC section 3, with the sizes of
`Dims::paper`): TY, KW, KH, CH embeddings of 10 each (one kernel table
shared by KW and KH), `nn.LSTM(40, 160)`, a 40-d epoch embedding, and a head
of three linear layers with batch norm and ReLU, in inference mode. It times
batches of random architectures and prints one JSON line:

    {"archs_per_second": ..., "archs_per_cpu_second": ..., "torch": "2.x",
     "threads": 2, ...}

Without torch it prints {"skipped": "..."} and exits 0, so the Rust
benchmark can report the column as skipped. CI never needs torch.

Usage: python3 scripts/bench_screening.py --batch 256 --layers 40 \
           --threads 2 --seconds 5
"""

import argparse
import json
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    try:
        import torch
        from torch import nn
    except ImportError:
        print(json.dumps({"skipped": "torch is not installed"}))
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    class Predictor(nn.Module):
        def __init__(self):
            super().__init__()
            self.ty = nn.Embedding(10, 10)
            self.kernel = nn.Embedding(6, 10)
            self.ratio = nn.Embedding(9, 10)
            self.epoch = nn.Embedding(201, 40)
            self.lstm = nn.LSTM(40, 160, batch_first=True)
            self.head = nn.Sequential(
                nn.Linear(200, 200), nn.BatchNorm1d(200), nn.ReLU(),
                nn.Linear(200, 200), nn.BatchNorm1d(200), nn.ReLU(),
                nn.Linear(200, 1),
            )

        def forward(self, codes, epochs):
            layers = torch.cat(
                [
                    self.ty(codes[..., 0]),
                    self.kernel(codes[..., 1]),
                    self.kernel(codes[..., 2]),
                    self.ratio(codes[..., 3]),
                ],
                dim=-1,
            )
            _, (h, _) = self.lstm(layers)
            x = torch.cat([h[-1], self.epoch(epochs)], dim=-1)
            return self.head(x).squeeze(-1)

    model = Predictor().eval()
    b, n = args.batch, args.layers
    codes = torch.stack(
        [
            torch.randint(1, 10, (b, n)),
            torch.randint(1, 6, (b, n)),
            torch.randint(1, 6, (b, n)),
            torch.randint(1, 9, (b, n)),
        ],
        dim=-1,
    )
    epochs = torch.randint(1, 201, (b,))

    with torch.inference_mode():
        model(codes, epochs)
        runs = 0
        cpu_started = time.process_time()
        started = time.perf_counter()
        while runs < 3 or time.perf_counter() - started < args.seconds:
            model(codes, epochs)
            runs += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started

    print(json.dumps({
        "archs_per_second": runs * b / elapsed,
        # CPU time of all threads; OpenMP spin-waiting counts here.
        "archs_per_cpu_second": runs * b / cpu if cpu > 0 else None,
        "torch": torch.__version__.split("+")[0],
        "threads": torch.get_num_threads(),
        "batch": b,
        "layers": n,
    }))


if __name__ == "__main__":
    main()
