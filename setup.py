"""Build script: generates omen/_proto from proto/ and compiles the Cython modules in omen/_native.

Metadata lives in pyproject.toml; this file only adds the two build steps setuptools cannot
express declaratively. OMEN_NO_EXTENSIONS=1 skips the Cython modules (the pure-Python twins are
then used at run time); otherwise a compile failure fails the build.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

from build_tools import protogen  # noqa: E402  (needs ROOT on sys.path)

# Every omen/_native/<name>.pyx (omen.native.MODULES lists the same names; a test checks it).
NATIVE_MODULES = sorted(
    name.removesuffix(".pyx")
    for name in os.listdir(os.path.join(ROOT, "omen", "_native"))
    if name.endswith(".pyx")
)
SKIP_EXTENSIONS = os.environ.get("OMEN_NO_EXTENSIONS", "").strip().lower() in {"1", "true", "yes"}


class BuildPyWithProto(build_py):
    """Generate omen/_proto before the package's modules are collected."""

    def run(self) -> None:
        names = protogen.generate()
        self.announce(f"generated omen/_proto: {', '.join(names)}", level=2)
        super().run()


class CythonBuildExt(build_ext):
    """Cythonize at build time, as asyncpg does, with a clear hint when Cython is missing."""

    def finalize_options(self) -> None:
        # Cythonize first: setuptools' finalize_options annotates the Extension objects it sees,
        # so it must see the cythonized ones.
        if self.distribution.ext_modules:
            try:
                from Cython.Build import cythonize
            except ImportError as exc:  # pragma: no cover - depends on the build environment
                raise SystemExit(
                    "Cython is required to build OMEN's native modules: pip install 'Cython>=3.0' "
                    "(or set OMEN_NO_EXTENSIONS=1 to build without them)"
                ) from exc
            self.distribution.ext_modules[:] = cythonize(
                self.distribution.ext_modules,
                compiler_directives={
                    "language_level": "3",
                    "boundscheck": False,
                    "wraparound": False,
                    "cdivision": True,
                    "embedsignature": True,
                },
                quiet=True,
            )
        super().finalize_options()


# No -msse4.2 or -msha here: wal picks the CRC32C instruction (crc32c.h), hashing and decision
# the SHA-256 ones (sha256.h) at run time, so one build runs on every x86-64 CPU.
extensions = (
    []
    if SKIP_EXTENSIONS
    else [
        Extension(
            f"omen._native.{name}",
            [f"omen/_native/{name}.pyx"],
            include_dirs=["omen/_native"],
            depends=[
                path
                for path in (
                    f"omen/_native/{name}.pxd",
                    "omen/_native/crc32c.h",
                    "omen/_native/sha256.h",
                )
                if os.path.exists(os.path.join(ROOT, path))
            ],
            extra_compile_args=["-O3"],
        )
        for name in NATIVE_MODULES
    ]
)

setup(
    ext_modules=extensions,
    cmdclass={"build_py": BuildPyWithProto, "build_ext": CythonBuildExt},
)
