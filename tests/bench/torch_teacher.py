"""PyTorch anchor for the teacher-training figure of `bench features`: the default teacher
(inputs/fashion_mnist.cfg's architecture) built as a torchvision EfficientNet with a
1-channel stem, trained with the same step (SGD Nesterov, label smoothing 0.1, dropout 0.1,
batch 128 at 32x32) on random data; prints the median img/s over timed steps.

    /usr/bin/python3 tests/bench/torch_teacher.py --threads 2 [--batch 128] [--steps 20]

Compare with `teacher_train_img_s` of bin/bench_features run in the same session with
OMP_NUM_THREADS equal to --threads (doc/benchmarks.md).
"""
import argparse
import time

import torch
import torch.nn as nn
from torchvision.models.efficientnet import EfficientNet, MBConvConfig


def build():
    setting = [  # expand, kernel, stride, in, out, layers: the stages of fashion_mnist.cfg
        MBConvConfig(1, 3, 1, 16, 16, 1),
        MBConvConfig(3, 3, 2, 16, 24, 2),
        MBConvConfig(3, 3, 2, 24, 48, 2),
        MBConvConfig(3, 3, 1, 48, 64, 1),
    ]
    m = EfficientNet(setting, dropout=0.1, num_classes=10, last_channel=128,
                     stochastic_depth_prob=0.0)
    m.features[0][0] = nn.Conv2d(1, 16, 3, 2, 1, bias=False)  # grey images
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = build().train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-5)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(a.batch, 1, 32, 32)
    y = torch.arange(a.batch) % 10
    times = []
    for s in range(a.steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(m(x), y).backward()
        opt.step()
        if s >= 3:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    params = sum(p.numel() for p in m.parameters())
    print(f"anchor teacher_train torch={torch.__version__} params={params} batch={a.batch} "
          f"threads={a.threads} img_s={a.batch / med:.0f}")


if __name__ == "__main__":
    main()
