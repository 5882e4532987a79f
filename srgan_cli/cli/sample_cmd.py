"""`srgan sample`: write a small test image (a scikit-image sample, shrunk with MATLAB bicubic)."""

from __future__ import annotations

from pathlib import Path

import typer

from srgan_cli.media.samples import SAMPLES


def sample(
    out: Path = typer.Argument(..., help="Image file to write (PNG, JPEG, ...)."),
    name: str = typer.Option("astronaut", "--name", help=f"Sample: {', '.join(SAMPLES)}."),
    shrink: int = typer.Option(4, "--shrink", min=1, max=8, help="Shrink factor (MATLAB "
                               "bicubic), so that upscaling it back can be compared to the "
                               "original."),
    hr_out: Path | None = typer.Option(None, "--hr-out", help="Also write the original "
                                       "(cropped to a multiple of --shrink) here."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
) -> None:
    """Write a sample low-resolution image to try `srgan upscale` and `srgan eval` on.

    Examples:
    srgan sample lr.png
    srgan sample lr.png --name coffee --shrink 2 --hr-out hr.png"""
    from srgan_cli.cli.console import say
    from srgan_cli.media.decode import ImageData
    from srgan_cli.media.encode import write_image
    from srgan_cli.media.samples import sample_pair

    hr, lr = sample_pair(name, shrink)

    def data(arr):
        return ImageData(color=arr, alpha=None, gray=False, bit_depth=8, icc_profile=None,
                         source_mode="RGB")

    write_image(out, data(lr), overwrite=overwrite)
    if hr_out is not None:
        write_image(hr_out, data(hr), overwrite=overwrite)
    say(f"wrote {out} ({lr.shape[1]}x{lr.shape[0]})")


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
