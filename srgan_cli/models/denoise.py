"""The denoise knob of Real-ESRGAN (`-dn/--denoise-strength`): a catalogue model with a denoise
twin (realesr-general-x4v3 and realesr-general-wdn-x4v3) blended weight by weight.

As Real-ESRGAN's inference script defines it, strength X gives X x the model + (1 - X) x its
twin: 1 is the model itself (strong denoise), 0 the weak-denoise twin (keeps noise and grain),
0.5 half of each. The blend is `state_dicts.blend_states`, the one `srgan export --interpolate`
uses; both files are fetched (and checked) like any catalogue model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from srgan_cli.errors import ModelError
from srgan_cli.messages import option
from srgan_cli.models import bundled, catalogue
from srgan_cli.options import check_denoise_strength

if TYPE_CHECKING:
    import torch

    from srgan_cli.models.descriptor import ModelDescriptor


def _state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix.lower() == ".safetensors":
        state, _ = bundled.load_safetensors(path)
        return bundled.strip_wrapper_prefixes(state)
    return bundled.load_pickle(path)


def load_denoised(spec: str, strength: float, *, scale: int | None = None,
                  no_download: bool = False) -> ModelDescriptor:
    """The descriptor of catalogue model `spec` blended with its denoise twin at `strength`.

    UsageError for a strength outside [0, 1]; ModelError when `spec` is no catalogue model with
    a denoise twin, when the two do not match layer for layer, or for a `scale` it lacks."""
    from srgan_cli.models.loading import from_state_dict
    from srgan_cli.models.state_dicts import blend_states

    check_denoise_strength(strength)
    entry = catalogue.lookup(spec)
    cat = catalogue.catalogue()
    twin = cat.get(entry.denoise_twin) if entry is not None and entry.denoise_twin else None
    if entry is None or twin is None:
        having = [e.name for e in cat if e.denoise_twin and cat.get(e.denoise_twin)]
        raise ModelError(f"{option('denoise_strength')} needs a catalogue model with a denoise "
                         f"twin ({', '.join(having) or 'none in the catalogue'}), not {spec!r}")
    paths = [catalogue.fetch(e, no_download=no_download) for e in (entry, twin)]
    states = [_state(p) for p in paths]
    try:
        blended = blend_states(states[1], states[0], strength)
    except ValueError as e:
        raise ModelError(f"{entry.name} and its denoise twin {twin.name}: {e}") from None
    card = {**entry.card(), "denoise_strength": strength, "denoise_twin": twin.name}
    descriptor = from_state_dict(blended, name=f"{entry.name}-dn{strength:g}",
                                 source=f"catalogue:{entry.name}+{twin.name}", card=card,
                                 where=f"{paths[0]} + {paths[1]}")
    if scale is not None and scale != descriptor.scale:
        raise ModelError(f"{descriptor.name}: model is x{descriptor.scale}, but x{scale} was "
                         "asked")
    return descriptor
