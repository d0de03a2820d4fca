"""Qwen Image Editor: self-hosted image editing with the Qwen-Image-Edit diffusion models."""

__version__ = "0.1.0"
