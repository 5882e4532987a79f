"""Reading and writing images, animations and video: the one decoder and encoder, formats,
metadata, pixels, resize and where input files come from."""
