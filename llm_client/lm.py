"""One interface over the language models the client can run: the project's byte-level GPT
(trained and cached by :mod:`.train`) or a Hugging Face causal LM already on disk (never downloaded).

    lm = load_lm()                       # the cached byte-level GPT (trains it on first use)
    lm = load_lm("path/to/ckpt.pt")      # a checkpoint written by llm_client.train
    lm = load_lm("hf:/path/to/model")    # transformers, local_files_only=True
    logits, hidden = lm.last([[ids...], [ids...]])   # next-token logits (B, V) and hidden (B, C)
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from ivfpq.errors import HwragError

from .model import GPT, pick_device
from .tokenizer import ByteTokenizer

log = logging.getLogger(__name__)


class LanguageModel:
    """Base: ``tokenizer`` (encode/decode), ``block_size``, ``vocab_size``, ``hidden_size``, ``device``,
    and ``forward(idx, pad_mask) -> (logits (B,T,V), hidden (B,T,C))``."""

    name: str = "lm"
    tokenizer = None
    block_size: int
    vocab_size: int
    hidden_size: int
    device: torch.device

    def forward(self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None):
        raise NotImplementedError

    def batch(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad ``seqs`` (each cut to its last ``block_size`` tokens): (idx (B, T), pad_mask (B, T))."""
        seqs = [list(s)[-self.block_size:] for s in seqs]
        if any(len(s) == 0 for s in seqs):
            raise HwragError("every sequence needs at least one token (an empty prompt has nothing to condition on)")
        T = max(len(s) for s in seqs)
        idx = torch.zeros(len(seqs), T, dtype=torch.long)
        mask = torch.zeros(len(seqs), T, dtype=torch.bool)
        for i, s in enumerate(seqs):
            idx[i, T - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, T - len(s):] = True
        return idx.to(self.device), mask.to(self.device)

    @torch.no_grad()
    def last(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits (B, V) and last hidden state (B, C) of each sequence (float32)."""
        idx, mask = self.batch(seqs)
        logits, hidden = self.forward(idx, None if bool(mask.all()) else mask)
        return logits[:, -1].float(), hidden[:, -1].float()


class ByteGPT(LanguageModel):
    def __init__(self, model: GPT, name: str = "bytegpt"):
        self.model, self.name = model.eval(), name
        self.tokenizer = ByteTokenizer()
        cfg = model.config
        self.block_size, self.vocab_size, self.hidden_size = cfg.block_size, cfg.vocab_size, cfg.n_embd
        self.device = model.device

    def forward(self, idx, pad_mask=None):
        return self.model(idx, pad_mask)


class _HFTokenizer:
    def __init__(self, tok):
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids])


class HFCausalLM(LanguageModel):
    """A Hugging Face causal LM loaded from a local directory (``local_files_only=True``)."""

    def __init__(self, path: str, device: str | None = None):
        p = Path(path).expanduser()
        if not p.is_dir():
            raise HwragError(f"no Hugging Face model directory at {p}; this client never downloads -- "
                             "pass the directory of a model already on disk (config.json + weights)")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise HwragError("loading a Hugging Face model needs the 'transformers' package") from None
        try:
            self.tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True)
        except (OSError, ValueError) as e:
            raise HwragError(f"{p} is not a loadable local causal LM: {e}") from None
        self.device = pick_device(device)
        self.model = model.to(self.device).eval()
        self.name = f"hf:{p.name}"
        self.tokenizer = _HFTokenizer(self.tok)
        c = model.config
        self.vocab_size = int(c.vocab_size)
        self.hidden_size = int(getattr(c, "hidden_size", getattr(c, "n_embd", 0)))
        self.block_size = int(getattr(c, "max_position_embeddings", getattr(c, "n_positions", 1024)))

    def forward(self, idx, pad_mask=None):
        if pad_mask is None:
            pad_mask = torch.ones_like(idx, dtype=torch.bool)
        pos = (pad_mask.long().cumsum(1) - 1).clamp(min=0)
        out = self.model(input_ids=idx, attention_mask=pad_mask.long(), position_ids=pos, output_hidden_states=True)
        return out.logits, out.hidden_states[-1]


def load_lm(spec: str | None = None, device: str | None = None, progress: bool = True) -> LanguageModel:
    """``None``/``"bytegpt"``: the cached default byte GPT; a ``.pt`` path; or ``hf:<directory>``."""
    from .train import TrainConfig, load_checkpoint, load_or_train

    if spec in (None, "", "bytegpt"):
        model, path = load_or_train(TrainConfig(), device=device, progress=progress)
        return ByteGPT(model, name=f"bytegpt-{path.stem.split('-')[-1]}")
    if spec.startswith("hf:"):
        return HFCausalLM(spec[3:], device)
    p = Path(spec).expanduser()
    if p.suffix == ".pt":
        model, _ = load_checkpoint(p, device)
        return ByteGPT(model, name=f"bytegpt-{p.stem}")
    raise HwragError(f"model {spec!r}; accepted: bytegpt (default, trained and cached), a .pt checkpoint "
                     "from llm_client.train, or hf:<local directory>")
