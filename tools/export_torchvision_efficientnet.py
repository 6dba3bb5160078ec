#!/usr/bin/python3
"""Export a torchvision EfficientNet (v1 family) as a dna teacher file (teacher.h5).

This script owns the mapping from torchvision's EfficientNet modules to the teacher layout
that src/train/teacher.c reads (teacher_load): the architecture JSON, the input
normalisation, provenance attributes and one float32 dataset per state tensor in timm's
names. tests/ref/make_effnet_ref.py imports it to build the torchvision-equivalence fixture.

Usage (Debian's python, with python3-torch, python3-torchvision and python3-h5py):

    /usr/bin/python3 tools/export_torchvision_efficientnet.py --arch efficientnet_b0 \\
        --weights DEFAULT --blocks "1 2 4 6" --out teacher.h5

  --arch           efficientnet_b0 .. efficientnet_b7 (EfficientNet-V2 is refused: its
                   Fused-MBConv stages have no counterpart in src/nn/effnet.c)
  --weights        DEFAULT or another member of the arch's weights enum (IMAGENET1K_V1;
                   downloads them), none (torchvision's random init, seeded by --seed), or
                   a path to a saved state_dict (torch.save(model.state_dict(), path); a
                   {"state_dict": ...} or {"model": ...} wrapper and DDP's "module."
                   prefixes are accepted; the class count is taken from it)
  --width-mult/--depth-mult
                   a custom size, built with torchvision's internal builder
                   (_efficientnet_conf) on the arch's dropout and batch-norm settings;
                   only with --weights none or a state_dict path
  --classes        class count for --weights none (default 1000)
  --in-hw          input resolution the teacher runs at (default: the weights' crop size,
                   else 224)
  --blocks         block boundaries as stage indices, 0-based over features.1..N-1, each
                   block ending after that stage, the last one at the last stage
                   (default "1 2 4 6", EfficientNet-B0's split at strides 4, 8, 16, 32)
  --mean/--std     per-channel input normalisation on [0, 1] pixels (default: the weights'
                   transforms, else ImageNet's)
  --out            output path (written to <out>.tmp.<pid>, renamed when complete)

Mapping: features.0 is the stem (conv_stem, bn1); features.1..N-2 are the stages (blocks.<s>.<i>,
with conv_pw/bn1 for the expansion conv, conv_dw/bn2, se.conv_reduce/se.conv_expand,
conv_pwl/bn3); features.N-1 is the head conv (conv_head, bn2); classifier.1 is the
classifier. Every width, kernel, stride, expansion and repeat count is read from the modules;
what src/nn/effnet.c cannot represent (other activations, padding, SE widths other than
int(0.25 * layer input channels), batch-norm settings that differ between layers, layers of
one stage that differ) is refused with a message naming the module. Stochastic depth is not
carried: it only changes training, and the teacher's training has none.
"""
import argparse
import functools
import hashlib
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torchvision

TEACHER_FORMAT = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SE_RATIO = 0.25
# src/nn/effnet.h and src/train/teacher.c limits
MAX_STAGES, MAX_BLOCKS, MAX_LAYERS, MAX_CHANNELS_IN = 16, 8, 16 * 64, 4


class ExportError(Exception):
    """The model cannot be represented as a dna teacher; the message says why."""


def _require(cond, msg):
    if not cond:
        raise ExportError(msg)


# ---------------------------------------------------------------- reading the modules


