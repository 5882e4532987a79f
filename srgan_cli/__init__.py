"""srgan-cli: single-image super-resolution (SRResNet / SRGAN) from the command line."""

__version__ = "0.1.0"
