"""Defaults of the RALM side, in one place, each with the measurement behind it (no torch import here:
the ``hwrag`` command reads these while building its parser).

kNN-LM interpolation (λ, k, temperature) was chosen by ``llm_client.evaluate.tune_knn`` on the
validation slice (held-out documents, never in a datastore, disjoint from the test slice) and is
reported on the test slice by ``hwrag eval-ppl --mode none token --tune --json``; the temperature is
relative to the store's median squared key distance, so it carries over between models and stores.
"""
from __future__ import annotations

DEFAULT_MODEL = "smollm2"

# The built-in kNN-LM store (keys: SmolLM2's final hidden states over the corpus's training text).
# Collecting keys costs one forward pass per token; the default size keeps a cold `make demo` within
# 10 minutes on 2 cores, --full takes the whole training text.
DEMO_KNN_TOKENS = 65536
KNN_NLIST = 1024  # capped at one list per KNN_KEYS_PER_LIST keys
KNN_KEYS_PER_LIST = 256
# PQ sub-quantisers: 0 = auto, the most with >= KNN_MIN_DSUB dims each (SmolLM2: 576 / 48 = 12 dims).
# Measured on 65,536 SmolLM2 keys and 4,096 queries of the held-out documents (before near-copies were
# left out of the slices; faiss IVF256, nprobe 8, against exact search):
# recall10@10 0.70 (PQ48) / 0.81 (PQ96) / 0.87 (PQ144), kNN-LM perplexity within 2.3 % / 1.5 % / 0.8 %
# of exact search's; training PQ96 takes twice PQ48's time (faiss k-means per sub-quantiser), so PQ48.
KNN_M = 0
KNN_MIN_DSUB = 12
KNN_KEY_WINDOW = 128  # tokens per forward pass while collecting keys (every key sees >= 64 tokens of context)

# kNN-LM interpolation, tuned (see above) with the demo-size store on 3,072 validation tokens: k=64, λ=0.05,
# temperature 0.02 x median (validation 13.14 -> 12.54; test 10.31 -> 9.58, measured, exact search)
KNN_K = 64
KNN_LAMBDA = 0.05
KNN_TEMPERATURE_REL = 0.02  # x the store's median squared distance between keys
KNN_NPROBE = 16

# The built-in chunk store: MiniLM passages of every training document (5,379 passages on sentence /
# paragraph boundaries, at most 64 words, 16 of overlap; built in 508 s measured at load average 3-6 on
# the shared 2 cores); a positive number keeps the corpus's first N documents only
DEMO_CHUNK_DOCS = 0

# Generation: the probability of a token already in the text is divided by this (1 = off)
REPETITION_PENALTY = 1.3

# Chunk stores: passages on sentence/paragraph boundaries (llm_client.chunking), at most CHUNK_WORDS
# words, the next passage repeating up to CHUNK_OVERLAP_WORDS of the previous one's last sentences
CHUNK_WORDS = 64
CHUNK_OVERLAP_WORDS = 16
CHUNKING = "sentence"

# Chunk RALM: passages per retrieval, and tokens generated between retrievals (0: retrieve once, from
# the prompt). Chosen with `hwrag eval-qa` on the built-in QA set (README, "Question answering").
CHUNK_K = 3
CHUNK_INTERVAL = 0

# The KV knowledge cache (llm_client.kv_cache) of chunk RALM, when on (--kv-cache-mb): its default budget.
# SmolLM2-135M keeps 30 layers x (K, V) x 3 heads x 64 dims per token: 23,040 bytes in bfloat16 (the
# auto dtype on a CPU with AVX512-BF16), 46,080 in float32. 512 MB holds ~23,000 bfloat16 tokens: ~90
# full retrieved prefixes of 256 tokens -- the popular passages of the benchmark's skewed stream -- and
# is ~2 % of this machine's 23 GB.
KV_CACHE_MB = 512
