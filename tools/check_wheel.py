"""Check the repaired wheel in DIST (default dist/) against issue 15's release rules.

A manylinux tag that `auditwheel show` confirms, libgomp bundled (no external OpenMP
runtime), no C/Cython sources, no debug info in any shared object, the LICENSE, py.typed and
the stubs inside, and at most half the size of the first, unrepaired wheel (4.9 MB).
Run by `make wheel-check` with the release venv's Python (it has auditwheel and pyelftools).
"""
import io
import pathlib
import re
import subprocess
import sys
import zipfile

from elftools.elf.elffile import ELFFile

MAX_BYTES = 4_900_000 // 2
SOURCE_SUFFIXES = (".c", ".pyx", ".pxd", ".h")


def main(dist):
    wheels = sorted(pathlib.Path(dist).glob("*manylinux*.whl"))
    assert len(wheels) == 1, f"want one manylinux wheel in {dist}, found {wheels}"
    wheel = wheels[0]
    problems = []
    size = wheel.stat().st_size
    if size > MAX_BYTES:
        problems.append(f"{size} bytes, over {MAX_BYTES}")

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        problems += [f"source file inside: {n}" for n in names if n.endswith(SOURCE_SUFFIXES)]
        for want in (r"\.dist-info/licenses/LICENSE$", r"^cyconv/py\.typed$",
                     r"^cyconv/_kernels/_isa\.pyi$", r"^cyconv\.libs/libgomp-[0-9a-f]+\.so",
                     r"^cyconv/_kernels/_build_info\.json$"):
            if not any(re.search(want, n) for n in names):
                problems.append(f"nothing inside matches {want}")
        for name in names:
            if ".so" in name.rsplit("/", 1)[-1]:
                elf = ELFFile(io.BytesIO(zf.read(name)))
                debug = [s.name for s in elf.iter_sections() if s.name.startswith(".debug")]
                if debug:
                    problems.append(f"{name} has debug sections {debug}")
                needed = [t.needed for s in elf.iter_sections() if s.name == ".dynamic"
                          for t in s.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
                # the system's libgomp.so.1 must have been replaced by the bundled copy
                problems += [f"{name} needs the system's {n}" for n in needed
                             if n.startswith(("libgomp.so", "libomp.so", "libiomp"))]

    show = subprocess.run([sys.executable, "-m", "auditwheel", "show", str(wheel)],
                          capture_output=True, text=True, check=True).stdout
    print(show)
    tag = re.search(r"manylinux_\d+_\d+_\w+", wheel.name).group(0)
    flat = " ".join(show.split())  # auditwheel wraps its lines
    if f'consistent with the following platform tag: "{tag}"' not in flat:
        problems.append(f"auditwheel show does not confirm {tag}")
    # auditwheel lists libraries it could not bundle after this sentence (none here); the
    # bundled libgomp-<hash> appears earlier, among the symbol versions the wheel uses
    if "external shared libraries are required" in flat:
        problems.append("auditwheel show lists external shared libraries")

    print(f"{wheel.name}: {size} bytes ({size / 1e6:.2f} MB), {len(names)} files")
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
