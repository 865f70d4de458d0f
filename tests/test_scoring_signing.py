"""Signed model files: HMAC-SHA256 and Ed25519, and what the plain hash does not protect."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hdtweedie import HDTweedie
from hdtweedie._export import export_model
from hdtweedie.scoring import ModelFileError, content_hash, load_model, sign_model_file

FIXTURE = Path(__file__).parent / "fixtures" / "model_schema_1_0.json"
SECRET = b"a shared secret of 32 bytes here"
RECORD = {"area": "C", "district": "01", "ncd": 2, "age": 40.0}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(0.3 + 0.4 * X[:, 0])) * 1.0
    return HDTweedie(power=1.5, n_lambdas=10).fit(X, y), X


@pytest.fixture()
def copy_of_fixture(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(FIXTURE.read_text())
    return path


def _edit_coefficient(path, rehash=True):
    doc = json.loads(path.read_text())
    feature = doc["features"][0]
    doc["coefficients"][feature] += 0.5
    if rehash:
        doc["sha256"] = content_hash(doc)
    path.write_text(json.dumps(doc, indent=2))
    return feature


def _raw_public(private):
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_the_hash_alone_does_not_detect_a_deliberate_edit(copy_of_fixture):
    before = load_model(copy_of_fixture)
    feature = _edit_coefficient(copy_of_fixture)
    edited = load_model(copy_of_fixture)  # the hash was recomputed: nothing to detect
    assert edited.coefficients[feature] == before.coefficients[feature] + 0.5
    assert not edited.verified


def test_export_with_an_hmac_key_and_verify(tmp_path, fitted):
    est, X = fitted
    path = tmp_path / "signed.json"
    doc = export_model(est, path, X=X, sign_key=SECRET, key_id="pricing-2024")
    assert doc["signature"]["algorithm"] == "hmac-sha256" and doc["signature"]["key_id"] == "pricing-2024"
    assert json.loads(path.read_text()) == doc
    model = load_model(path, key=SECRET)
    assert model.verified and dict(model.signature) == {"algorithm": "hmac-sha256", "key_id": "pricing-2024"}
    assert model.sha256 == content_hash(doc)  # the hash does not cover the signature
    np.testing.assert_allclose(model.predict(X), est.predict(X), rtol=1e-12)
    assert not load_model(path).verified  # without a key the signature is not checked


def test_an_edit_with_the_hash_recomputed_is_refused_with_the_key(tmp_path, fitted):
    est, X = fitted
    path = tmp_path / "signed.json"
    export_model(est, path, X=X, sign_key=SECRET, key_id="k1")
    _edit_coefficient(path)
    with pytest.raises(ModelFileError, match="has a wrong signature \\(key id 'k1'\\): it was signed with "
                                             "another key or changed after signing"):
        load_model(path, key=SECRET)
    export_model(est, path, X=X, sign_key=SECRET)
    with pytest.raises(ModelFileError, match="wrong signature: it was signed"):
        load_model(path, key=b"another secret of enough bytes")


def test_the_signature_covers_its_own_header(copy_of_fixture):
    sign_model_file(copy_of_fixture, SECRET, key_id="k1")
    doc = json.loads(copy_of_fixture.read_text())
    doc["signature"]["key_id"] = "k2"
    copy_of_fixture.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="wrong signature"):
        load_model(copy_of_fixture, key=SECRET)


def test_unsigned_files_are_refused_when_a_key_is_given(copy_of_fixture):
    with pytest.raises(ModelFileError, match="is not signed, but a key was given to verify it"):
        load_model(copy_of_fixture, key=SECRET)


def test_sign_model_file_keeps_the_content_and_replaces_a_signature(copy_of_fixture):
    before = json.loads(copy_of_fixture.read_text())
    signed = sign_model_file(copy_of_fixture, SECRET, key_id="first")
    assert {k: v for k, v in signed.items() if k != "signature"} == before
    sign_model_file(copy_of_fixture, SECRET, key_id="second")
    model = load_model(copy_of_fixture, key=SECRET)
    assert model.signature["key_id"] == "second" and model.sha256 == before["sha256"]
    assert float(model.predict(RECORD)) == float(load_model(FIXTURE).predict(RECORD))
    _edit_coefficient(copy_of_fixture, rehash=False)
    with pytest.raises(ModelFileError, match="failed its integrity check"):
        sign_model_file(copy_of_fixture, SECRET)  # a damaged file is never signed


def test_ed25519_sign_and_verify(copy_of_fixture):
    private = Ed25519PrivateKey.generate()
    sign_model_file(copy_of_fixture, private, key_id="ed-1")
    raw = _raw_public(private)
    for key, algorithm in ((private.public_key(), None), (raw, "ed25519"), (private, None)):
        model = load_model(copy_of_fixture, key=key, algorithm=algorithm)
        assert model.verified and model.signature["algorithm"] == "ed25519"
    with pytest.raises(ModelFileError, match="wrong signature"):
        load_model(copy_of_fixture, key=Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ModelFileError, match="is signed with ed25519, but the key given is for hmac-sha256"):
        load_model(copy_of_fixture, key=SECRET)
    _edit_coefficient(copy_of_fixture)
    with pytest.raises(ModelFileError, match="wrong signature \\(key id 'ed-1'\\)"):
        load_model(copy_of_fixture, key=private.public_key())


def test_export_with_an_ed25519_key(tmp_path, fitted):
    est, X = fitted
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "ed.json"
    export_model(est, path, X=X, sign_key=private)
    assert load_model(path, key=private.public_key()).verified


def test_an_hmac_made_with_the_public_key_does_not_pass_as_ed25519(copy_of_fixture):
    # the public key is public: a file "signed" by HMAC with it must not verify against that key
    private = Ed25519PrivateKey.generate()
    raw = _raw_public(private)
    sign_model_file(copy_of_fixture, raw)
    for key, algorithm in ((private.public_key(), None), (raw, "ed25519")):
        with pytest.raises(ModelFileError, match="signed with hmac-sha256, but the key given is for ed25519"):
            load_model(copy_of_fixture, key=key, algorithm=algorithm)


def test_unusable_keys_are_refused(copy_of_fixture, tmp_path, fitted):
    with pytest.raises(TypeError, match="an HMAC key must be bytes"):
        sign_model_file(copy_of_fixture, "secret as text")
    with pytest.raises(ValueError, match="at least 16 bytes, got 5"):
        sign_model_file(copy_of_fixture, b"short")
    with pytest.raises(TypeError, match="Ed25519 signing needs an Ed25519PrivateKey"):
        sign_model_file(copy_of_fixture, 12345)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        sign_model_file(copy_of_fixture, SECRET, algorithm="md5")
    with pytest.raises(ValueError, match="key_id must be a non-empty string"):
        sign_model_file(copy_of_fixture, SECRET, key_id="")
    assert json.loads(copy_of_fixture.read_text()) == json.loads(FIXTURE.read_text())  # unchanged
    sign_model_file(copy_of_fixture, SECRET)
    with pytest.raises(TypeError, match="key: give bytes \\(HMAC-SHA256\\) or an Ed25519 public key"):
        load_model(copy_of_fixture, key=object(), algorithm="ed25519")
    with pytest.raises(ValueError, match="a raw Ed25519 public key has 32 bytes, got 5"):
        load_model(copy_of_fixture, key=b"12345", algorithm="ed25519")
    est, X = fitted
    with pytest.raises(ValueError, match="key_id='k' was given without sign_key"):
        export_model(est, tmp_path / "m.json", X=X, key_id="k")
    assert not (tmp_path / "m.json").exists()


def test_ed25519_without_cryptography_says_what_to_install(copy_of_fixture):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["cryptography"] = None  # as if the package were not installed
        from hdtweedie.scoring import load_model, sign_model_file
        sign_model_file({str(copy_of_fixture)!r}, b"a shared secret of 32 bytes here")  # HMAC needs nothing
        assert load_model({str(copy_of_fixture)!r}, key=b"a shared secret of 32 bytes here").verified
        try:
            sign_model_file({str(copy_of_fixture)!r}, bytes(32), algorithm="ed25519")
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Ed25519 signatures need the 'cryptography' package: pip install 'hdtweedie[sign]'" in out.stdout
