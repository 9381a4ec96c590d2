# The PyTorch side of bench/train_throughput.cpp: the same zoo models built layer for layer as
# models/lenet5.cpp, models/vgg.cpp and models/resnet.cpp build them, timed the same way (median
# Adam training step and eval forward after warm-up), peak RSS; one JSON line out.
"""Usage: /usr/bin/python3 bench/pytorch_throughput.py --model NAME --batch N [--threads 2]
[--steps S] [--warmup W] [--channels-last]

Run it under the environment bench/run_throughput.sh sets (OPENBLAS_NUM_THREADS=1 and the
tuned glibc malloc) to see PyTorch at its best on this kind of machine.
"""
import argparse
import json
import os
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rss_mb(field):
    """A field of /proc/self/status in MB (VmRSS: current, VmHWM: peak), or -1."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0


def peak_rss_mb():
    # ru_maxrss is in kB on Linux: the same number as VmHWM.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# LeNet-5 as models/lenet5.cpp: biased convolutions and PyTorch's default initialization;
# a 28x28 input gets padding 2 on the first convolution so that it sees 32x32.
def lenet5(in_channels, num_classes, image_size):
    pad = (32 - image_size) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, stride=1, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes))


def kaiming_conv(in_ch, out_ch, kernel, stride, padding):
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def classifier_linear(in_features, out_features):
    fc = nn.Linear(in_features, out_features)
    nn.init.normal_(fc.weight, 0.0, 0.01)
    nn.init.zeros_(fc.bias)
    return fc


# VGG-7 (VGG-small) as models/vgg.cpp: 2x128C3-MP-2x256C3-MP-2x512C3-MP, each conv without
# bias followed by BN and ReLU, then FC1024-BN-ReLU-FC.
def vgg7(in_channels, num_classes, image_size):
    assert image_size == 32
    layers, channels = [], in_channels
    for width in (128, 128, "M", 256, 256, "M", 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [kaiming_conv(channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
    layers += [nn.Flatten(), classifier_linear(channels * 4 * 4, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
               classifier_linear(1024, num_classes)]
    return nn.Sequential(*layers)


class PadChannelsShortcut(nn.Module):
    """Option A of He et al. as layers/shortcut.cpp: x[:, :, ::s, ::s] in the first C channels,
    zeros in the others."""

    def __init__(self, out_channels, stride):
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))


class BasicBlock(nn.Module):
    def __init__(self, in_ch, channels, stride, shortcut):
        super().__init__()
        self.conv1 = kaiming_conv(in_ch, channels, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu1 = nn.ReLU()
        self.conv2 = kaiming_conv(channels, channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = None
        if in_ch != channels or stride != 1:
            if shortcut == "pad":
                self.shortcut = PadChannelsShortcut(channels, stride)
            else:  # projection: 1x1 conv (padding kernel // 2 = 0) and BN
                self.shortcut = nn.Sequential(kaiming_conv(in_ch, channels, 1, stride, 0), nn.BatchNorm2d(channels))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.relu2(h + (self.shortcut(x) if self.shortcut is not None else x))


# ResNet as models/resnet.cpp: stem conv3x3-BN-ReLU, stages of basic blocks (the first block of
# a stage strides), global average pooling, a linear layer with PyTorch's default init.
class ResNet(nn.Module):
    def __init__(self, in_channels, num_classes, stem_width, widths, blocks, shortcut):
        super().__init__()
        self.stem = nn.Sequential(kaiming_conv(in_channels, stem_width, 3, 1, 1), nn.BatchNorm2d(stem_width),
                                  nn.ReLU())
        stages, in_ch = [], stem_width
        for s, (width, count) in enumerate(zip(widths, blocks)):
            stage = []
            for b in range(count):
                stage.append(BasicBlock(in_ch, width, (1 if s == 0 else 2) if b == 0 else 1, shortcut))
                in_ch = width
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet18(in_channels, num_classes, image_size):
    assert image_size == 32
    return ResNet(in_channels, num_classes, 64, (64, 128, 256, 512), (2, 2, 2, 2), "projection")


def resnet20(in_channels, num_classes, image_size):
    assert image_size == 32
    return ResNet(in_channels, num_classes, 16, (16, 32, 64), (3, 3, 3), "pad")


MODELS = {"lenet5": lenet5, "vgg7": vgg7, "resnet18": resnet18, "resnet20": resnet20}


def median_seconds(warmup, steps, f):
    """Median wall time of `steps` calls of f after `warmup` untimed calls."""
    for _ in range(warmup):
        f()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(MODELS))
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels-last", action="store_true",
                        help="NHWC memory format for the model and the input (oneDNN's native layout)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    base_rss = rss_mb("VmRSS")
    mnist = args.model == "lenet5"
    in_channels, image_size, num_classes = (1, 28, 10) if mnist else (3, 32, 10)
    model = MODELS[args.model](in_channels, num_classes, image_size)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)

    images = torch.randn(args.batch, in_channels, image_size, image_size)
    labels = torch.randint(0, num_classes, (args.batch,))
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step():
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer_step():
        with torch.no_grad():
            model(images)

    model.train()
    train_s = median_seconds(args.warmup, args.steps, train_step)
    model.eval()
    infer_s = median_seconds(args.warmup, args.steps, infer_step)

    print(json.dumps({
        "framework": "pytorch", "model": args.model, "batch": args.batch, "threads": torch.get_num_threads(),
        "steps": args.steps, "warmup": args.warmup, "params": params,
        "train_step_ms": train_s * 1e3, "infer_step_ms": infer_s * 1e3,
        "train_img_s": args.batch / train_s, "infer_img_s": args.batch / infer_s,
        "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base_rss,
        "torch_version": torch.__version__, "mkldnn": torch.backends.mkldnn.is_available(),
        "channels_last": args.channels_last,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }, sort_keys=True))


if __name__ == "__main__":
    main()
