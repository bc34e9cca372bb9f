"""Behaviour models fit from logged data: clicks on ad slots, purchase choices, shopper arrivals, censored demand
from stock logs.

Every model shares :class:`~envs.models.base.BehaviourModel`'s interface: ``fit(log)``, ``evaluate(log)``
(held-out statistics against a baseline), ``report()``, ``to_params()`` (the :mod:`envs.params` objects the
environments consume), ``save(dir)`` and ``load(path)``.
"""

from envs.models.arrivals import ArrivalModel
from envs.models.base import BehaviourModel, NotFittedError, load_model
from envs.models.choice import ChoiceModel
from envs.models.choice_data import choice_arrays, split_by_time
from envs.models.click import ClickModel
from envs.models.stock_demand import StockDemandModel

__all__ = ["ArrivalModel", "BehaviourModel", "ChoiceModel", "ClickModel", "NotFittedError", "choice_arrays",
           "StockDemandModel", "load_model", "split_by_time"]
