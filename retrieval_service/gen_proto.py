"""Regenerate the protobuf/gRPC stubs in ``retrieval_service/hwrag/v1/`` from ``proto/hwrag/v1/``.

Run ``python -m retrieval_service.gen_proto`` from the repository root (``--check`` only compares).

protoc is run with ``-I proto`` so every ``.proto`` is known as ``hwrag/v1/<name>.proto``. The
generated imports (``from hwrag.v1 import x_pb2``) are then rooted at this package
(``from retrieval_service.hwrag.v1 import x_pb2``): the top-level ``hwrag`` package is the CLI,
so the bare path would not resolve. Every file gets a header naming its source and this command.
Generated files are never edited by hand; ``tests/retrieval_service/test_stubs.py`` fails when they
are stale.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "hwrag" / "v1"
OUT_DIR = Path(__file__).resolve().parent / "hwrag" / "v1"
COMMAND = "python -m retrieval_service.gen_proto"
_IMPORT = re.compile(r"^(from|import) hwrag\.v1\b", re.M)


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def generate() -> dict[str, str]:
    """Run protoc; return {file name: text} of the generated modules (headers and imports fixed)."""
    import grpc_tools
    from grpc_tools import protoc

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
        args = ["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={tmp}",
                f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", *sources]
        rc = protoc.main(args)
        if rc != 0:
            raise RuntimeError(f"protoc failed with exit code {rc}: {' '.join(args)}")
        gen = Path(tmp) / "hwrag" / "v1"
        for f in sorted(gen.iterdir()):
            if f.suffix not in (".py", ".pyi"):
                continue
            stem = f.name.split("_pb2")[0]
            text = _IMPORT.sub(lambda m: f"{m.group(1)} retrieval_service.hwrag.v1", f.read_text())
            header = (f"# Generated from proto/hwrag/v1/{stem}.proto by `{COMMAND}`.\n"
                      "# DO NOT EDIT: edit the .proto and rerun the command.\n")
            out[f.name] = header + text
    return out


def stale_files() -> list[str]:
    """Names of generated files that are missing, differ from a fresh generation, or are extra."""
    fresh = generate()
    bad = [n for n, t in fresh.items() if not (OUT_DIR / n).exists() or (OUT_DIR / n).read_text() != t]
    extra = [p.name for p in OUT_DIR.glob("*_pb2*.py*") if p.name not in fresh]
    return sorted(bad + extra)


def write() -> list[str]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fresh = generate()
    for p in OUT_DIR.glob("*_pb2*.py*"):
        if p.name not in fresh:
            p.unlink()
    for name, text in fresh.items():
        tmp = OUT_DIR / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(OUT_DIR / name)
    return sorted(fresh)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale stubs (exit 1 if any)")
    a = ap.parse_args(argv)
    if a.check:
        stale = stale_files()
        for n in stale:
            print(f"stale: retrieval_service/hwrag/v1/{n}", file=sys.stderr)
        return 1 if stale else 0
    for n in write():
        print(f"wrote retrieval_service/hwrag/v1/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
