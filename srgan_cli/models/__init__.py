"""Networks: the SRGAN generator (SRResNet), its discriminator and the VGG19 feature extractor."""

from srgan_cli.models.discriminator import Discriminator
from srgan_cli.models.srresnet import SRResNet

__all__ = ["Discriminator", "SRResNet"]
