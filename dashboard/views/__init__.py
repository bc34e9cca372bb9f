"""The dashboard's pages: each module has ``render(registry, user)`` and holds only ``st.*`` calls.

``PAGES`` maps the navigation label to the page's render function, in menu order.
"""

from dashboard.views import audit, candidates, decisions, overview, review, rollout

PAGES = {
    "Overview": overview.render,
    "Candidates": candidates.render,
    "Review": review.render,
    "Rollout": rollout.render,
    "Decisions": decisions.render,
    "Audit": audit.render,
}
