"""The HTML sign-off report, read as a user's browser would: sections, images, no network, numbers."""

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from signoff_models import fit_portfolio_model  # noqa: E402

from hdtweedie import inference  # noqa: E402
from hdtweedie.diagnostics import actual_vs_expected, gini  # noqa: E402
from hdtweedie.report import build_report, write_report  # noqa: E402
from hdtweedie.report._stats import SHRUNK_NOTE, model_data  # noqa: E402
from hdtweedie.scoring import load_model  # noqa: E402

SECTIONS = ["card", "coefficients", "tests", "fit", "factors", "ae", "lift"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Sections, images, tables (as lists of rows of cell text) and every attribute of a page."""

    def __init__(self, text):
        super().__init__()
        self.sections, self.images, self.tables, self.attributes, self.tags = [], [], [], [], set()
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += attrs
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "table":
            self.tables.append((self.sections[-1] if self.sections else None, []))
        elif tag == "tr":
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table_in(self, section, first_header):
        for where, rows in self.tables:
            if where == section and rows and rows[0][0] == first_header:
                yield {r[0]: r[1:] for r in rows[1:]}, rows[0]


@pytest.fixture(scope="module")
def relaxed(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    df, path = fit_portfolio_model(root / "relaxed.json", relax=True)
    html = write_report(root / "report.html", path, df, "incurred", "exposure", "benchmark")
    return {"root": root, "df": df, "path": path, "model": load_model(path), "html": html,
            "page": Page(html)}


def number(text):
    return float(text.replace(",", ""))


def test_every_section_is_there(relaxed):
    page = relaxed["page"]
    assert page.sections == SECTIONS
    assert (relaxed["root"] / "report.html").read_text(encoding="utf-8") == relaxed["html"]


def test_self_contained_no_network_no_script(relaxed):
    html, page = relaxed["html"], relaxed["page"]
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert not re.search(r"https?:", html, re.IGNORECASE)
    for name, value in page.attributes:
        if name in ("src", "href"):
            assert value.startswith(("data:image/png;base64,", "#")), value
            assert "//" not in value.split(",")[0]
    assert "@import" not in html and "url(" not in html


def test_images_decode_as_png(relaxed):
    images = relaxed["page"].images
    # 4 factor charts, A/E charts, lift, double lift and Lorenz
    assert len(images) >= 4 + 4 + 3
    for img in images:
        raw = base64.b64decode(img["src"].split(",", 1)[1], validate=True)
        assert raw[:8] == PNG_MAGIC and img["alt"]


def test_model_card(relaxed):
    card = next(relaxed["page"].table_in("card", ""))[0]
    model = relaxed["model"]
    assert card["model id"] == ["motor"] and card["version"] == ["2"]
    assert card["SHA-256"] == [model.sha256]
    assert card["data rows"] == [f"{len(relaxed['df']):,}"]
    assert card["relaxed refit"][0].startswith("yes")
    assert card["lambda chosen by"][0].startswith("cross-validation")
    assert card["data matches the training fingerprint"][0].startswith("yes")
    assert number(card["data exposure"][0]) == pytest.approx(relaxed["df"]["exposure"].sum(), rel=1e-5)


def test_coefficients_equal_the_inference_table(relaxed):
    model, df = relaxed["model"], relaxed["df"]
    data = model_data(model, df, "incurred", "exposure")
    owner = {f: f.split("=")[0] for f in model.feature_names}
    fit = inference.unpenalised_fit(data.X, data.y, None, data.offset, power=model.power,
                                    intercept=model.intercept, coef=model.coef, active=model.coef != 0,
                                    feature_names=list(model.feature_names),
                                    groups=[owner[f] for f in model.feature_names])
    expected = inference.coef_table(fit)
    shown, header = next(relaxed["page"].table_in("coefficients", "feature"))
    assert list(shown) == list(expected.index)
    for column in ("coef", "se", "ci_lower", "ci_upper", "relativity_lower", "relativity_upper"):
        j = header.index(column) - 1
        got = [number(shown[f][j]) for f in expected.index]
        np.testing.assert_allclose(got, expected[column], rtol=6e-4)
    tests, header = next(relaxed["page"].table_in("tests", "factor"))
    factor_tests = inference.factor_tests(fit)
    assert list(tests) == list(factor_tests.index)
    j = header.index("wald_statistic") - 1
    np.testing.assert_allclose([number(tests[f][j]) for f in factor_tests.index],
                               factor_tests["wald_statistic"], rtol=6e-4)
    stats = next(relaxed["page"].table_in("fit", ""))[0]
    assert number(stats["deviance"][0]) == pytest.approx(inference.fit_statistics(fit)["deviance"], rel=1e-5)


def test_ae_for_every_column_equals_the_diagnostics(relaxed):
    model, df = relaxed["model"], relaxed["df"]
    html = relaxed["html"]
    for column in ["area", "conviction", "vehicle_colour", "vehicle_value"]:
        assert f"<h3>{column} " in html
    assert "<h3>policy_id " not in html and "policy_id (" in html  # left out, with the reason
    assert "<h3>benchmark " not in html and "<h3>exposure " not in html
    expected = np.asarray(model.predict(df, exposure="exposure"))
    ae = actual_vs_expected(df, "conviction", df["incurred"].to_numpy(), expected, df["exposure"].to_numpy(),
                            power=model.power)
    shown, header = next(relaxed["page"].table_in("ae", "conviction"))
    j = header.index("ae") - 1
    np.testing.assert_allclose([number(shown[str(lv)][j]) for lv in ae.index], ae["ae"], rtol=6e-4)


def test_gini_equals_the_diagnostics(relaxed):
    model, df = relaxed["model"], relaxed["df"]
    expected = np.asarray(model.predict(df, exposure="exposure"))
    g = gini(df["incurred"].to_numpy(), expected, df["exposure"].to_numpy())
    found = re.search(r"<p>Gini: ([-0-9.e]+)</p>", relaxed["html"])
    assert float(found.group(1)) == pytest.approx(g, rel=1e-3)
    assert "Double lift against the benchmark" in relaxed["html"]


def test_penalised_file_leaves_standard_errors_out(tmp_path):
    df, path = fit_portfolio_model(tmp_path / "lasso.json", relax=False, n=2000, seed=2)
    html = build_report(path, df, "incurred", "exposure")
    page = Page(html)
    assert page.sections == SECTIONS
    assert SHRUNK_NOTE in html
    shown, header = next(page.table_in("coefficients", "term"))
    assert header == ["term", "coef", "relativity"] and "se" not in header
    assert "Double lift" not in html


def test_other_data_is_not_the_training_data(relaxed):
    df = relaxed["df"].iloc[: len(relaxed["df"]) // 2]
    html = build_report(relaxed["path"], df, "incurred", "exposure")
    card = next(Page(html).table_in("card", ""))[0]
    assert card["data matches the training fingerprint"][0].startswith("no")
    assert "Standard errors and tests were not computed on this data" in html


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"response": "loss"}, ValueError, "response: no column 'loss'"),
    ({"exposure": "years"}, ValueError, "exposure: no column 'years'"),
    ({"benchmark": "area"}, (ValueError, TypeError), "benchmark"),
    ({"confidence_level": 1.5}, ValueError, "confidence_level"),
])
def test_bad_arguments_write_nothing(relaxed, tmp_path, kwargs, error, fragment):
    out = tmp_path / "r.html"
    out.write_text("old")
    args = {"response": "incurred", "exposure": "exposure", **kwargs}
    with pytest.raises(error, match=fragment):
        write_report(out, relaxed["path"], relaxed["df"], **args)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_rows_the_model_cannot_encode_are_named(relaxed):
    df = relaxed["df"].copy()
    df.loc[3, "area"] = "Z"
    with pytest.raises(ValueError, match="'area' has level"):
        build_report(relaxed["path"], df, "incurred", "exposure")
    with pytest.raises(TypeError, match="data must be a DataFrame"):
        build_report(relaxed["path"], df.to_dict("records"), "incurred")


def test_an_unpenalised_glm_file_gets_standard_errors(tmp_path):
    from hdtweedie._encoder import FactorEncoder
    from hdtweedie._glm import TweedieGLM
    from hdtweedie.datasets import make_motor_portfolio

    df = make_motor_portfolio(n=2000, random_state=4)
    encoder = FactorEncoder(factors=["area", "driver_age"])
    X = encoder.fit_transform(df[["area", "driver_age"]])
    glm = TweedieGLM(power=1.5).fit(X, df["incurred"], offset=np.log(df["exposure"]))
    path = tmp_path / "glm.json"
    glm.export(path, model_id="glm", version="1", encoder=encoder)
    html = build_report(path, df, "incurred", "exposure")
    card = next(Page(html).table_in("card", ""))[0]
    assert card["lambda chosen by"] == ["none: an unpenalised GLM"]
    shown, header = next(Page(html).table_in("coefficients", "feature"))
    expected = glm.coef_table(X, df["incurred"], offset=np.log(df["exposure"]))
    j = header.index("se") - 1
    assert len(shown) == len(expected)  # the estimator names its columns x0, x1, ...
    np.testing.assert_allclose([number(row[j]) for row in shown.values()], expected["se"], rtol=6e-4)


def test_text_from_the_data_is_escaped(relaxed):
    odd = np.arange(len(relaxed["df"])) % 2 == 1
    df = relaxed["df"].assign(channel=np.where(odd, "<b>web</b>", "broker & co"))
    html = build_report(relaxed["path"], df, "incurred", "exposure")
    assert "<b>web</b>" not in html and "&lt;b&gt;web&lt;/b&gt;" in html and "broker &amp; co" in html
    assert Page(html).sections == SECTIONS
