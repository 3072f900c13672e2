"""Regenerate the protobuf/gRPC stubs in ``hwrag_rpc/v1/`` from ``proto/hwrag_rpc/v1/``.

Run ``python -m retrieval_service.gen_proto`` from the repository root (``--check`` only compares).

protoc runs with ``-I proto``, so every ``.proto`` is known as ``hwrag_rpc/v1/<name>.proto`` and the
generated modules import each other as ``from hwrag_rpc.v1 import x_pb2``: the top-level package
``hwrag_rpc`` (a name nothing else uses) holds them as protoc writes them, with only a header naming
the source and this command prepended -- no import is rewritten. The services keep their protocol
names (``package hwrag.v1``: ``hwrag.v1.Retrieval``, ``hwrag.v1.MemoryNode``). Generated files are never
edited by hand; ``tests/retrieval_service/test_stubs.py`` fails when they are stale.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ivfpq.errors import CommandParser

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = Path("hwrag_rpc") / "v1"
PROTO_DIR = PROTO_ROOT / PACKAGE
OUT_DIR = ROOT / PACKAGE
COMMAND = "python -m retrieval_service.gen_proto"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def header(stem: str) -> str:
    return (f"# Generated from proto/{PACKAGE.as_posix()}/{stem}.proto by `{COMMAND}`.\n"
            "# DO NOT EDIT: edit the .proto and rerun the command.\n")


def generate() -> dict[str, str]:
    """Run protoc; return {file name: text} of the generated modules (header prepended)."""
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
        for f in sorted((Path(tmp) / PACKAGE).iterdir()):
            if f.suffix in (".py", ".pyi"):
                out[f.name] = header(f.name.split("_pb2")[0]) + f.read_text()
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
    ap = CommandParser(prog=COMMAND, description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report stale stubs (exit 1 if any)")
    a = ap.parse_args(argv)
    if a.check:
        stale = stale_files()
        for n in stale:
            print(f"stale: {PACKAGE.as_posix()}/{n}", file=sys.stderr)
        return 1 if stale else 0
    for n in write():
        print(f"wrote {PACKAGE.as_posix()}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
