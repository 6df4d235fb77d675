"""A trial's training recipe (``TrainSpec``) and the file names of its checkpoints; no torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "linear", "constant", "onecycle")
TTA = ("off", "on")
PRECISIONS = ("auto", "bf16", "fp32")
SWITCHES = ("auto", "on", "off")

# A checkpoint folder: the weights as safetensors (exports copy them as they are) and the
# optimizer state plus counters in a tensors-only torch file (loaded with weights_only=True).
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TrainSpec:
    max_epochs: int = 10            # epochs of a full-budget trial; the schedule spans these
    batch_size: int = 128           # images per step
    optimizer: str = "sgd"          # sgd (Nesterov momentum) | adamw
    lr: float = 0.1                 # peak learning rate
    momentum: float = 0.9           # SGD momentum / AdamW beta1
    weight_decay: float = 5e-4      # on conv and fc weights only (not on BN or biases)
    label_smoothing: float = 0.0    # in [0, 1)
    schedule: str = "cosine"        # cosine | linear (to zero) | constant | onecycle, after warm-up
    warmup_epochs: float = 0.0      # linear warm-up from 0, in epochs (fractions allowed)
    seed: int = 0                   # weight init and batch order
    precision: str = "auto"         # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    channels_last: str = "auto"     # auto (= on) | on | off
    compile: str = "auto"           # torch.compile: auto (long trials: 2,000+ steps on CUDA, 4,500+ on CPU) | on | off
    ema: float = 0.0                # weight averaging's decay per step, in [0, 1); 0 = off
    ema_every: int = 1              # steps between updates of the average (each applies decay^ema_every)
    tta: str = "off"                # test-time augmentation at evaluation: off | on (the set's own valid views)

    @property
    def uses_channels_last(self) -> bool:
        # auto = on, on every device: faster on CUDA, and on the CPU too since dilated convs go
        # polyphase there (quickstart nets: 1.5-1.8x faster per epoch than NCHW; benchmarks/RESULTS.md).
        return self.channels_last != "off"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
