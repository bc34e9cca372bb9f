"""Synthetic worlds with known truth, for recovery tests.

Each ``make_*`` function draws a world from one seeded :class:`numpy.random.Generator` (same seed, same
tables and parameters) and returns ``(log, truth)``: the log in the canonical schema (validated, see
:mod:`sim_data.schema`) and a dataclass holding the parameters that generated it plus oracle methods.

* :func:`make_click_world` -> (:class:`~sim_data.logs.BanditLog`, :class:`ClickTruth`): a position-based click
  model logged by a uniform or softmax policy with exact propensities. Oracles: ``click_prob``,
  ``logging_action_dist``, ``policy_value`` (the OPE estimand), ``best_action``, ``best_slate``.
* :func:`make_demand_world` -> (:class:`~sim_data.logs.ChoiceLog`, :class:`DemandTruth`): an MNL with a weekly
  demand shock that confounds prices, an observed cost-shifter instrument and a randomized-price slice.
  Oracles: ``choice_probs``, ``elasticities``, ``expected_profit``, ``optimal_prices``.
* :func:`make_stock_log` -> (:class:`~sim_data.logs.StockLog`, :class:`StockTruth`): a base-stock policy under
  Poisson demand with lost sales.
* :func:`make_stock_world` -> (:class:`~sim_data.logs.StockLog`, :class:`StockWorldTruth`): stock-outs that follow
  high demand, Poisson or NB demand with weekday and trend terms, random lead times, lost sales recorded or not.
"""

from sim_data.synthetic.click import ClickTruth, make_click_world
from sim_data.synthetic.demand import DemandTruth, make_demand_world
from sim_data.synthetic.stock import StockTruth, make_stock_log
from sim_data.synthetic.stock_world import StockWorldTruth, make_stock_world

__all__ = ["ClickTruth", "DemandTruth", "StockTruth", "StockWorldTruth", "make_click_world", "make_demand_world",
           "make_stock_log", "make_stock_world"]
