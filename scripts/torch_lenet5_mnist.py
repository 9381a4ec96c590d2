#!/usr/bin/env python3
# The PyTorch side of the ONNX worked example (README, docs/onnx.md): trains LeNet-5 on MNIST in
# PyTorch, prints its test accuracy and exports it with torch.onnx.export, for lowbit-import.
# The input normalization is torchvision's Normalize((0.5,), (0.5,)), not lowbit's MNIST one, so
# the import needs --mean 0.5 --std 0.5.
#
# Usage: torch_lenet5_mnist.py --data-dir data/mnist --out runs/torch/lenet5.onnx [--epochs 2]
# (data/mnist holds the four MNIST .gz files: scripts/download-data.sh mnist). Needs python3-torch.
import argparse
import gzip
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "onnx"))
from torch_models import LeNet5  # noqa: E402  (the same LeNet-5 as the import tests)

MEAN, STD = 0.5, 0.5


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2051:  # images: count, rows, cols
        rows, cols = struct.unpack(">II", data[8:16])
        pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
        return pixels.view(count, 1, rows, cols)
    if magic == 2049:  # labels
        return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()
    sys.exit(f"{path}: magic number {magic}; expected an MNIST IDX file (2051 or 2049)")


def load(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return (images.float() / 255 - MEAN) / STD, labels


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        correct = sum((model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum().item()
                      for i in range(0, len(images), 1000))
    return 100.0 * correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "t10k")
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = args.epochs * (len(train_x) // 128)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x))
        for i in range(0, len(train_x) - 127, 128):
            batch = order[i:i + 128]
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.4f}  "
              f"{time.time() - start:.0f} s", flush=True)
    print(f"PyTorch test accuracy {accuracy(model, test_x, test_y):.2f}% "
          f"({len(test_x)} images)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    model.eval()
    torch.onnx.export(model, test_x[:1], args.out, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}}, opset_version=13)
    print(f"wrote {args.out}; next: lowbit-import {args.out} --dataset mnist "
          f"--mean {MEAN} --std {STD} --out runs/torch/lenet5.ckpt")


if __name__ == "__main__":
    main()