def _conv_bn_act(mod, where, act):
    """A Conv2dNormActivation: [Conv2d, BatchNorm2d] + activation `act` ("silu" or None).
    Returns (conv, bn). Checks what our ConvBN assumes: no bias, square odd kernel, pad k/2,
    equal strides, zero padding, no dilation."""
    _require(isinstance(mod, nn.Sequential), f"{where}: expected conv-BN-activation, got "
             f"{type(mod).__name__}")
    parts = list(mod.children())
    _require(len(parts) in (2, 3) and isinstance(parts[0], nn.Conv2d)
             and isinstance(parts[1], nn.BatchNorm2d),
             f"{where}: expected Conv2d, BatchNorm2d[, activation], got "
             f"{[type(p).__name__ for p in parts]}")
    conv, bn = parts[0], parts[1]
    got = type(parts[2]).__name__ if len(parts) == 3 else None
    want = {"silu": "SiLU", None: None}[act]
    _require(got == want, f"{where}: activation {got}, expected {want} (our layers use swish "
             "after stem, expansion, depthwise and head convs, none after the projection)")
    k = conv.kernel_size
    _require(k[0] == k[1] and k[0] % 2 == 1, f"{where}: kernel {tuple(k)} is not square and odd")
    _require(tuple(conv.padding) == (k[0] // 2, k[0] // 2) and conv.padding_mode == "zeros",
             f"{where}: padding {conv.padding} ({conv.padding_mode}), ours is zero padding k/2")
    _require(conv.stride[0] == conv.stride[1], f"{where}: unequal strides {conv.stride}")
    _require(tuple(conv.dilation) == (1, 1), f"{where}: dilation {conv.dilation} is not 1")
    _require(conv.bias is None, f"{where}: the conv has a bias (ours is folded into the BN)")
    _require(bn.affine and bn.track_running_stats,
             f"{where}: batch norm without affine parameters or running statistics")
    _require(bn.momentum is not None,
             f"{where}: batch norm with momentum None (cumulative average) is not supported")
    _require(bn.num_features == conv.out_channels, f"{where}: BN width differs from the conv's")
    return conv, bn


def _se(mod, where, mid, cin):
    """A torchvision SqueezeExcitation on `mid` channels in a layer whose input has `cin`."""
    for name in ("avgpool", "fc1", "fc2", "activation", "scale_activation"):
        _require(hasattr(mod, name), f"{where}: {type(mod).__name__} is not torchvision's "
                 "SqueezeExcitation")
    _require(isinstance(mod.avgpool, nn.AdaptiveAvgPool2d) and mod.avgpool.output_size in (1, (1, 1)),
             f"{where}: SE pooling is not a global average")
    _require(isinstance(mod.activation, nn.SiLU) and isinstance(mod.scale_activation, nn.Sigmoid),
             f"{where}: SE activations {type(mod.activation).__name__}/"
             f"{type(mod.scale_activation).__name__}, ours are SiLU/Sigmoid")
    for fc in (mod.fc1, mod.fc2):
        _require(isinstance(fc, nn.Conv2d) and tuple(fc.kernel_size) == (1, 1)
                 and fc.groups == 1 and fc.bias is not None,
                 f"{where}: SE layers must be 1x1 convs with bias")
    r = mod.fc1.out_channels
    _require(mod.fc1.in_channels == mid and mod.fc2.in_channels == r
             and mod.fc2.out_channels == mid, f"{where}: SE widths do not chain ({mid}-{r}-{mid})")
    want = max(1, int(SE_RATIO * cin))
    _require(r == want, f"{where}: SE width {r}, but ours is int({SE_RATIO} * {cin} input "
             f"channels) = {want}")
    return r


def _mbconv(layer, where):
    """One torchvision MBConv -> (cin, cout, k, stride, expand, has_se, named tensors)."""
    from torchvision.models import efficientnet as tve

    if hasattr(tve, "FusedMBConv"):
        _require(not isinstance(layer, tve.FusedMBConv), f"{where}: Fused-MBConv (EfficientNet-V2)"
                 " has no counterpart in our MBConv")
    _require(isinstance(layer, tve.MBConv) and isinstance(getattr(layer, "block", None),
                                                          nn.Sequential),
             f"{where}: expected torchvision MBConv, got {type(layer).__name__}")
    mods = list(layer.block.children())
    convs = [i for i, m in enumerate(mods) if isinstance(m, nn.Sequential)]
    ses = [i for i, m in enumerate(mods) if not isinstance(m, nn.Sequential)]
    _require(len(convs) in (2, 3) and len(ses) <= 1,
             f"{where}.block: expected [expand,] depthwise, [SE,] project, got "
             f"{[type(m).__name__ for m in mods]}")
    has_expand = len(convs) == 3
    idx = {"dw": convs[-2], "pwl": convs[-1]}
    if has_expand:
        idx["pw"] = convs[0]
    if ses:
        _require(idx["dw"] < ses[0] < idx["pwl"], f"{where}.block: SE must sit between the "
                 "depthwise and the projection")
    out = []
    cin = mods[convs[0]][0].in_channels
    if has_expand:
        conv, bn = _conv_bn_act(mods[idx["pw"]], f"{where}.block.{idx['pw']}", "silu")
        _require(conv.kernel_size[0] == 1 and conv.stride[0] == 1 and conv.groups == 1,
                 f"{where}: the expansion conv must be 1x1, stride 1, dense")
        out += [("conv_pw.weight", conv.weight), ("bn1", bn)]
    conv, bn = _conv_bn_act(mods[idx["dw"]], f"{where}.block.{idx['dw']}", "silu")
    mid, k, stride = conv.in_channels, conv.kernel_size[0], conv.stride[0]
    _require(conv.groups == mid and conv.out_channels == mid,
             f"{where}.block.{idx['dw']}: expected a depthwise conv (groups == channels)")
    _require(stride in (1, 2), f"{where}: stride {stride}, ours is 1 or 2")
    out += [("conv_dw.weight", conv.weight), ("bn2", bn)]
    if has_expand:
        _require(mid % cin == 0 and mid // cin > 1, f"{where}: expanded width {mid} is not an "
                 f"integer multiple > 1 of the input width {cin}")
        _require(mods[idx["pw"]][0].out_channels == mid, f"{where}: expansion/depthwise widths differ")
    else:
        _require(mid == cin, f"{where}: no expansion conv but widths {cin} -> {mid}")
    expand = mid // cin
    has_se = bool(ses)
    if has_se:
        _se(mods[ses[0]], f"{where}.block.{ses[0]}", mid, cin)
        se = mods[ses[0]]
        out += [("se.conv_reduce.weight", se.fc1.weight), ("se.conv_reduce.bias", se.fc1.bias),
                ("se.conv_expand.weight", se.fc2.weight), ("se.conv_expand.bias", se.fc2.bias)]
    conv, bn = _conv_bn_act(mods[idx["pwl"]], f"{where}.block.{idx['pwl']}", None)
    _require(conv.kernel_size[0] == 1 and conv.stride[0] == 1 and conv.groups == 1
             and conv.in_channels == mid, f"{where}: the projection must be a dense 1x1 conv "
             f"from {mid} channels")
    cout = conv.out_channels
    out += [("conv_pwl.weight", conv.weight), ("bn3", bn)]
    ours_res = stride == 1 and cin == cout
    _require(getattr(layer, "use_res_connect", ours_res) == ours_res,
             f"{where}: residual {layer.use_res_connect}, ours adds one exactly when stride 1 "
             "and input width == output width")
    return cin, cout, k, stride, expand, has_se, out


def describe(model, blocks):
    """The architecture (dict in effnet_cfg_to_json's form) and the state as a list of
    (our name, float32 numpy array), in state_dict order. Raises ExportError."""
    from torchvision.models import efficientnet as tve

    _require(isinstance(model, tve.EfficientNet), f"{type(model).__name__} is not torchvision's "
             "EfficientNet")
    feats = list(model.features.children())
    _require(len(feats) >= 3, "features must hold a stem, at least one stage and a head conv")
    bns = []  # every BatchNorm2d, for the eps/momentum check
    state = []

    def put(name, x):
        if isinstance(x, nn.BatchNorm2d):
            bns.append((name, x))
            for field in ("weight", "bias", "running_mean", "running_var"):
                put(f"{name}.{field}", getattr(x, field))
            return
        state.append((name, x.detach().cpu().to(torch.float32).contiguous().numpy()))

    conv, bn = _conv_bn_act(feats[0], "features.0", "silu")
    _require(conv.kernel_size[0] == 3 and conv.groups == 1, "features.0: the stem must be a "
             "dense 3x3 conv")
    cin, stem, stem_stride = conv.in_channels, conv.out_channels, conv.stride[0]
    _require(cin <= MAX_CHANNELS_IN, f"features.0: {cin} input channels, at most "
             f"{MAX_CHANNELS_IN} are supported")
    put("conv_stem.weight", conv.weight)
    put("bn1", bn)

    stages, width, nlayers = [], stem, 0
    for s, stage in enumerate(feats[1:-1]):
        where = f"features.{s + 1}"
        _require(isinstance(stage, nn.Sequential) and len(stage) > 0,
                 f"{where}: expected a non-empty Sequential of MBConv layers")
        first = None
        for i, layer in enumerate(stage.children()):
            lcin, cout, k, stride, e, has_se, tensors = _mbconv(layer, f"{where}.{i}")
            _require(lcin == width, f"{where}.{i}: input width {lcin}, but the previous layer "
                     f"gives {width}")
            this = (cout, k, e, has_se)
            if i == 0:
                first = (this, stride)
            else:
                _require(this == first[0] and stride == 1,
                         f"{where}.{i}: differs from the stage's first layer (width, kernel, "
                         "expansion, SE, or stride != 1); our stages repeat one layer")
            for name, x in tensors:
                put(f"blocks.{s}.{i}.{name}", x)
            width = cout
            nlayers += 1
        (cout, k, e, has_se), stride = first
        se = SE_RATIO if has_se else 0
        stages.append(f"ir_r{len(stage)}_k{k}_s{stride}_e{e}_c{cout}_se{se:g}")
    _require(len(stages) <= MAX_STAGES, f"{len(stages)} stages, at most {MAX_STAGES}")
    _require(nlayers <= MAX_LAYERS, f"{nlayers} layers, at most {MAX_LAYERS}")

    where = f"features.{len(feats) - 1}"
    conv, bn = _conv_bn_act(feats[-1], where, "silu")
    _require(conv.kernel_size[0] == 1 and conv.stride[0] == 1 and conv.groups == 1
             and conv.in_channels == width, f"{where}: the head must be a dense 1x1 conv from "
             f"{width} channels")
    head = conv.out_channels
    put("conv_head.weight", conv.weight)
    put("bn2", bn)

    _require(isinstance(model.avgpool, nn.AdaptiveAvgPool2d)
             and model.avgpool.output_size in (1, (1, 1)), "avgpool is not global")
    _require(isinstance(model.classifier, nn.Sequential), "classifier: expected Sequential("
             f"Dropout, Linear), got {type(model.classifier).__name__}")
    cls = list(model.classifier.children())
    _require(len(cls) == 2 and isinstance(cls[0], nn.Dropout) and isinstance(cls[1], nn.Linear),
             f"classifier: expected Dropout, Linear, got {[type(m).__name__ for m in cls]}")
    fc = cls[1]
    _require(fc.bias is not None and fc.in_features == head, "classifier: Linear needs a bias "
             f"and {head} inputs")
    put("classifier.weight", fc.weight)
    put("classifier.bias", fc.bias)

    eps = {float(b.eps) for _, b in bns}
    mom = {float(b.momentum) for _, b in bns}
    _require(len(eps) == 1 and len(mom) == 1, "batch norms differ in eps or momentum "
             f"(eps {sorted(eps)}, momentum {sorted(mom)}); ours share one setting")

    blocks = [int(b) for b in blocks]
    _require(1 <= len(blocks) <= MAX_BLOCKS, f"give 1 to {MAX_BLOCKS} block boundaries")
    _require(all(b < c for b, c in zip(blocks, blocks[1:])) and blocks[0] >= 0,
             f"block boundaries {blocks} must be increasing stage indices")
    _require(blocks[-1] == len(stages) - 1, f"the last block must end at the last stage "
             f"({len(stages) - 1}), got {blocks}")
    _require(fc.out_features >= 2, "at least 2 classes")
    _require(0.0 <= cls[0].p < 1.0, f"dropout {cls[0].p} not in [0, 1)")

    arch = {"kind": "efficientnet", "in_chans": cin, "stem": stem, "stem_stride": stem_stride,
            "stages": stages, "head": head, "classes": fc.out_features,
            "dropout": float(cls[0].p), "bn_eps": eps.pop(), "bn_momentum": mom.pop(),
            "block_end": blocks}
    return arch, state


# ---------------------------------------------------------------- writing


def open_new(path):
    """A new HDF5 file without object modification times (same input -> same bytes)."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V110)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def _str_attr(obj, name, value):
    # fixed-length ASCII, as teacher_save writes them
    obj.attrs[name] = np.bytes_(value.encode("ascii"))


def write_teacher(f, arch, state, in_hw, mean, std, top1=None, seed=0, git_rev="unknown",
                  version=None):
    """Writes the teacher layout into the open h5py file `f` (its root)."""
    cin = arch["in_chans"]
    _require(len(mean) == cin and len(std) == cin, f"--mean/--std need {cin} values each")
    _require(all(s > 0 for s in std), "--std values must be positive")
    _require(in_hw > 0, "--in-hw must be positive")
    arch_json = json.dumps(arch, indent=1)
    f.attrs["format_version"] = np.int64(TEACHER_FORMAT)
    # teacher_save records its config's hash; ours is of what determines the weights
    _str_attr(f, "config_hash", hashlib.sha256(
        (arch_json + repr((seed, version))).encode()).hexdigest()[:16])
    f.attrs["seed"] = np.int64(seed)
    _str_attr(f, "git_rev", git_rev)
    _str_attr(f, "dna_version", version or f"export_torchvision_efficientnet "
              f"(torchvision {torchvision.__version__})")
    _str_attr(f, "arch", arch_json)
    f.attrs["in_hw"] = np.int64(in_hw)
    f.attrs["mean"] = np.asarray(mean, dtype=np.float64)
    f.attrs["std"] = np.asarray(std, dtype=np.float64)
    if top1 is not None:
        f.attrs["top1"] = np.float64(top1)
    for name, x in state:
        f.create_dataset(name, data=x, track_times=False)


def export(model, path, blocks, in_hw, mean=IMAGENET_MEAN, std=IMAGENET_STD, top1=None, seed=0,
           git_rev=None, version=None):
    """describe + write_teacher into a new file at `path`; returns the architecture dict."""
    arch, state = describe(model, blocks)
    if git_rev is None:
        git_rev = _git_rev()
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open_new(tmp) as f:
            write_teacher(f, arch, state, in_hw, mean, std, top1, seed, git_rev, version)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return arch


def _git_rev():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------- building the model


def _load_state_dict(path):
    sd = torch.load(path, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    _require(isinstance(sd, dict), f"{path}: not a state_dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}


def build(arch, weights, width_mult=None, depth_mult=None, classes=1000):
    """-> (model in eval mode, weights enum member or None)."""
    from torchvision.models import efficientnet as tve

    _require(arch in [f"efficientnet_b{i}" for i in range(8)],
             f"--arch {arch}: only efficientnet_b0 .. efficientnet_b7 (EfficientNet v1) map onto "
             "our teacher; EfficientNet-V2's Fused-MBConv stages do not")
    builder = getattr(torchvision.models, arch)
    wenum = None
    sd = None
    if weights.lower() == "none":
        pass
    elif os.path.exists(weights):
        sd = _load_state_dict(weights)
        _require("classifier.1.weight" in sd, f"{weights}: no classifier.1.weight; is this a "
                 "torchvision EfficientNet state_dict?")
        classes = sd["classifier.1.weight"].shape[0]
    else:
        enum = torchvision.models.get_model_weights(arch)
        try:
            wenum = enum[weights]
        except KeyError:
            raise ExportError(f"--weights {weights}: not a file, 'none', or one of "
                              f"{['DEFAULT'] + [w.name for w in enum]}") from None
    custom = width_mult is not None or depth_mult is not None
    if custom:
        _require(wenum is None, "--width-mult/--depth-mult build a new size: use --weights none "
                 "or a state_dict of that size")
        _require(hasattr(tve, "_efficientnet_conf"), "this torchvision has no internal builder "
                 "(_efficientnet_conf) for custom sizes")
        base = builder(weights=None, num_classes=classes)
        bn = next(m for m in base.modules() if isinstance(m, nn.BatchNorm2d))
        setting, last = tve._efficientnet_conf(arch, width_mult=width_mult or 1.0,
                                               depth_mult=depth_mult or 1.0)
        model = tve.EfficientNet(setting, base.classifier[0].p, num_classes=classes,
                                 last_channel=last, norm_layer=functools.partial(
                                     nn.BatchNorm2d, eps=bn.eps, momentum=bn.momentum))
    elif wenum is not None:
        try:
            model = builder(weights=wenum)
        except OSError as e:  # urllib's errors included
            raise ExportError(f"cannot fetch the {wenum} weights ({e}); on a machine without "
                              "network, save model.state_dict() elsewhere and pass its path") from None
    else:
        model = builder(weights=None, num_classes=classes)
    if sd is not None:
        missing, unexpected = model.load_state_dict(sd, strict=False)
        _require(not missing and not unexpected, f"{weights} does not fit {arch}"
                 f"{' at this width/depth' if custom else ''}: missing {missing[:4]}, "
                 f"unexpected {unexpected[:4]}")
    return model.eval(), wenum


def _floats(s, n, what):
    v = [float(x) for x in s.replace(",", " ").split()]
    _require(len(v) == n, f"--{what} needs {n} values, got {len(v)}")
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="efficientnet_b0")
    p.add_argument("--weights", default="DEFAULT")
    p.add_argument("--width-mult", type=float)
    p.add_argument("--depth-mult", type=float)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--in-hw", type=int)
    p.add_argument("--blocks", default="1 2 4 6")
    p.add_argument("--mean")
    p.add_argument("--std")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    try:
        torch.manual_seed(a.seed)
        model, wenum = build(a.arch, a.weights, a.width_mult, a.depth_mult, a.classes)
        tf = wenum.transforms() if wenum is not None else None
        cin = model.features[0][0].in_channels
        mean = _floats(a.mean, cin, "mean") if a.mean else list(getattr(tf, "mean", IMAGENET_MEAN))
        std = _floats(a.std, cin, "std") if a.std else list(getattr(tf, "std", IMAGENET_STD))
        in_hw = a.in_hw or (tf.crop_size[0] if tf is not None else 224)
        top1 = None
        if wenum is not None:
            acc = wenum.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
            top1 = acc / 100.0 if acc is not None else None
        blocks = [int(b) for b in a.blocks.replace(",", " ").split()]
        arch = export(model, a.out, blocks, in_hw, mean, std, top1, a.seed)
    except ExportError as e:
        sys.exit(f"export_torchvision_efficientnet: {e}")
    print(f"wrote {a.out}: {len(arch['stages'])} stages, head {arch['head']}, "
          f"{arch['classes']} classes, input {in_hw}x{in_hw}")


if __name__ == "__main__":
    main()
