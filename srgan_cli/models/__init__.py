"""Networks and model files.

Networks: the SRGAN generator (SRResNet), its discriminator, the VGG19 feature extractor, and the
native foreign families (BasicSR MSRResNet, EDSR). Files: `loading.load` turns any supported
file into the frozen `descriptor.ModelDescriptor`; `zoo` is our own safetensors format.
"""

from srgan_cli.models.discriminator import Discriminator
from srgan_cli.models.srresnet import SRResNet

__all__ = ["Discriminator", "SRResNet"]
