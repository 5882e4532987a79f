"""Tiny models of every supported family with their real key layouts (random weights), and
independent references of what the original code computes. Shared by the loading/ONNX tests."""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from helpers import random_bn_stats
from torch import nn

from srgan_cli.models.edsr import DIV2K_MEAN, EDSR
from srgan_cli.models.msrresnet import MSRResNet
from srgan_cli.models.srresnet import SRResNet

Reference = Callable[[torch.Tensor], torch.Tensor]
StateDict = dict[str, torch.Tensor]


def _randomise(net: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "mean" in name:  # EDSR MeanShift: fixed by the architecture
                continue
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        random_bn_stats(net)
    return net.eval()


def _direct(net: nn.Module, value_range: float = 1.0) -> Reference:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(x * value_range) / value_range
    return run


def msrresnet_reference(sd: StateDict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """BasicSR MSRResNet.forward written out on the state dict (lrelu 0.1, bilinear skip)."""
    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    out = lrelu(conv("conv_first", x))
    n = len({k.split(".")[1] for k in sd if k.startswith("body.")})
    for i in range(n):
        out = out + conv(f"body.{i}.conv2", F.relu(conv(f"body.{i}.conv1", out)))
    shuffle = 2 if scale == 4 else scale
    out = lrelu(F.pixel_shuffle(conv("upconv1", out), shuffle))
    if scale == 4:
        out = lrelu(F.pixel_shuffle(conv("upconv2", out), 2))
    out = conv("conv_last", lrelu(conv("conv_hr", out)))
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def edsr_basicsr_reference(sd: StateDict, x: torch.Tensor, res_scale: float = 1.0) -> torch.Tensor:
    """BasicSR EDSR.forward on its own keys: (x - mean) * 255 in, / 255 + mean out."""
    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)
    mean = torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1)
    x = conv("conv_first", (x - mean) * 255.0)
    n = len({k.split(".")[1] for k in sd if k.startswith("body.")})
    res = x
    for i in range(n):
        res = res + conv(f"body.{i}.conv2", F.relu(conv(f"body.{i}.conv1", res))) * res_scale
    res = conv("conv_after_body", res) + x
    i = 0
    while f"upsample.{i}.weight" in sd:
        w = sd[f"upsample.{i}.weight"]
        res = F.pixel_shuffle(conv(f"upsample.{i}", res), round((w.shape[0] / w.shape[1]) ** 0.5))
        i += 2
    return conv("conv_last", res) / 255.0 + mean


def edsr_to_basicsr(sd: StateDict) -> StateDict:
    """Official EDSR keys renamed to BasicSR's (no MeanShift tensors: BasicSR keeps them out)."""
    n = len({k.split(".")[1] for k in sd if re.match(r"body\.\d+\.body\.", k)})
    out = {}
    for k, v in sd.items():
        if "mean" in k:
            continue
        k = re.sub(r"^body\.(\d+)\.body\.0\.", r"body.\1.conv1.", k)
        k = re.sub(r"^body\.(\d+)\.body\.2\.", r"body.\1.conv2.", k)
        k = k.replace(f"body.{n}.", "conv_after_body.").replace("head.0.", "conv_first.")
        k = k.replace("tail.0.", "upsample.").replace("tail.1.", "conv_last.")
        out[k] = v
    return out


def esrgan_new_layout(sd: StateDict, num_blocks: int) -> StateDict:
    """spandrel's old-arch ESRGAN keys (model.N) in BasicSR/Real-ESRGAN RRDBNet names."""
    out = {}
    for k, v in sd.items():
        m = re.match(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(\w+)", k)
        if m:
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = v
            continue
        names = {"model.0.": "conv_first.", f"model.1.sub.{num_blocks}.": "conv_body.",
                 "model.3.": "conv_up1.", "model.6.": "conv_up2.", "model.8.": "conv_hr.",
                 "model.10.": "conv_last."}
        for old, new in names.items():
            if k.startswith(old):
                out[new + k[len(old):]] = v
                break
        else:
            raise AssertionError(f"unmapped key {k}")
    return out


def families() -> dict[str, tuple[StateDict, Reference, str, bool]]:
    """name -> (state dict, reference [0,1] -> [0,1], architecture id, exact tiling)."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    ours = _randomise(SRResNet(scale=2, num_blocks=2, channels=8), 1)
    msr = _randomise(MSRResNet(scale=4, num_blocks=2, channels=8), 2)
    msr_sd = msr.state_dict()
    ed = _randomise(EDSR(scale=2, num_blocks=2, channels=8), 3)
    ed_basicsr = edsr_to_basicsr(ed.state_dict())
    rrdb = _randomise(ESRGAN(num_filters=8, num_blocks=1, scale=4), 4)
    compact = _randomise(Compact(num_feat=8, num_conv=2, upscale=4), 5)
    swin = _randomise(SwinIR(img_size=16, embed_dim=12, depths=[2], num_heads=[2], window_size=4,
                             mlp_ratio=2.0, upscale=2, upsampler="pixelshuffledirect",
                             resi_connection="1conv"), 6)
    return {
        "srresnet": (ours.state_dict(), _direct(ours), "srresnet", True),
        "msrresnet": (msr_sd, lambda x: msrresnet_reference(msr_sd, x, 4), "msrresnet", True),
        "edsr_official": (ed.state_dict(), _direct(ed, 255.0), "edsr", True),
        "edsr_basicsr": (ed_basicsr, lambda x: edsr_basicsr_reference(ed_basicsr, x), "edsr", True),
        "esrgan_old": (rrdb.state_dict(), _direct(rrdb), "ESRGAN", True),
        "esrgan_new": (esrgan_new_layout(rrdb.state_dict(), 1), _direct(rrdb), "ESRGAN", True),
        "compact": (compact.state_dict(), _direct(compact), "Compact", True),
        "swinir": (swin.state_dict(), _direct(swin), "SwinIR", False),
    }
