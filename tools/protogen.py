"""Generate the Python code for every .proto under proto/, or check that the committed code is fresh.

    python -m tools.protogen           # regenerate in place
    python -m tools.protogen --check   # exit 1 and list the stale files when the committed code differs

Generated modules live beside their .proto files, so `proto/` is the import root and the packages import as
`agentorch.<context>.v1` (messages `*_pb2.py` with `.pyi` stubs, service stubs `*_pb2_grpc.py`).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
INIT_HEADER = '"""Generated protobuf package; do not edit (python -m tools.protogen)."""\n'


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Generate code for every .proto into out_dir; return the paths written, relative to out_dir."""
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = [p.relative_to(out_dir) for p in out_dir.rglob("*") if p.name.endswith(GENERATED_SUFFIXES)]
    packages = {parent for p in written for parent in p.parents if parent != Path(".")}
    for package in packages:
        (out_dir / package / "__init__.py").write_text(INIT_HEADER)
        written.append(package / "__init__.py")
    return sorted(written)


def committed() -> list[Path]:
    found = [
        p.relative_to(PROTO_ROOT)
        for p in PROTO_ROOT.rglob("*")
        if p.name.endswith(GENERATED_SUFFIXES) or (p.name == "__init__.py" and p.read_text() == INIT_HEADER)
    ]
    return sorted(found)


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = sorted(set(fresh) ^ set(committed()))
        stale += [
            p
            for p in fresh
            if (PROTO_ROOT / p).exists() and not filecmp.cmp(Path(tmp) / p, PROTO_ROOT / p, shallow=False)
        ]
    if stale:
        print("generated code is stale; run `python -m tools.protogen` and commit:", file=sys.stderr)
        for path in sorted(set(stale)):
            print(f"  proto/{path}", file=sys.stderr)
        return 1
    print(f"generated code is fresh ({len(fresh)} files)")
    return 0


def regenerate() -> int:
    for path in committed():
        (PROTO_ROOT / path).unlink()
    written = generate(PROTO_ROOT)
    print(f"generated {len(written)} files under proto/")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when the committed generated code is stale")
    args = parser.parse_args(argv)
    return check() if args.check else regenerate()


if __name__ == "__main__":
    raise SystemExit(main())
