"""Build the Cython extension; all metadata lives in pyproject.toml."""
import ctypes.util
import os
import platform

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# Vectorise the inner loops (omp simd needs no OpenMP runtime; without errno, exp
# vectorises through glibc's libmvec).  Tuning for this
# CPU is on by default for x86-64 builds from source; HDTWEEDIE_PORTABLE=1 turns it off.
compile_args = ["-O3", "-fopenmp-simd", "-fno-math-errno"]
if platform.machine() in ("x86_64", "AMD64") and not os.environ.get("HDTWEEDIE_PORTABLE"):
    compile_args.append("-march=native")

# glibc's vector math library, for exp in the vectorised loops.
define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
libraries = []
if (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
        and ctypes.util.find_library("mvec") and not os.environ.get("HDTWEEDIE_NO_LIBMVEC")):
    define_macros.append(("HDTWEEDIE_LIBMVEC", "1"))
    libraries.append("mvec")

extensions = [
    Extension(
        "hdtweedie._cd",
        ["src/hdtweedie/_cd.pyx"],
        include_dirs=[np.get_include(), "src/hdtweedie"],
        define_macros=define_macros,
        libraries=libraries,
        extra_compile_args=compile_args,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    )
)
