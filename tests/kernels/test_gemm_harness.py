"""The C harness of the GEMM kernels (``gemm_harness.c``), built and run here.

Natively it checks every kernel this CPU runs (on x86 also the NEON kernels'
code compiled for 128-bit x86 FMA); cross-compiled for aarch64 and run under
qemu-user it checks the NEON kernel itself, and that the plain C kernel, fused
there, gives the same bits. Needs a source tree and a C compiler, not the built
extension; the aarch64 case needs Debian's ``gcc-aarch64-linux-gnu`` and
``qemu-user`` (skipped without them).
"""

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "kernels" / "gemm_harness.c"
KERNELS = ROOT / "fastrnn" / "_kernels"
FLAGS = ["-O3", "-fno-trapping-math", f"-I{KERNELS}"]  # as setup.py

# A wheel's tests run from a copy without the kernels' C sources.
pytestmark = pytest.mark.skipif(
    not (KERNELS / "_gemm.h").exists(), reason="needs the source tree's fastrnn/_kernels/_gemm.h"
)


def _build_and_run(cc, tmp_path, prefix=(), link=()):
    exe = tmp_path / "gemm_harness"
    subprocess.run(
        [cc, *FLAGS, str(SOURCE), "-o", str(exe), *link, "-lm"],
        check=True,
        timeout=120,
        capture_output=True,
    )
    done = subprocess.run(
        [*prefix, str(exe)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: every kernel" in done.stdout
    return done.stdout


@pytest.mark.skipif(os.name != "posix", reason="the harness maps guard pages (POSIX mmap)")
def test_every_kernel_of_this_cpu_gives_the_references_bits(tmp_path):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    out = _build_and_run(cc, tmp_path)
    assert "generic" in out.splitlines()[0]
    if platform.machine().lower() in ("aarch64", "arm64"):
        assert "neon" in out.splitlines()[0]


@pytest.mark.skipif(
    platform.machine().lower() in ("aarch64", "arm64"), reason="native here: the test above"
)
def test_neon_kernel_under_qemu_gives_the_references_and_the_generic_kernels_bits(tmp_path):
    cc, qemu = shutil.which("aarch64-linux-gnu-gcc"), shutil.which("qemu-aarch64")
    if cc is None or qemu is None:
        pytest.skip(
            "needs aarch64-linux-gnu-gcc and qemu-aarch64 on PATH "
            "(Debian/Ubuntu: apt-get install gcc-aarch64-linux-gnu qemu-user)"
        )
    # Static, so qemu needs no aarch64 sysroot to load it.
    out = _build_and_run(cc, tmp_path, prefix=[qemu], link=["-static"])
    assert "build: aarch64; picked: neon" in out
    assert "generic kernel: fused" in out  # so neon == generic, bit for bit
