"""Library modules behind the command line: tables, column choice and the portfolio fit."""

import gzip

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from hdtweedie.datasets import make_motor_portfolio  # noqa: E402
from hdtweedie.portfolio import choose_columns, fit_portfolio, selection_summary  # noqa: E402
from hdtweedie.tables import read_table, refuse_same_file, write_table  # noqa: E402


def test_read_table_keeps_codes_as_text_and_numbers_as_numbers(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("code,n,x,label\n01,1,0.5,NA\n02,2,1.5,b\n,3,2.5,\n")
    df = read_table(path, text_columns=["label"])
    assert list(df["code"].iloc[:2]) == ["01", "02"] and pd.isna(df["code"].iloc[2])
    assert df["n"].dtype.kind == "i" and df["x"].dtype.kind == "f"
    assert list(df["label"].iloc[:2]) == ["NA", "b"]  # only an empty cell is missing
    assert pd.isna(df["label"].iloc[2])


@pytest.mark.parametrize("name, content, fragment", [
    ("bad.csv.gz", b"\x1f\x8b\x08\x00garbage", "cannot read"),
    ("bin.csv", bytes(range(256)) * 8, "cannot read"),
    ("empty.csv", b"", "is empty"),
    ("header.csv", b"a,b\n", "no data rows"),
    ("t.xlsx", b"a\n1\n", "cannot tell the format"),
])
def test_read_table_errors_name_the_file(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=fragment) as exc:
        read_table(path)
    assert name in str(exc.value)


def test_write_table_is_whole_or_nothing(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "out.parquet"
    write_table(pd.DataFrame({"a": [1, 2]}), out)
    before = out.read_bytes()
    mixed = pd.DataFrame({"a": [1, "x", 2.5, object()]})  # pyarrow fails part-way
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        write_table(mixed, out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    gz = tmp_path / "out.csv.gz"
    write_table(pd.DataFrame({"a": ["01"]}), gz)
    assert gzip.open(gz, "rt").read() == "a\n01\n"


def test_refuse_same_file_through_a_link(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    link = tmp_path / "l.csv"
    link.symlink_to(data)
    with pytest.raises(ValueError, match="is the input file"):
        refuse_same_file(link, [data])
    refuse_same_file(tmp_path / "new.csv", [data])


def test_choose_columns_leaves_out_identifiers_and_derived_columns():
    df = make_motor_portfolio(n=2000, random_state=5)
    df["row"] = np.arange(len(df)) + 100          # a distinct whole number per row
    df["PolicyRef"] = [f"P{i}" for i in range(len(df))]
    df["loss_copy"] = df["incurred"] * 2.0 + 1.0  # rank-correlated with the response
    df["constant"] = "x"
    choice = choose_columns(df, response="incurred", exposure="exposure")
    assert set(choice.left_out) == {"policy_id", "claim_count", "pure_premium", "row", "PolicyRef",
                                    "loss_copy", "constant"}
    assert "rank correlation" in choice.left_out["loss_copy"]
    assert choice.numeric == () and "area" in choice.factors
    chosen = choose_columns(df, response="incurred", factors=["area"], numeric=["claim_count"])
    assert chosen.factors == ("area",) and chosen.numeric == ("claim_count",)
    assert any("claim_count" in w for w in chosen.warnings)


def test_fit_portfolio_does_not_change_the_table():
    df = make_motor_portfolio(n=1500, random_state=6)
    before = df.copy()
    fit = fit_portfolio(df, response="incurred", factors=["area", "conviction"], exposure="exposure",
                        folds=3)
    pd.testing.assert_frame_equal(df, before)
    summary = selection_summary(fit.cv)
    assert set(summary["selected"]) | set(summary["dropped"]) == {"area", "conviction"}
    assert fit.rows == 1500 and fit.columns == 5
