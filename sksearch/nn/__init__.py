"""Torch-only network code: SK conv, bottleneck units and assembly from a spec dict."""

from .model import Bottleneck, SEModule, SKConv, SKNet, build, load, read_safetensors

__all__ = ["Bottleneck", "SEModule", "SKConv", "SKNet", "build", "load", "read_safetensors"]
