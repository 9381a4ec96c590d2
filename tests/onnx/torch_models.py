#!/usr/bin/env python3
# Builds LeNet-5 (also with a dynamic batch size), ResNet-20, VGG-7, MobileNet-v2 and a small
# network with Concat and MatMul in PyTorch with random weights and random BN statistics, exports each with torch.onnx.export, and
# writes beside it the input batch and PyTorch's logits (float32, little-endian), for
# tests/onnx_import_test.cpp. Usage: torch_models.py OUT_DIR. Writes OUT_DIR/manifest.txt with one
# line per model: name N C H W classes.
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)  # exported as Reshape to (N, -1) for the traced N
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout)
        self.downsample = conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Vgg7(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in (32, 32, 'M', 64, 64, 'M', 128, 128, 'M'):
            if v == 'M':
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [conv_bn(cin, v), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(128 * 16, 256), nn.ReLU(),
                                        nn.Dropout(0.5), nn.Linear(256, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        self.block = nn.Sequential(conv_bn(cin, hidden, 1), nn.ReLU6(),
                                   conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6(),
                                   conv_bn(hidden, cout, 1))

    def forward(self, x):
        return x + self.block(x) if self.use_residual else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        layers, cin = [conv_bn(3, 32), nn.ReLU6()], 32
        for expand, cout, n, stride in ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        layers += [conv_bn(cin, 1280, 1), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 10))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class ConcatNet(nn.Module):
    """Two branches joined by torch.cat, a hardtanh, and a classifier written as matmul + bias."""

    def __init__(self):
        super().__init__()
        self.a, self.b = conv_bn(3, 8, 1), conv_bn(3, 4, 3)
        self.w = nn.Parameter(torch.randn(12 * 4 * 4, 10) * 0.1)
        self.bias = nn.Parameter(torch.randn(10))

    def forward(self, x):
        x = torch.cat([F.relu(self.a(x)), F.hardtanh(self.b(x))], dim=1)
        x = F.avg_pool2d(x, 3, stride=2, padding=1)
        return torch.matmul(torch.flatten(x, 1), self.w) + self.bias


def randomize_batch_norms(model, generator):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=generator)
            m.bias.data = 0.2 * torch.randn(c, generator=generator)
            m.running_mean.data = 0.2 * torch.randn(c, generator=generator)
            m.running_var.data = 0.5 + torch.rand(c, generator=generator)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    # PyTorch folds each BN into the conv before it when it exports an eval model; PRESERVE keeps
    # the BatchNormalization nodes (resnet20_bn: the same network as resnet20, BN kept).
    keep_bn = {"training": torch.onnx.TrainingMode.PRESERVE}
    # A dynamic batch: x.view(x.size(0), -1) becomes Shape, Gather, Unsqueeze, Concat, Reshape.
    any_batch = {"dynamic_axes": {"input": {0: "N"}, "logits": {0: "N"}}}
    models = [("lenet5", LeNet5(), (2, 1, 28, 28), {}),
              ("lenet5_any_batch", LeNet5(), (2, 1, 28, 28), any_batch), ("resnet20", ResNet20(), (2, 3, 32, 32), {}),
              ("resnet20_bn", ResNet20(), (2, 3, 32, 32), keep_bn),
              ("vgg7", Vgg7(), (2, 3, 32, 32), {}), ("mobilenetv2", MobileNetV2(), (2, 3, 32, 32), {}),
              ("concatnet", ConcatNet(), (2, 3, 8, 8), {})]
    lines = []
    for name, model, shape, options in models:
        randomize_batch_norms(model, generator)
        model.eval()
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            logits = model(x)
        torch.onnx.export(model, x, os.path.join(out, name + ".onnx"), opset_version=13,
                          do_constant_folding=True, input_names=["input"], output_names=["logits"],
                          **options)
        x.numpy().astype("<f4").tofile(os.path.join(out, name + ".input.f32"))
        logits.numpy().astype("<f4").tofile(os.path.join(out, name + ".logits.f32"))
        lines.append(" ".join([name] + [str(d) for d in shape] + [str(logits.shape[1])]))
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
