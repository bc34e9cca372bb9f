"""The fingerprint of a policy artefact (kept here for the registry's callers; it lives in policies.artefacts)."""

from policies.artefacts import artefact_sha256, open_artefact

__all__ = ["artefact_sha256", "open_artefact"]
