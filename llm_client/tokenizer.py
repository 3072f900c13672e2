"""Byte-level tokenizer: a token is one UTF-8 byte (vocabulary 256), so nothing is downloaded and
every string round-trips exactly. Decoding a cut in the middle of a multi-byte character replaces
the broken bytes (errors="replace"); ``decode_bytes`` gives the raw bytes."""
from __future__ import annotations

import numpy as np

VOCAB_SIZE = 256


class ByteTokenizer:
    vocab_size = VOCAB_SIZE
    name = "bytes"

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_array(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def decode_bytes(self, ids) -> bytes:
        return bytes(int(i) & 0xFF for i in ids)

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token: int) -> bytes:
        """The payload stored for a next token in the kNN-LM datastore."""
        return bytes([int(token)])

    def token_from_bytes(self, b: bytes) -> int:
        return b[0] if b else -1
