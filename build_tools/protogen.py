"""Generate omen/_proto from proto/ with grpcio-tools, or check that the generated code is fresh.

Usage: python -m build_tools.protogen [--check]

protoc names generated imports after the proto package (`from omen.v1 import signal_pb2`), which
would collide with the `omen` Python package; the modules are therefore generated into a scratch
directory and placed flat in omen/_proto with their imports rewritten to `omen._proto`.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "omen" / "_proto"
PACKAGE_DIR = Path("omen") / "v1"
_IMPORT_RE = re.compile(r"^from omen\.v1 import (\w+_pb2(?:_grpc)?)", re.MULTILINE)
_HEADER = '"""Generated from proto/omen/v1 by build_tools/protogen.py: never edit by hand."""\n'


def proto_files(root: Path = ROOT) -> list[Path]:
    return sorted((root / "proto" / PACKAGE_DIR).glob("*.proto"))


def sources_digest(root: Path = ROOT) -> str:
    """SHA-256 over the proto sources (relative path and bytes), in path order."""
    digest = hashlib.sha256()
    for path in proto_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def render(root: Path = ROOT) -> dict[str, bytes]:
    """Run protoc and return the generated package as {file name: content}."""
    import grpc_tools
    from grpc_tools import protoc  # imported late: only the build needs it

    files = proto_files(root)
    if not files:
        raise SystemExit(f"no .proto files under {root / 'proto' / PACKAGE_DIR}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="omen-protogen-") as scratch:
        args = [
            "grpc_tools.protoc",
            f"-I{root / 'proto'}",
            f"-I{well_known}",
            f"--python_out={scratch}",
            f"--pyi_out={scratch}",
            f"--grpc_python_out={scratch}",
            *[str(p.relative_to(root / "proto")) for p in files],
        ]
        # protoc resolves relative inputs against the include path; run from the proto root.
        code = protoc.main(args)
        if code != 0:
            raise SystemExit(f"protoc failed with exit code {code}")
        generated = Path(scratch) / PACKAGE_DIR
        out: dict[str, bytes] = {}
        for path in sorted(generated.iterdir()):
            text = _IMPORT_RE.sub(r"from omen._proto import \1", path.read_text())
            out[path.name] = text.encode()
    out["__init__.py"] = (_HEADER + f'\nPROTO_SOURCES_SHA256 = "{sources_digest(root)}"\n').encode()
    return out


def generate(root: Path = ROOT, out_dir: Path | None = None) -> list[str]:
    """Write the generated package, replacing whatever was there. Returns the file names."""
    out_dir = out_dir or root / "omen" / "_proto"
    rendered = render(root)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for name, content in rendered.items():
        (out_dir / name).write_bytes(content)
    return sorted(rendered)


def stale_files(root: Path = ROOT, out_dir: Path | None = None) -> list[str]:
    """Names of generated files that are missing, extra or different from a fresh generation."""
    out_dir = out_dir or root / "omen" / "_proto"
    expected = render(root)
    present = {
        p.name: p.read_bytes()
        for p in (out_dir.iterdir() if out_dir.exists() else [])
        if p.is_file() and p.suffix in {".py", ".pyi"}
    }
    return sorted(
        name for name in set(expected) | set(present) if expected.get(name) != present.get(name)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if omen/_proto is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(
                "omen/_proto is stale (differs from proto/): "
                + ", ".join(stale)
                + "\nrun `make proto` to regenerate it",
                file=sys.stderr,
            )
            return 1
        print("omen/_proto is up to date with proto/")
        return 0
    names = generate()
    print(f"generated {len(names)} files in {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
