"""Files the scorer and the export write: spreadsheet-safe CSV text, whole files or none."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import hdtweedie
from hdtweedie.scoring import content_hash, load_model

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"
# Where this process imported hdtweedie from (src/ in place, site-packages when installed).
SRC = str(Path(hdtweedie.__file__).resolve().parents[1])
HOSTILE = ['=HYPERLINK("http://example.com","x")', "-0.5", "@SUM(A1)", "+1", "-x", "\tTAB", "\rCR", "B"]


def _hostile_model(tmp_path):
    doc = json.loads(FIXTURE.read_text())
    area = next(i for i in doc["inputs"] if i["name"] == "area")
    rename = dict(zip(area["levels"], HOSTILE[:3]))
    area["levels"] = [rename[lv] for lv in area["levels"]] + HOSTILE[3:]
    area["base_level"] = rename[area["base_level"]]
    area["features"] = {rename[lv]: f for lv, f in area["features"].items()}
    for i, lv in enumerate(HOSTILE[3:]):
        feature = f"area=extra{i}"
        area["features"][lv] = feature
        doc["features"].append(feature)
        doc["coefficients"][feature] = 0.01 * i
    area["name"] = "=area"
    doc["sha256"] = content_hash(doc)
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc))
    return load_model(path)


def test_level_text_is_never_a_spreadsheet_formula(tmp_path):
    model = _hostile_model(tmp_path)
    out = tmp_path / "factors.csv"
    rows = model.factor_table(out)
    assert {r["Level"] for r in rows if r["Factor"] == "=area"} == set(HOSTILE)  # the rows keep the text
    with open(out, newline="", encoding="utf-8") as fh:
        read = list(csv.DictReader(fh))
    levels = {r["Level"] for r in read if r["Factor"] == "'=area"}
    assert levels == {"'" + HOSTILE[0], "-0.5", "'@SUM(A1)", "+1", "'-x", "'\tTAB", "'\rCR", "B"}
    assert all(float(r["Relativity"]) > 0 for r in read)


def test_factor_table_writes_with_a_shared_mode(tmp_path):
    out = tmp_path / "factors.csv"
    load_model(FIXTURE).factor_table(out)
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["factors.csv"]


def _run(script, drop_root_override=False):
    """Run ``script`` in a fresh interpreter; as root, without the right to ignore file permissions."""

    def drop():
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: gone after exec
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl")

    preexec = drop if drop_root_override and os.geteuid() == 0 else None
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                         timeout=120, env=env, preexec_fn=preexec)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_a_read_only_directory_raises_and_leaves_no_file(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "model.json").write_text(FIXTURE.read_text())
    folder.chmod(0o555)
    try:
        out = _run(f"""
            import numpy as np
            from hdtweedie import HDTweedie
            from hdtweedie._export import export_model
            from hdtweedie.scoring import load_model, sign_model_file
            folder = {str(folder)!r}
            model = load_model(folder + "/model.json")
            X = np.random.default_rng(0).normal(size=(60, 2))
            est = HDTweedie(n_lambdas=5).fit(X, np.exp(X[:, 0]))
            for label, write in (("factor_table", lambda: model.factor_table(folder + "/f.csv")),
                                 ("export", lambda: export_model(est, folder + "/m.json", X=X)),
                                 ("sign", lambda: sign_model_file(folder + "/model.json", b"k" * 32))):
                try:
                    write()
                except PermissionError:
                    print(label, "refused")
        """, drop_root_override=True)
        assert out.split("\n")[:3] == ["factor_table refused", "export refused", "sign refused"]
        assert sorted(p.name for p in folder.iterdir()) == ["model.json"]
        assert (folder / "model.json").read_text() == FIXTURE.read_text()
    finally:
        folder.chmod(0o755)


def test_a_failure_mid_write_leaves_the_old_file(tmp_path):
    # a file-size limit makes the write fail part-way, as a full disk would
    out = _run(f"""
        import resource, signal
        import numpy as np
        from hdtweedie import HDTweedie
        from hdtweedie._export import export_model
        from hdtweedie.scoring import load_model
        folder = {str(tmp_path)!r}
        X = np.random.default_rng(0).normal(size=(60, 2))
        est = HDTweedie(n_lambdas=5).fit(X, np.exp(X[:, 0]))
        export_model(est, folder + "/m.json", X=X, model_id="first")
        model = load_model({str(FIXTURE)!r})
        model.factor_table(folder + "/f.csv", include_base=False)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, resource.RLIM_INFINITY))
        again = lambda: export_model(est, folder + "/m.json", X=X, model_id="second")  # noqa: E731
        table = lambda: model.factor_table(folder + "/f.csv")  # noqa: E731
        for label, write in (("export", again), ("factor_table", table)):
            try:
                write()
            except OSError as exc:
                print(label, "failed", exc.errno)
    """)
    assert [line.split()[:2] for line in out.strip().split("\n")] == [["export", "failed"],
                                                                      ["factor_table", "failed"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv", "m.json"]
    assert load_model(tmp_path / "m.json").model_id == "first"
    first_row = (tmp_path / "f.csv").read_text().split("\n")[1]
    assert not first_row.startswith("(intercept)")  # the table written before the failure
