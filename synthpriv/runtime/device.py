"""Where tensors live: ``auto`` takes a GPU when torch sees one."""

from __future__ import annotations

from typing import Literal

DeviceChoice = Literal["auto", "cpu", "cuda"]


def resolve_device(choice: str = "auto") -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        from synthpriv.errors import ConfigError

        raise ConfigError("device 'cuda' asked for but torch sees no GPU", where="train.device")
    return choice
