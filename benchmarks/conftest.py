"""pytest configuration for the benchmark suites.

Run from the project root with::

    pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results.json

``--benchmark-only`` overrides the project's default ``--benchmark-skip``;
the plain ``pytest`` run never collects this folder (``testpaths = tests``).
"""

import os

# One BLAS/OpenMP thread per process: the comparisons are single-threaded, and
# parallelism is measured only through ``n_jobs`` in the CV benchmarks.  These
# must be set before numpy, scipy or glum load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402

import pytest  # noqa: E402
import report  # noqa: E402


def pytest_collect_file(file_path, parent):
    # Benchmark modules are named bench_*.py, which pytest's default pattern
    # (test_*.py) does not collect.
    # A file named on the command line is collected by pytest itself.
    if parent.session.isinitpath(file_path):
        return None
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(autouse=True)
def _single_thread():
    """Limit native thread pools to one thread for the duration of a test."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment variables above still apply
        yield
        return
    with threadpool_limits(limits=1):
        yield


# Paths first (they fix the lambda grids), then CV, then memory; other
# modules keep their place after these.
_ORDER = {"bench_path.py": 0, "bench_cv.py": 1, "bench_memory.py": 2}
_LOAD_AT_START = []


def pytest_configure(config):
    _LOAD_AT_START[:] = list(os.getloadavg())


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: _ORDER.get(item.path.name, len(_ORDER)))


@pytest.fixture(scope="session")
def warm_solvers():
    """Run each solver once on a small problem before anything is timed."""
    import _fits

    _fits.warm_up()


def pytest_benchmark_update_machine_info(config, machine_info):
    info = report.machine_description()
    # Other work on the machine shows up here; timings are only as quiet as this.
    info["load_average_start"] = _LOAD_AT_START
    info["load_average_end"] = list(os.getloadavg())
    machine_info["hdtweedie_bench"] = info


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    bench_session = getattr(config, "_benchmarksession", None)
    if bench_session is None or not getattr(bench_session, "benchmarks", None):
        return
    records = []
    for bench in bench_session.benchmarks:
        stats = getattr(bench, "stats", None)
        if stats is None or not bench.extra_info.get("problem"):
            continue
        records.append(
            {
                "name": bench.name,
                "extra_info": dict(bench.extra_info),
                "stats": {"median": stats.median, "min": stats.min, "rounds": stats.rounds},
            }
        )
    if records:
        terminalreporter.write_sep("=", "hdtweedie vs glum")
        terminalreporter.write_line(report.format_tables(records, machine_info=None))
        terminalreporter.write_line(f"(python {platform.python_version()})")
