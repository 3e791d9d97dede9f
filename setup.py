"""Build the Cython kernels with -O3 and OpenMP when the compiler has it.

OpenMP support is probed by compiling, linking and running a tiny program (the
scikit-learn recipe); without it the kernels still build and run serially, because
Cython's ``prange`` degrades to a plain loop when ``_OPENMP`` is undefined. What the probe
found (the flags tried and why each failed) is written to ``cyconv/_kernels/_build_info.json``
beside the kernels, for ``python -m cyconv info``: pip hides the build log.
Set ``CYCONV_NO_OPENMP=1`` to force the serial build, ``CYCONV_BOUNDSCHECK=1`` to
build the kernels with Cython bounds checking (debug), ``CYCONV_EXTRA_CFLAGS`` /
``CYCONV_EXTRA_LDFLAGS`` to add flags (e.g. sanitizers).
"""
import glob
import os
import json
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
    """Return (compile_args, link_args, tried): the flags that enable OpenMP, or ([], [])
    if none works; ``tried`` lists (flags, outcome) for each candidate probed."""
    if os.environ.get("CYCONV_NO_OPENMP"):
        return [], [], [("", "not probed: CYCONV_NO_OPENMP is set")]
    candidates = [["-fopenmp"], ["-Xpreprocessor", "-fopenmp"], ["/openmp"], ["-qopenmp"]]
    # distutils links executables without $LDFLAGS, which is where e.g. libomp's -L lives
    ldflags = shlex.split(os.environ.get("LDFLAGS", ""))
    tried = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(OPENMP_PROBE)
        for flags in candidates:
            link = ["-lomp"] if flags[0] == "-Xpreprocessor" else flags
            step = "compile"
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
                step = "link"
                exe = os.path.join(tmp, "probe")
                compiler.link_executable(objs, exe, extra_postargs=link + ldflags)
                step = "run"
                out = subprocess.run([exe], capture_output=True, text=True, timeout=30)
                if out.returncode == 0 and out.stdout.strip() == "1":
                    tried.append((" ".join(flags), "works"))
                    return flags, link, tried
                tried.append((" ".join(flags), "run gave a wrong thread count"))
            except Exception:  # noqa: BLE001 - any failure means "this flag does not work"
                tried.append((" ".join(flags), f"{step} failed"))
    print("WARNING: no working OpenMP flag found; cyconv kernels will run serially.", file=sys.stderr)
    return [], [], tried


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        compile_omp, link_omp, tried = openmp_flags(self.compiler)
        is_msvc = self.compiler.compiler_type == "msvc"
        base = ["/O2"] if is_msvc else ["-O3", "-fno-math-errno", "-Wno-unused-function"]
        extra_c = shlex.split(os.environ.get("CYCONV_EXTRA_CFLAGS", ""))
        extra_l = shlex.split(os.environ.get("CYCONV_EXTRA_LDFLAGS", ""))
        cflags = base + compile_omp + extra_c
        flags_text = " ".join(cflags).replace('"', "")
        record = {"openmp": bool(compile_omp), "openmp_probe": tried,
                  "flags": [cflags, link_omp + extra_l], "directives": DIRECTIVES,
                  "shared_utility": SHARED_UTILITY}
        # distutils rebuilds when a source changes, not when the flags or Cython directives
        # do: a build with other ones than the kernels already there recompiles them all
        if self.read_build_info() != json.loads(json.dumps(record)):  # (tuples as lists)
            self.force = True
        # Cythonize here, not when setup.py is loaded: an sdist or the metadata need no C,
        # and `make wheel` must not rewrite the checkout's .c files with the build env's Cython.
        # (only the C sources are taken: setuptools has already set up the Extension objects)
        generated = cythonize(self.extensions, compiler_directives=DIRECTIVES, nthreads=2,
                              force=self.force,
                              shared_utility_qualified_name=SHARED_UTILITY)
        c_sources = {ext.name: ext.sources for ext in generated}
        for ext in self.extensions:
            ext.sources = c_sources[ext.name]
            ext.extra_compile_args = cflags
            ext.extra_link_args = link_omp + extra_l
            ext.define_macros = list(ext.define_macros) + [
                ("CYCONV_COMPILE_FLAGS", '"%s"' % flags_text),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()
        with open(self.build_info_path(), "w") as fh:
            json.dump(record, fh, indent=1)
            fh.write("\n")

    def build_info_path(self):
        """Where the build record goes: beside the kernels (in the source tree for in-place and
        editable builds, in build/ for wheels). JSON, not a module: setuptools would put a
        dev build's stale module in the sdist."""
        if self.inplace or getattr(self, "editable_mode", False):
            folder = self.get_finalized_command("build_py").get_package_dir("cyconv._kernels")
        else:
            folder = os.path.join(self.build_lib, "cyconv", "_kernels")
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, "_build_info.json")

    def read_build_info(self):
        try:
            with open(self.build_info_path()) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None


KERNELS = sorted(os.path.splitext(os.path.basename(p))[0]
                 for p in glob.glob("src/cyconv/_kernels/*.pyx"))
# Developer convenience: CYCONV_ONLY=_pool,_info rebuilds just those modules.
if os.environ.get("CYCONV_ONLY"):
    KERNELS = [k for k in KERNELS if k in os.environ["CYCONV_ONLY"].split(",")]

# Cython's own run-time code (typed memoryviews above all) once, in a module of its own that
# the kernels import, instead of a copy in each: 73% of a small kernel module's size
# (benchmarks/README.md, "Wheel size").
SHARED_UTILITY = "cyconv._kernels._cyutility"

extensions = [
    Extension(
        f"cyconv._kernels.{name}",
        [f"src/cyconv/_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include(), "src/cyconv/_kernels"],
        # the C headers the kernels include: an edit to one must rebuild its users
        depends=sorted(glob.glob("src/cyconv/_kernels/*.h") + glob.glob("src/cyconv/_kernels/*.pxd")),
    )
    for name in KERNELS
] + [Extension(SHARED_UTILITY, ["src/cyconv/_kernels/_cyutility.c"])]

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": bool(os.environ.get("CYCONV_BOUNDSCHECK")),
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}

setup(
    ext_modules=extensions,
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
