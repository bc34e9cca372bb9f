"""Pure functions that shape registry data for the pages (no Streamlit here; unit-tested on their own).

:mod:`.evidence` (OPE estimates, diagnostics in plain language, simulator results, training curves),
:mod:`.actions` (which buttons a user may press, and why not), :mod:`.online` (online reward, join rate,
fallbacks), :mod:`.tables` (traffic, versions, approvals, audit rows).
"""
