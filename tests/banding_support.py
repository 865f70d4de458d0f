"""A small motor portfolio with a numeric driver age, sparse vehicle groups and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline

from hdtweedie import FactorEncoder, HDTweedie
from hdtweedie.scoring import load_model


def motor_frame(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows of (driver_age, vehicle_group, colour), exposure and a Tweedie-like response."""
    rng = np.random.default_rng(seed)
    share = np.array([30, 25, 20, 12, 8, 2, 1.5, 1, 0.5])
    df = pd.DataFrame({
        "driver_age": rng.integers(17, 90, n).astype(float),
        "vehicle_group": rng.choice([str(g) for g in range(1, 10)], n, p=share / share.sum()),
        "colour": rng.choice(["Black", "Blue", "Grey", "Pink", "Teal"], n, p=[0.4, 0.3, 0.25, 0.03, 0.02]),
    })
    exposure = rng.uniform(0.2, 1.0, n)
    eta = -1.0 + 0.6 * (df["driver_age"] < 25) + 0.05 * df["vehicle_group"].astype(int)
    y = rng.poisson(exposure * np.exp(eta)) * rng.gamma(2.0, 0.5, n)
    return df, exposure, np.asarray(y, dtype=float)


def fit_and_load(encoder: FactorEncoder, df: pd.DataFrame, exposure: np.ndarray, y: np.ndarray, path):
    """Fit ``Pipeline(encoder, HDTweedie)``, export it to ``path`` and load it back."""
    pipe = make_pipeline(encoder.set_output(transform="pandas"),
                         HDTweedie(power=1.5, groups="factor", n_lambdas=20))
    pipe.fit(df, y, factorencoder__sample_weight=exposure, hdtweedie__offset=np.log(exposure))
    pipe[-1].export(path, encoder=encoder)
    return pipe, load_model(path)


def assert_same_predictions(pipe, model, df: pd.DataFrame) -> None:
    """The model file scores ``df`` as the fitted pipeline does, to 1e-12 relative."""
    in_memory = pipe.predict(df, offset=0)
    exported = np.asarray(model.predict(df, warn=False), dtype=float)
    np.testing.assert_allclose(exported, in_memory, rtol=1e-12, atol=0)
