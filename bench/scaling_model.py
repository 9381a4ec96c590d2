#!/usr/bin/env python3
"""Step time and efficiency of data-parallel training on 1-64 machines, from one machine's
measurements: markdown tables per model (docs/performance.md).

Input: JSON lines of bench/data_parallel_bench --json, each run as one process on the whole
machine, at two or more batch sizes per model (compute_s is one machine's step on its batch, the
fit compute(b) = fixed + b * per_image gives it at any batch; gradient_bytes is what every step
sums):
    for b in 128 16; do build/data_parallel_bench --model resnet18 --batch $b --threads 2 --json; \\
    done | python3 bench/scaling_model.py

The model, per step on p machines (ring all-reduce, Patarasuk and Yuan 2009, what MPI_Allreduce
does for large messages):
    all-reduce(p) = 2 (p - 1) / p * G / B  +  2 (p - 1) * k * a
        G: gradient bytes (float32, or 8 bits a value: G / 4), k: buckets of 4 MiB
        B: the link's bandwidth (10 or 100 Gbit/s, at 90% for protocol overhead)
        a: one message's latency (25 us over TCP at 10 Gbit/s, 3 us with RDMA at 100 Gbit/s)
    serial:     step = compute(b) + all-reduce(p)
    overlapped: step = compute(b) + max(0, all-reduce(p) - backward), backward = 2/3 compute(b):
                the sums hidden behind the backward pass as far as it lasts
Two ways to use more machines:
    same work per machine: b = 128 on every machine (the global batch grows, 128 p);
                efficiency = compute(128) / step
    same global batch 128 (the paper's schedules as they are): b = 128 / p;
                efficiency = step on 1 machine / (p * step on p machines)
"""
import json
import sys
from collections import defaultdict

LINKS = [  # name, bytes/s, latency s
    ("10 Gbit/s", 10e9 / 8 * 0.9, 25e-6),
    ("100 Gbit/s", 100e9 / 8 * 0.9, 3e-6),
]
NODES = [1, 2, 4, 8, 16, 32, 64]
BUCKET = 4 << 20


def fit(points):
    """Least squares of compute = fixed + per_image * batch over (batch, seconds) points."""
    if len(points) == 1:
        (b, t), = points
        return 0.0, t / b
    n = len(points)
    mb = sum(b for b, _ in points) / n
    mt = sum(t for _, t in points) / n
    slope = sum((b - mb) * (t - mt) for b, t in points) / sum((b - mb) ** 2 for b, _ in points)
    return max(0.0, mt - slope * mb), slope


def allreduce(p, grad, bandwidth, latency):
    if p == 1:
        return 0.0
    buckets = max(1, -(-int(grad) // BUCKET))
    return 2 * (p - 1) / p * grad / bandwidth + 2 * (p - 1) * buckets * latency


def steps(compute, comm):
    return compute + comm, compute + max(0.0, comm - compute * 2 / 3)


def table(name, fixed, per_image, grad, same_global):
    cols = [(link, bw, lat, scale, label) for link, bw, lat in LINKS
            for scale, label in ((1.0, "fp32"), (0.25, "8-bit"))]
    head = "| machines | batch a machine | compute |" + "".join(
        f" {link} {label} |" for link, _, _, _, label in cols)
    rows = [head, "|---:|---:|---:|" + "---:|" * len(cols)]
    one = fixed + per_image * 128
    for p in NODES:
        b = max(2, 128 // p) if same_global else 128
        compute = fixed + per_image * b
        line = f"| {p} | {b} | {compute * 1e3:.0f} ms |"
        for _, bw, lat, scale, _ in cols:
            serial, overlapped = steps(compute, allreduce(p, grad * scale, bw, lat))
            if same_global:
                eff = [one / (p * s) for s in (serial, overlapped)]
            else:
                eff = [compute / s for s in (serial, overlapped)]
            line += f" {serial * 1e3:.0f} ms, {100 * eff[0]:.0f}% / {100 * eff[1]:.0f}% |"
        rows.append(line)
    return rows


def main():
    runs = defaultdict(list)
    grads = {}
    for text in sys.stdin:
        if text.strip():
            r = json.loads(text)
            runs[r["model"]].append((r["rank_batch"], r["compute_s"]))
            grads[r["model"]] = r["gradient_bytes"]
    for model, points in runs.items():
        fixed, per_image = fit(points)
        grad = grads[model]
        print(f"\n{model}: compute {fixed * 1e3:.0f} ms + {per_image * 1e3:.2f} ms an image a step "
              f"(fit to batches {sorted(b for b, _ in points)}), {grad / 1e6:.1f} MB of float32 "
              f"gradients a step; each cell: step time, efficiency serial / overlapped\n")
        for same_global, title in ((False, "128 images on every machine"),
                                   (True, "global batch 128")):
            print(f"{title}:\n")
            print("\n".join(table(model, fixed, per_image, grad, same_global)))
            print()


if __name__ == "__main__":
    main()
