"""Builds the synpref Python package with the project's own CMake (python/CMakeLists.txt).

The extension is the CMake target `synpref_python`; this file only drives CMake and copies the
result into the wheel, so `pip install .`, `pip wheel .` and `python setup.py bdist_wheel` build
exactly what `cmake --build build --target synpref_python` builds. Environment:

  SYNPREF_CMAKE_BUILD_DIR  an existing, configured CMake build folder to build the target in
                           (e.g. build/); default: a fresh folder under setuptools' build_temp,
                           configured with only the libraries the module needs
  SYNPREF_NATIVE=0         portable code (no -march=native) for a wheel meant for other machines;
                           the kernels still pick AVX-512 / AVX2 / generic at run time
  SYNPREF_BUILD_JOBS       parallel compile jobs (default: the CPU count)
"""
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent
# The libraries the module links (python/CMakeLists.txt), and nothing else.
SUBSYSTEMS = "common;data;tokenizer;chat;encode;kernels;model;score;eval"


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("SYNPREF_CMAKE_BUILD_DIR")
        if build_dir:
            build_dir = pathlib.Path(build_dir).resolve()
            if not (build_dir / "CMakeCache.txt").exists():
                sys.exit(f"SYNPREF_CMAKE_BUILD_DIR={build_dir} is not a configured CMake build folder")
        else:
            build_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
            build_dir.mkdir(parents=True, exist_ok=True)
            configure = [
                "cmake", "-S", str(ROOT), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release",
                f"-DSYNPREF_SUBSYSTEMS={SUBSYSTEMS}", "-DSYNPREF_TESTS=OFF", "-DSYNPREF_TOOLS=OFF",
                "-DSYNPREF_PYTHON=ON", f"-DSYNPREF_PYTHON_EXECUTABLE={sys.executable}",
                f"-DSYNPREF_NATIVE={'OFF' if os.environ.get('SYNPREF_NATIVE') == '0' else 'ON'}",
            ]
            if shutil.which("ninja"):
                configure += ["-G", "Ninja"]
            if shutil.which("ccache"):
                configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            subprocess.run(configure, check=True)
        jobs = os.environ.get("SYNPREF_BUILD_JOBS", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "synpref_python", "-j", jobs], check=True)
        # The module built for the interpreter running this build (its extension suffix).
        built = build_dir / "python" / "synpref" / ("_synpref" + sysconfig.get_config_var("EXT_SUFFIX"))
        if not built.exists():
            sys.exit(f"{built} was not built: was the module skipped at configure time (it needs pybind11-dev "
                     f"and the headers of {sys.executable}, python3-dev), or configured for another interpreter "
                     "(SYNPREF_PYTHON_EXECUTABLE)?")
        target = pathlib.Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


setup(
    packages=["synpref"],
    package_dir={"": "python"},
    package_data={"synpref": ["__init__.pyi", "py.typed"]},
    ext_modules=[CMakeExtension("synpref._synpref")],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
)
