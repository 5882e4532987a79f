"""Training: config (strict TOML), data (decode cache + patches), loader, stages (psnr, gan),
ema, losses, schedule, checkpoint, runlog, loop (the Trainer), distributed (DDP), export."""
