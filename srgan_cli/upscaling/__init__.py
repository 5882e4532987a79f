"""Upscaling: planning outputs, the batch engine and its thread pipeline, the Upscaler (device,
precision, tiles), tiling and the x8 self-ensemble."""
