"""pip install . — setuptools driving the project's CMake build of the Python module.

Builds only the extension target (veloxquant_python: the library and the pybind11 module, with
Debian's pybind11-dev) in a persistent CMake directory, build-pip/ (or $VELOXQUANT_BUILD_DIR), so
a second install is incremental; ccache is used when installed. The pure-Python packages
veloxquant and mlx_kv_quant come from python/.

There is deliberately no pyproject.toml: its presence makes pip (23, Debian 12) build in an
isolated environment whose setuptools and wheel must come from a package index. Without it pip
builds with the setuptools and wheel of the environment (Debian's python3-setuptools and
python3-wheel in a venv made with --system-site-packages), so `pip install .`,
`pip install --no-build-isolation .` and `pip install -e ".[dev]"` work with no index reachable
(scripts/test-pip-install.sh).
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configures and builds target veloxquant_python, then copies the module where setuptools wants it."""

    def build_extension(self, ext):
        build_dir = os.environ.get("VELOXQUANT_BUILD_DIR", os.path.join(ROOT, "build-pip"))
        configure = ["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                     f"-DPython_EXECUTABLE={sys.executable}", "-DVELOXQUANT_PYTHON=ON", "-DVELOXQUANT_TESTS=OFF"]
        if shutil.which("ninja") and not os.path.exists(os.path.join(build_dir, "Makefile")):
            configure += ["-G", "Ninja"]
        if shutil.which("ccache"):
            configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
        subprocess.check_call(configure)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "veloxquant_python", "-j", jobs])
        built = os.path.join(build_dir, "python", "veloxquant", "_core" + sysconfig.get_config_var("EXT_SUFFIX"))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    ext_modules=[CMakeExtension("veloxquant._core")],
    cmdclass={"build_ext": CMakeBuild},
)
