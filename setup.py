"""Build the Cython extension; all metadata lives in pyproject.toml.

The inner loops (``_simd_loops.h``) are compiled for baseline x86-64, x86-64-v3
(AVX2, FMA) and x86-64-v4 (AVX-512) in one portable binary and chosen at import
by CPU features, so no ``-march`` flag is needed.  Environment switches:

``HDTWEEDIE_PORTABLE=1``
    Build only the plain copy of the loops (no per-level copies, no dispatch).
``HDTWEEDIE_NO_LIBMVEC=1``
    Do not link glibc's vector math library (scalar ``exp`` in the loops).
``HDTWEEDIE_NO_OPENMP=1``
    Build without OpenMP threads (``n_threads`` then runs one thread).
"""
import ctypes.util
import os
import platform

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# Vectorise the inner loops (omp simd; without errno, exp vectorises through glibc's
# libmvec) and split the row loops across threads (OpenMP, _par.h).
# HDTWEEDIE_NO_OPENMP=1 builds without the OpenMP runtime (one thread).
compile_args = ["-O3", "-fno-math-errno"]
link_args = []
if os.environ.get("HDTWEEDIE_NO_OPENMP"):
    compile_args.append("-fopenmp-simd")
else:
    compile_args.append("-fopenmp")
    link_args.append("-fopenmp")

define_macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if os.environ.get("HDTWEEDIE_PORTABLE"):
    define_macros.append(("HD_NO_DISPATCH", "1"))
# glibc's vector math library, for exp in the vectorised loops.
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
        depends=["src/hdtweedie/_simd.h", "src/hdtweedie/_simd_loops.h", "src/hdtweedie/_par.h"],
        define_macros=define_macros,
        libraries=libraries,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
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
