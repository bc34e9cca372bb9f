"""The Streamlit approval dashboard: where a person reads the evidence and approves, canaries or rolls back a policy.

``dashboard/app.py`` is the entry file (``retailrl dashboard --port P`` runs it on 127.0.0.1). Pages live in
:mod:`dashboard.views` (``st.*`` calls only); :mod:`dashboard.view_models` shapes registry data for them and
:mod:`dashboard.plots` draws the figures, both without Streamlit. Every read and write goes through
:class:`policies.registry.Registry`.
"""
