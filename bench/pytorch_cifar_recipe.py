# An accuracy cross-check, not a benchmark: a zoo model trained in PyTorch with the recipe of a
# lowbit-train run (SGD with Nesterov momentum, weight decay on convolution and linear weights
# only, label smoothing, one epoch of linear warm-up per step, then cosine or linear decay to 0
# per step, random 4-pixel crops and flips, all 50,000 training images), on the same images.
"""Usage: /usr/bin/python3 bench/pytorch_cifar_recipe.py --data-dir DIR [--model resnet20]
[--epochs 30] [--batch 128] [--lr 0.2] [--weight-decay 5e-4] [--label-smoothing 0.1]
[--schedule cosine|linear] [--threads 1] [--seed 0]

DIR holds CIFAR-10's binary batches (data_batch_1..5.bin, test_batch.bin: a label byte and
3072 pixel bytes per image). For an image-folder copy such as cifar10-jpeg, write them with
build/export_cifar_binary first. The lowbit-train flags of the same recipe:
  --optimizer sgd --nesterov --no-decay-norm-bias --warmup-epochs 1 --val-split 0
One line per epoch: training loss and accuracy, test accuracy, rate, seconds.
"""
import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

from pytorch_throughput import MODELS

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)  # data/datasets.cpp's cifar10 row
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def load(paths):
    raw = np.concatenate([np.fromfile(p, dtype=np.uint8).reshape(-1, 3073) for p in paths])
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def normalize(pixels):
    return (torch.from_numpy(pixels).float() / 255 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--model", default="resnet20", choices=["resnet20", "resnet18", "vgg7"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "linear"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    x_train, y_train = load([os.path.join(a.data_dir, f"data_batch_{i}.bin") for i in range(1, 6)])
    x_test, y_test = load([os.path.join(a.data_dir, "test_batch.bin")])

    net = MODELS[a.model](3, 10, 32)
    weights = [p for p in net.parameters() if p.dim() > 1]
    others = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": weights, "weight_decay": a.weight_decay}, {"params": others, "weight_decay": 0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=a.label_smoothing)
    n = len(y_train)
    steps_per_epoch = math.ceil(n / a.batch)
    warmup, decay = steps_per_epoch, (a.epochs - 1) * steps_per_epoch

    def factor(t):  # optim/schedule.cpp: (t + 1) / W, then the decay over the remaining steps
        if t < warmup:
            return (t + 1) / warmup
        u = min((t - warmup) / decay, 1.0)
        return 0.5 * (1 + math.cos(math.pi * u)) if a.schedule == "cosine" else 1 - u

    padded = np.pad(x_train, ((0, 0), (0, 0), (4, 4), (4, 4)))  # zero pixels, as data/augment.cpp pads
    step = 0
    for epoch in range(a.epochs):
        start = time.time()
        net.train()
        order = rng.permutation(n)
        correct, total_loss = 0, 0.0
        for b in range(steps_per_epoch):
            idx = order[b * a.batch:(b + 1) * a.batch]
            dy, dx = rng.integers(0, 9, len(idx)), rng.integers(0, 9, len(idx))
            flip = rng.random(len(idx)) < 0.5
            crops = np.stack([padded[i, :, y:y + 32, x:x + 32] for i, y, x in zip(idx, dy, dx)])
            crops[flip] = crops[flip][..., ::-1]
            images, labels = normalize(np.ascontiguousarray(crops)), torch.from_numpy(y_train[idx])
            for group in opt.param_groups:
                group["lr"] = a.lr * factor(step)
            logits = net(images)
            loss = loss_fn(logits, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            correct += (logits.argmax(1) == labels).sum().item()
            total_loss += loss.item() * len(idx)
        net.eval()
        test_correct = 0
        with torch.no_grad():
            for b in range(0, len(y_test), 500):
                test_correct += (net(normalize(x_test[b:b + 500])).argmax(1) == torch.from_numpy(y_test[b:b + 500])).sum().item()
        print(f"epoch {epoch + 1} train_loss {total_loss / n:.4f} train_acc {100 * correct / n:.2f} "
              f"test_acc {100 * test_correct / len(y_test):.2f} lr {a.lr * factor(step - 1):.4f} "
              f"seconds {time.time() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
