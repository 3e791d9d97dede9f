"""What an installed cyconv offers type checkers (issue 15): the stubs of the compiled modules
match the modules, and mypy sees the public API from a user's script (py.typed). These run
against whatever cyconv is imported: the dev build, the sdist's install or the wheel."""
import pathlib
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy", reason="mypy is in the test extra")

KERNELS = ["cyconv._kernels._isa", "cyconv._kernels._im2col", "cyconv._kernels._rows",
           "cyconv._kernels._direct", "cyconv._kernels._layout", "cyconv._kernels._pool",
           "cyconv._kernels._pool_backward",
           "cyconv._kernels._adaptive_pool", "cyconv._kernels._info", "cyconv._kernels._call_keys",
           "cyconv._kernels._padding", "cyconv._kernels._spectral", "cyconv._kernels._fold",
           "cyconv._kernels._pointwise", "cyconv._kernels._im2col_weight",
           "cyconv._kernels._winograd_weight", "cyconv._kernels._padded_weight"]
HERE = pathlib.Path(__file__).parent

USER_SCRIPT = """
import numpy as np
import numpy.typing as npt

import cyconv
from cyconv._kernels import _info

x: npt.NDArray[np.float32] = np.zeros((2, 3, 8, 8), np.float32)
w = np.zeros((4, 3, 3, 3), np.float32)
y = cyconv.conv2d(x, w, padding=1, stride=1)
grads = cyconv.conv2d_backward(y, x, w, padding=1)
pooled = cyconv.max_pool2d(y, 2, return_indices=True)
with cyconv.threads(2):
    z = cyconv.avg_pool2d(y, 3, stride=2, padding=1)
openmp: bool = _info.openmp_enabled()
flags: str = _info.compile_flags()
"""

MISTAKES = """
import numpy as np
import cyconv
from cyconv._kernels import _info

x = np.zeros((2, 3, 8, 8), np.float32)
cyconv.conv2d(x, x, strid=2)
cyconv.conv_2d(x, x)
n: str = _info.openmp_max_threads()
"""


def _mypy(tmp_path, source):
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(source))
    # the script's folder, not the source tree: mypy must find cyconv where it is installed
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir",
                           str(tmp_path / "cache"), str(script)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


def test_stubs_match_the_compiled_modules():
    """mypy's stubtest: every name, parameter and default of the .pyi files exists at run time
    and the other way round. A new or changed kernel entry point needs its line in the .pyi."""
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--allowlist",
                          str(HERE / "support" / "stubtest_allowlist.txt"), *KERNELS],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_user_script_type_checks(tmp_path):
    out = _mypy(tmp_path, USER_SCRIPT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_sees_the_public_api(tmp_path):
    """Without py.typed mypy would treat cyconv as untyped (Any) and find none of these."""
    out = _mypy(tmp_path, MISTAKES)
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'Unexpected keyword argument "strid" for "conv2d"' in out.stdout
    assert 'Module has no attribute "conv_2d"' in out.stdout
    assert 'Incompatible types in assignment (expression has type "int"' in out.stdout


def test_info_explains_a_serial_build():
    """A build without OpenMP says so in `python -m cyconv info`, with the flags the build's
    probe tried (setup.py records them in _kernels/_build_info.json)."""
    from cyconv.__main__ import openmp_line
    record = {"openmp": False, "openmp_probe": [["-fopenmp", "link failed"],
                                                ["-Xpreprocessor -fopenmp", "compile failed"]]}
    line = openmp_line(False, record)
    assert line.startswith("OpenMP compiled in: no (serial build; ")
    assert "-fopenmp -> link failed; -Xpreprocessor -fopenmp -> compile failed" in line
    assert openmp_line(True) == "OpenMP compiled in: yes"


def test_the_build_record_matches_the_kernels():
    from cyconv.__main__ import build_record
    from cyconv._kernels import _info
    record = build_record()
    if record is None:
        pytest.skip("not built by setup.py's build_ext")
    assert record["openmp"] == _info.openmp_enabled()


def test_import_is_silent():
    """No import-time note or warning, whatever the build: `info` is where the build speaks."""
    out = subprocess.run([sys.executable, "-W", "error", "-c", "import cyconv"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr
