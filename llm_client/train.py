"""Train the byte-level GPT on the corpus's training documents (seeded, CPU-friendly) and cache the
checkpoint under ``cache_dir("models")``. A checkpoint holds the model's :class:`GPTConfig`, the
training config, the weights and the measured training figures; it is written atomically with a
sha256 sidecar that is checked on load.

    model, meta = load_or_train(TrainConfig())          # cached after the first call
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from ivfpq.errors import HwragError
from ivfpq.storage import sha256_file
from torch.nn import functional as F

from .model import GPT, GPTConfig, pick_device

log = logging.getLogger(__name__)

FORMAT_NAME, FORMAT_VERSION = "hwrag-bytegpt", 1


@dataclass
class TrainConfig:
    model: GPTConfig = field(default_factory=GPTConfig)
    steps: int = 600
    batch_size: int = 8
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 30
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    # torch intra-op threads; not part of the cache key. 1 by default: on a shared 2-core machine a
    # 2-thread OpenMP pool spends its time in barriers (measured: 0.4 s/step with 1, 0.4-5 s with 2)
    threads: int = 1
    max_train_bytes: int = 0  # 0 = the whole training split

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        from .corpus import corpus_fingerprint

        d = self.to_dict()
        d.pop("threads")
        blob = json.dumps({"train": d, "corpus": corpus_fingerprint("train")}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


def train(cfg: TrainConfig, data: np.ndarray | None = None, device: str | None = None,
          progress: bool = True) -> tuple[GPT, dict]:
    """Train from scratch on ``data`` (uint8 bytes; default: the training split). Deterministic for a
    given seed, thread count and device."""
    from tqdm.auto import tqdm

    from .corpus import corpus_bytes

    if cfg.steps < 1 or cfg.batch_size < 1:
        raise HwragError(f"steps={cfg.steps}, batch_size={cfg.batch_size}; accepted: both >= 1")
    if data is None:
        data = corpus_bytes("train")
    if cfg.max_train_bytes:
        data = data[:cfg.max_train_bytes]
    T = cfg.model.block_size
    if len(data) <= T + 1:
        raise HwragError(f"{len(data)} training bytes are too few for block_size={T}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = pick_device(device)
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model).to(dev)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    gen = np.random.default_rng(cfg.seed)
    tokens = torch.from_numpy(np.asarray(data, dtype=np.int64))
    model.train()
    t0 = time.perf_counter()
    losses = []
    bar = tqdm(range(cfg.steps), desc="train LM", disable=not progress, leave=False)
    for step in bar:
        starts = torch.from_numpy(gen.integers(0, len(tokens) - T - 1, cfg.batch_size))
        idx = torch.stack([tokens[s:s + T] for s in starts.tolist()]).to(dev)  # (B, T)
        tgt = torch.stack([tokens[s + 1:s + T + 1] for s in starts.tolist()]).to(dev)  # (B, T)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        logits, _ = model(idx)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
        if step % 10 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}")
    model.eval()
    meta = {"final_loss": float(np.mean(losses[-20:])), "train_seconds_measured": time.perf_counter() - t0,
            "train_bytes": int(len(data)), "device": str(dev), "params": model.num_params()}
    log.info("trained %d params for %d steps in %.1f s (measured), loss %.3f", meta["params"], cfg.steps,
             meta["train_seconds_measured"], meta["final_loss"])
    return model, meta


def save_checkpoint(model: GPT, path, train_config: TrainConfig | None = None, meta: dict | None = None) -> Path:
    """Write the checkpoint atomically (temp file + rename) and its sha256 beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": model.config.to_dict(),
            "train_config": train_config.to_dict() if train_config else None, "meta": meta or {},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(ckpt, tmp)
        digest = sha256_file(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    side = path.with_name(path.name + ".sha256")
    side_tmp = side.with_name(side.name + ".tmp")
    side_tmp.write_text(digest + "\n")
    os.replace(side_tmp, side)
    return path


def load_checkpoint(path, device: str | None = None, verify: bool = True) -> tuple[GPT, dict]:
    """(model in eval mode on ``device``, the checkpoint's dict without weights)."""
    path = Path(path)
    if not path.exists():
        raise HwragError(f"checkpoint {path} does not exist")
    side = path.with_name(path.name + ".sha256")
    if verify and side.exists() and side.read_text().strip() != sha256_file(path):
        raise HwragError(f"checkpoint {path} does not match its sha256 ({side}); delete it to retrain")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 -- any unreadable file is the user's to fix
        raise HwragError(f"{path} is not a readable checkpoint: {e}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_NAME:
        raise HwragError(f"{path} is not an {FORMAT_NAME} checkpoint")
    if ckpt.get("version") != FORMAT_VERSION:
        raise HwragError(f"{path}: checkpoint version {ckpt.get('version')}; accepted: {FORMAT_VERSION}")
    model = GPT(GPTConfig(**ckpt["config"]))
    model.load_state_dict(ckpt.pop("state_dict"))
    return model.to(pick_device(device)).eval(), ckpt


def default_checkpoint_path(cfg: TrainConfig) -> Path:
    from ivfpq.datasets.cache import cache_dir

    return cache_dir("models") / f"bytegpt-{cfg.key()}.pt"


def load_or_train(cfg: TrainConfig | None = None, device: str | None = None, progress: bool = True,
                  retrain: bool = False) -> tuple[GPT, Path]:
    """The cached model for ``cfg`` (trained and saved on first use) and its checkpoint path."""
    cfg = cfg or TrainConfig()
    path = default_checkpoint_path(cfg)
    if path.exists() and not retrain:
        try:
            model, _ = load_checkpoint(path, device)
            return model, path
        except HwragError as e:
            log.warning("cached checkpoint unusable (%s); retraining", e)
    model, meta = train(cfg, device=device, progress=progress)
    save_checkpoint(model, path, cfg, meta)
    return model, path
