"""The models a service scores with: by ``id@version``, by hash, and the default."""

from __future__ import annotations

from ..scoring import ScoringModel, load_model


def model_label(model: ScoringModel) -> str:
    """``id@version`` of a model."""
    return f"{model.model_id}@{model.version}"


class UnknownModel(LookupError):
    """A request named a model the service does not have."""


class Registry:
    """Loaded production models (the first is the default) and an optional shadow model.

    Parameters
    ----------
    paths : sequence of str
        Model files.
    shadow : str, optional
        Candidate model file.

    Raises
    ------
    ValueError
        If two files carry the same ``id@version`` with different content.
    """

    def __init__(self, paths, shadow: str | None = None):
        self.models = [load_model(p) for p in paths]
        self.shadow = load_model(shadow) if shadow else None
        self._by_label: dict = {}
        self.by_hash = {}
        for m in self.models:
            old = self._by_label.setdefault(model_label(m), m)
            if old.sha256 != m.sha256:
                raise ValueError(f"models: {old.source!r} and {m.source!r} are both {model_label(m)} "
                                 "but differ")
            self._by_label.setdefault(m.model_id, m)
        for m in [*self.models, *([self.shadow] if self.shadow else [])]:
            self.by_hash.setdefault(m.sha256, m)
        self.default = self.models[0]

    def resolve(self, name: str | None) -> ScoringModel:
        """The model for a request's ``model`` field.

        Parameters
        ----------
        name : str or None
            ``id@version``, ``id`` (the first loaded version of that id), or None (the default).

        Returns
        -------
        ScoringModel

        Raises
        ------
        UnknownModel
            If no loaded model has that name.
        """
        if name is None:
            return self.default
        try:
            return self._by_label[name]
        except KeyError:
            have = ", ".join(model_label(m) for m in self.models)
            raise UnknownModel(f"model {name!r} is not loaded; this service has {have}") from None

    def describe(self) -> list:
        """One entry per model: id, version, hash, default and shadow flags, required inputs.

        Returns
        -------
        list of dict
        """
        rows = [_entry(m, m is self.default, False) for m in self.models]
        if self.shadow is not None:
            rows.append(_entry(self.shadow, False, True))
        return rows


def _entry(m: ScoringModel, default: bool, shadow: bool) -> dict:
    return {"model_id": m.model_id, "version": m.version, "model_hash": m.sha256, "default": default,
            "shadow": shadow, "inputs": list(m.input_names), "required_inputs": list(m.required_inputs)}
