"""Training: config, patch data, losses, the two-stage trainer, checkpoints, DDP helpers."""
