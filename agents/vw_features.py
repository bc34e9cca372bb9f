"""The VW ADF text format, now in :mod:`policies.vw_text` (shared by the learner here and the serving form in
:mod:`policies.vw_policy`); re-exported for existing imports."""

from policies.vw_text import (
    ACTION_FEATURE_NAMESPACE,
    ACTION_NAMESPACE,
    CONTEXT_NAMESPACE,
    POSITION_NAMESPACE,
    ADFFormatter,
    default_interactions,
    feature_strings,
    feature_table,
)

__all__ = ["ACTION_FEATURE_NAMESPACE", "ACTION_NAMESPACE", "CONTEXT_NAMESPACE", "POSITION_NAMESPACE", "ADFFormatter",
           "default_interactions", "feature_strings", "feature_table"]
