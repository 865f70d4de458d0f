"""``hdtweedie profile-power`` and ``hdtweedie fit --power auto|list``, run in this process."""

import contextlib
import io
import re
import subprocess

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie import cli, profile_power, tweedie  # noqa: E402
from hdtweedie._encoder import FactorEncoder  # noqa: E402
from hdtweedie._power_cv import DEFAULT_POWERS  # noqa: E402
from hdtweedie.cli._main import build_parser  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402


def invoke(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def one_line_error(proc, fragment, code):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hdtweedie: error: "), proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A portfolio simulated at power 1.3: two factors, exposure, incurred."""
    rng = np.random.default_rng(0)
    n = 1500
    area = rng.choice(list("ABC"), n)
    age = rng.choice(["young", "mid", "old"], n)
    exposure = rng.uniform(0.3, 1.0, n)
    mu = exposure * 200 * np.exp(np.select([area == "B", area == "C"], [0.3, -0.2], 0.0)
                                 + np.where(age == "young", 0.5, 0.0))
    df = pd.DataFrame({"area": area, "age": age, "exposure": exposure,
                       "incurred": tweedie.rvs(mu, 60.0, 1.3, random_state=1)})
    root = tmp_path_factory.mktemp("power")
    path = root / "portfolio.csv"
    df.to_csv(path, index=False)
    return root, path, df


def test_profile_power_prints_the_profile_and_draws_it(table):
    root, data, df = table
    plot = root / "sub" / "profile.png"
    proc = invoke("profile-power", data, "--response", "incurred", "--exposure", "exposure",
                  "--factors", "area,age", "--powers", "1.1,1.2,1.3,1.4,1.5,1.7", "--plot", plot)
    assert proc.returncode == 0, proc.stderr
    enc = FactorEncoder(factors=["area", "age"])
    X = enc.fit_transform(df[["area", "age"]], sample_weight=df["exposure"].to_numpy())
    expected = profile_power(X, df["incurred"].to_numpy(), [1.1, 1.2, 1.3, 1.4, 1.5, 1.7],
                             offset=np.log(df["exposure"].to_numpy()))
    out = proc.stdout
    best = re.search(r"best power: ([0-9.]+)   dispersion: ([0-9.e+-]+)", out)
    assert float(best.group(1)) == pytest.approx(expected.power, abs=1e-4)
    assert float(best.group(2)) == pytest.approx(expected.dispersion, rel=1e-5)
    assert abs(expected.power - 1.3) < 0.1
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+1\.\d{4}\s", line)]
    assert [float(r[0]) for r in rows] == pytest.approx(list(expected.powers), abs=1e-4)
    assert [float(r[1]) for r in rows] == pytest.approx(list(expected.loglik), abs=1e-3)
    assert sum("<- best" in line for line in out.splitlines()) == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_profile_power_default_grid_and_inferred_columns(table):
    _, data, _ = table
    proc = invoke("profile-power", data, "--response", "incurred", "--exposure", "exposure", "-q")
    assert proc.returncode == 0, proc.stderr
    shown = [float(line.split()[0]) for line in proc.stdout.splitlines()
             if re.match(r"\s+1\.\d{4}\s", line)]
    assert set(DEFAULT_POWERS) <= {round(p, 4) for p in shown}


@pytest.mark.parametrize("argv, fragment, code", [
    (["--powers", "1.2,x"], "--powers must be numbers", 2),
    (["--powers", "1.0,1.5"], "powers must be finite and in (1, 2]", 1),
    (["--plot", "profile.jpg"], "--plot must name a .png file", 1),
    (["--factors", "nope"], "nope", 1),
])
def test_profile_power_errors(table, argv, fragment, code):
    _, data, _ = table
    one_line_error(invoke("profile-power", data, "--response", "incurred", *argv), fragment, code)


def test_profile_power_refuses_to_draw_over_the_data(table):
    _, data, _ = table
    one_line_error(invoke("profile-power", data, "--response", "incurred", "--plot", data),
                   "--plot", 1)


def test_fit_with_a_list_of_powers_prints_and_exports_the_chosen_one(table):
    root, data, _ = table
    out = root / "chosen.json"
    proc = invoke("fit", data, "--response", "incurred", "--exposure", "exposure", "--factors",
                  "area,age", "--power", "1.3,1.8", "--folds", "3", "--out", out)
    assert proc.returncode == 0, proc.stderr
    chosen = re.search(r"chosen power: ([0-9.]+) \(of 1.3, 1.8", proc.stdout)
    assert chosen and float(chosen.group(1)) == 1.3
    assert re.search(r"dispersion phi \(maximum likelihood\): [0-9.e+-]+", proc.stdout)
    assert "CV minus log-likelihood per row" in proc.stdout
    model = load_model(out)
    assert model.power == 1.3 and model.dispersion > 0
    assert model.prob_zero({"area": "A", "age": "mid"}, exposure=1.0)[0] > 0


def test_fit_auto_and_list_parse():
    parse = build_parser().parse_args
    base = ["fit", "d.csv", "--response", "y", "--out", "m.json"]
    assert parse(base + ["--power", "auto"]).power == "auto"
    assert parse(base + ["--power", "1.3,1.5,1.7"]).power == [1.3, 1.5, 1.7]
    assert parse(base + ["--power", "1.5"]).power == 1.5
    assert parse(base).power == 1.5


@pytest.mark.parametrize("value, fragment", [
    ("1.3,1.3", "distinct"), ("1.0,1.5", "in (1, 2]"), ("2.5", "--power must be in [1, 2]"),
    ("fast", "--power must be numbers"), ("1.3,", "--power must be numbers"), ("nan", "[1, 2]"),
])
def test_fit_bad_power_is_one_usage_line(table, value, fragment):
    _, data, _ = table
    one_line_error(invoke("fit", data, "--response", "incurred", "--power", value, "--out", "m.json"),
                   fragment, 2)
