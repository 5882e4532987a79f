"""`srgan doctor`: what this installation runs on and where it finds its files.

One function gathers facts into a JSON-ready dict (versions, devices, bf16 support, threads, the
bundled weights, VGG19 weights, datasets); the command prints it. Nothing here downloads or
changes anything, and every probe that fails is reported as a finding instead of an error."""

from __future__ import annotations

import platform
from functools import partial
from pathlib import Path
from typing import Any

from srgan_cli import hardware
from srgan_cli.errors import internal_error_line
from srgan_cli.options import offline
from srgan_cli.version import __version__


def _torch_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_build": torch.version.cuda,
        "mps_available": bool(getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()),
        "gpus": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            facts["gpus"].append({
                "index": i, "name": p.name, "memory_gb": round(p.total_memory / 2**30, 1),
                "capability": f"{p.major}.{p.minor}",
                "bf16": bool(torch.cuda.is_bf16_supported()),
            })
    return facts


def _weights_facts() -> dict[str, Any]:
    from srgan_cli.models import bundled, vgg
    found = [{"name": m.name, "path": str(m.path), "error": m.error}
             for m in bundled.bundled_models()]
    vgg_path = vgg.torchvision_cache_path()
    return {
        "weights_dir": str(bundled.weights_dir()),
        "bundled_models": found,
        "default_model": bundled.default_model_spec(),
        "vgg19": str(vgg_path) if vgg_path.is_file() else None,
        "vgg19_expected_at": str(vgg_path),
    }


def _data_facts(data_root: Path | None = None) -> dict[str, Any]:
    from srgan_cli.fileio import find_subdir
    from srgan_cli.media import discovery

    root = discovery.resolve_data_root(data_root)
    found: dict[str, str | None] = {}
    for names in discovery.BENCHMARKS.values():
        if names[0] not in found:
            sub = find_subdir(root, *names)
            found[names[0]] = str(sub) if sub is not None else None
    div2k = find_subdir(root, discovery.DIV2K)
    found["DIV2K"] = str(div2k) if div2k is not None else None
    return {"data_root": str(root), "data_root_exists": root.is_dir(), "datasets": found}


def _safely(section: str, probe: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = probe()
        return result
    except Exception as e:  # a broken install is what doctor exists to report
        return {f"{section}_error": internal_error_line(e).removeprefix("internal error: ")}


def gather(data_root: Path | None = None) -> dict[str, Any]:
    """Every fact `srgan doctor` reports, JSON-ready; datasets are looked for under
    `data_root` (None: $SRGAN_DATA, else ./data, as eval and train do)."""
    model, flags = hardware.cpu_info()
    facts: dict[str, Any] = {
        "srgan_cli": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": model,
        "cpu_threads_available": hardware.cpu_threads(),
        "cpu_native_bf16": hardware.native_bf16(),
        "cpu_flags_bf16": sorted(hardware.BF16_FLAGS & flags),
        "offline": offline(),
    }
    for section, probe in (("torch", _torch_facts), ("weights", _weights_facts),
                           ("data", partial(_data_facts, data_root))):
        facts.update(_safely(section, probe))
    return facts


def lines(facts: dict[str, Any]) -> list[str]:
    """Human-readable `key: value` lines, one finding each."""
    out = []
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={'not found' if v is None else v}"
                              for k, v in value.items())
        elif isinstance(value, list):
            value = "; ".join(
                ", ".join(f"{k}={v}" for k, v in item.items()) if isinstance(item, dict)
                else str(item) for item in value
            ) or "none"
        elif value is None:
            value = "not found"
        out.append(f"{key}: {value}")
    return out

