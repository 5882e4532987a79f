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


# spandrel's SR architectures beyond the three above: (module, class, tiny hyperparameters)
# chosen so that spandrel detects the same architecture back from the state dict.
SPANDREL_TINY: dict[str, tuple[str, str, dict[str, object]]] = {
    "ATD": ("atd_arch", "ATD", dict(img_size=16, embed_dim=12, depths=(2,), num_heads=(2,),
                                    window_size=4, category_size=16, num_tokens=8,
                                    reducted_dim=2, upscale=2, upsampler="pixelshuffledirect")),
    "AuraSR": ("aura_sr", "UnetUpsampler", dict(
        dim=8, image_size=64, input_image_size=16, up_dim_mults=(1, 1, 1, 1, 1),
        down_dim_mults=(1, 1, 1), attn_depths=(1, 1, 1, 1, 1),
        full_attn=(False, False, False, False, True), mid_attn_depth=1, self_attn_dim_head=8,
        self_attn_heads=2, resnet_block_groups=4, num_conv_kernels=2,
        style_network=dict(dim_in=8, dim_out=32, depth=1))),
    "CRAFT": ("CRAFT", "CRAFT", dict(window_size=8, embed_dim=12, depths=[1], num_heads=[2],
                                     split_size_0=2, split_size_1=8, upscale=2)),
    "DAT": ("DAT", "DAT", dict(img_size=16, embed_dim=16, split_size=[2, 4], depth=[2],
                               num_heads=[2], upscale=2)),
    "DCTLSA": ("dctlsa", "DCTLSA", dict(nf=10, num_modules=6, upscale=2, num_head=5)),
    "DITN": ("DITN_Real", "DITN_Real", dict(dim=12, ITL_blocks=1, SAL_blocks=1, UFONE_blocks=1,
                                            patch_size=8, upscale=2)),
    "DRCT": ("drct_arch", "DRCT", dict(img_size=16, embed_dim=12, depths=(1,), num_heads=(2,),
                                       window_size=4, upscale=2, upsampler="pixelshuffle", gc=8)),
    "FDAT": ("fdat", "FDAT", dict(scale=2, embed_dim=12, num_groups=1, depth_per_group=2,
                                  num_heads=2, window_size=4, mid_dim=8)),
    "GRL": ("grl", "GRL", dict(img_size=16, embed_dim=12, upscale=2, upsampler="pixelshuffle",
                               depths=[1], num_heads_window=[2], num_heads_stripe=[2],
                               window_size=4, stripe_size=[4, 4], mlp_ratio=2.0)),
    "HAT": ("HAT", "HAT", dict(img_size=16, embed_dim=12, depths=(1,), num_heads=(2,),
                               window_size=4, compress_ratio=3, squeeze_factor=6, upscale=2,
                               num_feat=8)),
    "IPT": ("ipt", "IPT", dict(patch_size=12, n_feats=8, scale=[2], num_heads=12, num_layers=1)),
    "MMRealSR": ("mmrealsr_arch", "MMRRDBNet_test", dict(
        num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4,
        num_feats=[8, 8, 8, 8], num_blocks=[1, 1, 1, 1])),
    "MoESR": ("MoESR", "MoESR", dict(scale=2, dim=8, n_blocks=1, n_block=1, upsample_dim=8)),
    "MoSR": ("mosr_arch", "MoSR", dict(upscale=2, n_block=1, dim=8)),
    "OmniSR": ("OmniSR", "OmniSR", dict(num_feat=8, block_num=1, window_size=8, up_scale=2)),
    "PLKSR": ("PLKSR", "PLKSR", dict(dim=8, n_blocks=1, upscaling_factor=2, kernel_size=5)),
    "RCAN": ("rcan_arch", "RCAN", dict(scale=2, n_resgroups=1, n_resblocks=1, n_feats=16,
                                       reduction=4)),
    "RGT": ("rgt", "RGT", dict(img_size=16, embed_dim=12, depth=[1], num_heads=[2], upscale=2,
                               split_size=[4, 4])),
    "RealCUGAN": ("upcunet_v3", "UpCunet2x", {}),
    "SAFMN": ("safmn", "SAFMN", dict(dim=8, n_blocks=1, upscaling_factor=2)),
    "SPAN": ("span", "SPAN", dict(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2)),
    "SeemoRe": ("seemore_arch", "SeemoRe", dict(scale=2, embedding_dim=8, num_layers=1,
                                                num_experts=2, img_range=1.0)),
    "SwiftSRGAN": ("SwiftSRGAN", "Generator", dict(num_channels=8, num_blocks=1,
                                                   upscale_factor=2)),
    "Swin2SR": ("Swin2SR", "Swin2SR", dict(img_size=16, embed_dim=12, depths=[1], num_heads=[2],
                                           window_size=4, upscale=2, upsampler="pixelshuffle")),
}
# the families whose forward pass takes seconds even tiny: their per-family tests are slow
HEAVY = frozenset({"AuraSR", "GRL", "IPT", "RealCUGAN", "MMRealSR", "DRCT"})


def spandrel_family(arch: str) -> tuple[StateDict, Reference, str, bool]:
    """A tiny random-weight `arch` model as (state dict, spandrel's own call on it, id, exact).

    The reference is spandrel's descriptor call (its padding to the size requirements and its
    per-architecture call included), so it is what spandrel users get from the same file."""
    import importlib

    from spandrel import ImageModelDescriptor, ModelLoader

    module, cls, kwargs = SPANDREL_TINY[arch]
    net_cls = getattr(importlib.import_module(f"spandrel.architectures.{arch}.__arch.{module}"),
                      cls)
    torch.manual_seed(10)
    net = net_cls(**kwargs).eval()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    desc = ModelLoader().load_from_state_dict(state)
    assert isinstance(desc, ImageModelDescriptor) and desc.architecture.id == arch
    desc.eval()

    def reference(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return desc(x.clone())  # spandrel's RCAN scales its input in place
    return state, reference, arch, False


def all_sr_families() -> list[str]:
    """Every family the tests cover: ours, the native ones, and each spandrel SR architecture."""
    return sorted(families()) + sorted(SPANDREL_TINY)
