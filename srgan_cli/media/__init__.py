"""Reading and writing images, animations and video: the one decoder and encoder, formats,
metadata, pixels, resize, where input files come from, and the threads that decode ahead of
and encode behind a model (`thread_pipeline`, for image batches and video frames)."""
