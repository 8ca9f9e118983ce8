"""edgemark: facial landmark models from training to the edge device."""

__version__ = "0.1.0"
