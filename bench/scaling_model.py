#!/usr/bin/env python3
"""Step time and efficiency of data-parallel training on 1-64 machines, from one machine's
measurements: a markdown table per model (docs/performance.md).

Input: JSON lines of bench/data_parallel_bench --json, one per model, run as one process on the
whole machine (its compute_s is one machine's step on its batch, its gradient_bytes the bytes every
step sums):
    build/data_parallel_bench --model resnet20 --batch 128 --threads 2 --json | \\
        python3 bench/scaling_model.py

The model, per step on p machines that each take `batch` images (weak scaling: the global batch
grows with p, the work per machine stays):
    ring all-reduce of G bytes in k buckets (Patarasuk and Yuan 2009; what MPI_Allreduce does for
    large messages): 2 (p - 1) / p * G / B  +  2 (p - 1) * k * a
        B: the link's bandwidth (10 or 100 Gbit/s, at 90% for protocol overhead)
        a: the latency of one message (25 us over TCP at 10 Gbit/s, 3 us with RDMA at 100 Gbit/s)
    serial:     step = compute + all-reduce
    overlapped: step = compute + max(0, all-reduce - backward), the sums hidden behind the backward
                pass (2/3 of the compute) as far as they fit
    efficiency = compute / step (1 on one machine)
Compressed gradients (8 bits a value, G / 4) change only the bytes.
"""
import json
import sys

LINKS = [  # name, bytes/s, latency s
    ("10 Gbit/s", 10e9 / 8 * 0.9, 25e-6),
    ("100 Gbit/s", 100e9 / 8 * 0.9, 3e-6),
]
NODES = [1, 2, 4, 8, 16, 32, 64]


def allreduce_seconds(p, gradient_bytes, buckets, bandwidth, latency):
    if p == 1:
        return 0.0
    return 2 * (p - 1) / p * gradient_bytes / bandwidth + 2 * (p - 1) * buckets * latency


def table(run):
    compute = run["compute_s"]
    backward = compute * 2 / 3
    grad = run["gradient_bytes"]
    buckets = max(1, -(-int(grad) // int(run["bucket_bytes"])))
    rows = []
    header = "| machines |"
    rule = "|---:|"
    for link, _, _ in LINKS:
        for label in ("fp32", "8-bit"):
            header += f" {link} {label}: step, serial / overlapped efficiency |"
            rule += "---:|"
    rows.append(header)
    rows.append(rule)
    for p in NODES:
        line = f"| {p} |"
        for _, bandwidth, latency in LINKS:
            for scale in (1.0, 0.25):
                comm = allreduce_seconds(p, grad * scale, buckets, bandwidth, latency)
                serial = compute + comm
                overlapped = compute + max(0.0, comm - backward)
                line += (f" {serial * 1e3:.0f} ms, {100 * compute / serial:.0f}% /"
                         f" {100 * compute / overlapped:.0f}% |")
        rows.append(line)
    return rows


def main():
    for text in sys.stdin:
        text = text.strip()
        if not text:
            continue
        run = json.loads(text)
        print(f"\n{run['model']}: {run['rank_batch']} images a machine, compute "
              f"{run['compute_s'] * 1e3:.0f} ms a step, {run['gradient_bytes'] / 1e6:.1f} MB of "
              f"float32 gradients a step\n")
        print("\n".join(table(run)))


if __name__ == "__main__":
    main()
