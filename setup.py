"""Build the Cython kernels with -O3 and OpenMP when the compiler has it.

OpenMP support is probed by compiling, linking and running a tiny program (the
scikit-learn recipe); without it the kernels still build and run serially, because
Cython's ``prange`` degrades to a plain loop when ``_OPENMP`` is undefined.
Set ``CYCONV_NO_OPENMP=1`` to force the serial build, ``CYCONV_BOUNDSCHECK=1`` to
build the kernels with Cython bounds checking (debug), ``CYCONV_EXTRA_CFLAGS`` /
``CYCONV_EXTRA_LDFLAGS`` to add flags (e.g. sanitizers).
"""
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n == omp_get_max_threads());
        return 0;
    }
    """
)


def openmp_flags(compiler):
    """Return (compile_args, link_args) that enable OpenMP, or ([], []) if none works."""
    if os.environ.get("CYCONV_NO_OPENMP"):
        return [], []
    candidates = [["-fopenmp"], ["-Xpreprocessor", "-fopenmp"], ["/openmp"], ["-qopenmp"]]
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(OPENMP_PROBE)
        for flags in candidates:
            link = ["-lomp"] if flags[0] == "-Xpreprocessor" else flags
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
                exe = os.path.join(tmp, "probe")
                compiler.link_executable(objs, exe, extra_postargs=link)
                out = subprocess.run([exe], capture_output=True, text=True, timeout=30)
                if out.returncode == 0 and out.stdout.strip() == "1":
                    return flags, link
            except Exception:  # noqa: BLE001 - any failure means "this flag does not work"
                continue
    print("WARNING: no working OpenMP flag found; cyconv kernels will run serially.", file=sys.stderr)
    return [], []


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        compile_omp, link_omp = openmp_flags(self.compiler)
        is_msvc = self.compiler.compiler_type == "msvc"
        base = ["/O2"] if is_msvc else ["-O3", "-fno-math-errno", "-Wno-unused-function"]
        extra_c = shlex.split(os.environ.get("CYCONV_EXTRA_CFLAGS", ""))
        extra_l = shlex.split(os.environ.get("CYCONV_EXTRA_LDFLAGS", ""))
        cflags = base + compile_omp + extra_c
        flags_text = " ".join(cflags).replace('"', "")
        for ext in self.extensions:
            ext.extra_compile_args = cflags
            ext.extra_link_args = link_omp + extra_l
            ext.define_macros = list(ext.define_macros) + [
                ("CYCONV_COMPILE_FLAGS", '"%s"' % flags_text),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()


import glob

KERNELS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob("src/cyconv/_kernels/*.pyx"))
# Developer convenience: CYCONV_ONLY=_pool,_info rebuilds just those modules.
if os.environ.get("CYCONV_ONLY"):
    KERNELS = [k for k in KERNELS if k in os.environ["CYCONV_ONLY"].split(",")]

extensions = [
    Extension(
        f"cyconv._kernels.{name}",
        [f"src/cyconv/_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include(), "src/cyconv/_kernels"],
        # the C headers the kernels include: an edit to one must rebuild its users
        depends=sorted(glob.glob("src/cyconv/_kernels/*.h") + glob.glob("src/cyconv/_kernels/*.pxd")),
    )
    for name in KERNELS
]

directives = {
    "language_level": 3,
    "boundscheck": bool(os.environ.get("CYCONV_BOUNDSCHECK")),
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives, nthreads=2),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
