"""One interface over the language models the client can run (:class:`LanguageModel`), and the
project's byte-level GPT behind it (:class:`ByteGPT`; trained and cached by :mod:`.train`; kept for
fast tests). The factory that picks and loads a model by name is :func:`llm_client.loading.load_lm`
(this module holds the interface only: the Hugging Face implementation, :mod:`.hf_lm`, imports it).

    logits, hidden = lm.last([[ids...], [ids...]])   # next-token logits (B, V) and hidden (B, C)
    dec = lm.decoder(); dec.last(inputs)  # the same, reusing the KV cache when inputs grow by a token
"""
from __future__ import annotations

import logging

import torch
from ivfpq.errors import HwragError

from .model import GPT
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

    dtype: torch.dtype = torch.float32
    banned_ids: list[int] = []  # never generated (special tokens)
    stop_ids: list[int] = []  # question mode: the answer ends here (an instruct model's end of turn)
    has_chat_template: bool = False

    def question_text(self, question: str, passages: list[str]) -> str:
        """The prompt of question mode for a model without a chat template: the passages as a numbered
        context, then the question (raw completion)."""
        ctx = "".join(f"[{i}] {' '.join(p.split())}\n" for i, p in enumerate(reversed(passages), 1))  # best last
        return (f"Context:\n{ctx}\n" if ctx else "") + f"Question: {question.strip()}\nAnswer:"

    def chat_tokens(self, question: str, passages: list[str]) -> list[int]:
        """Question mode's input: the question (and retrieved passages) where the model expects them --
        in its chat template's user turn when it has one."""
        return self.tokenizer.encode(self.question_text(question, passages))

    def forward(self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None, logits_last: int = 0):
        """(logits of the last ``logits_last`` positions, all if 0: (B, T', V); hidden (B, T, C))."""
        raise NotImplementedError

    def hidden_states(self, idx: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The LM head's input at every position (B, T, C): the kNN-LM keys."""
        return self.forward(idx, pad_mask, logits_last=1)[1]

    def decoder(self) -> "Decoder":
        """A per-batch decoder: :meth:`Decoder.last` as :meth:`last` (models with a KV cache reuse it)."""
        return Decoder(self)

    def describe(self) -> dict:
        return {"name": self.name, "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
                "context": self.block_size, "device": str(self.device), "dtype": str(self.dtype).replace("torch.", "")}

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
        logits, hidden = self.forward(idx, None if bool(mask.all()) else mask, logits_last=1)
        return logits[:, -1].float(), hidden[:, -1].float()


class Decoder:
    """Next-token logits and hidden state of a batch, step after step (no cache: recomputed each time)."""

    def __init__(self, lm: LanguageModel):
        self.lm = lm

    def last(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lm.last(seqs)


class ByteGPT(LanguageModel):
    def __init__(self, model: GPT, name: str = "bytegpt"):
        self.model, self.name = model.eval(), name
        self.tokenizer = ByteTokenizer()
        cfg = model.config
        self.block_size, self.vocab_size, self.hidden_size = cfg.block_size, cfg.vocab_size, cfg.n_embd
        self.device = model.device

    def forward(self, idx, pad_mask=None, logits_last: int = 0):
        logits, hidden = self.model(idx, pad_mask)
        return (logits[:, -logits_last:] if logits_last else logits), hidden
