"""The ``retailrl`` command: one sub-app per command group, each in its own module of this package.

Heavy libraries are imported inside the commands, so ``retailrl --help`` stays fast.
"""

from __future__ import annotations

import typer

from retailrl.cli import bench, dashboard, data, demo, loop, ope, registry, serve, sim, train

app = typer.Typer(
    name="retailrl",
    help="Reinforcement-learning marketing and pricing optimizer for online shops.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data", help="Load, fetch, validate, describe and export logged data.")
app.add_typer(sim.app, name="sim", help="Fit the shopper simulator from logs and report its fidelity.")
app.add_typer(ope.app, name="ope", help="Off-policy evaluation of a policy on logged data.")
app.add_typer(registry.app, name="registry", help="Policy registry: versions, approvals, rollouts, audit log.")
app.add_typer(bench.app, name="bench", help="Benchmarks: simulator speed and decision quality.")
app.command("train", help="Train a policy on the simulator from a config file.")(train.train)
app.command("serve", help="Start the bandit decision API.")(serve.serve)
app.command("learner", help="Run the online learner that turns joined logs into candidate versions.")(serve.learner)
app.command("dashboard", help="Start the Streamlit approval dashboard on 127.0.0.1.")(dashboard.dashboard)
app.command("loop", help="A shop's own logs through the loop: fit, train, evaluate, register.")(loop.loop)
app.command("demo", help="Run the main job end to end on the embedded default data.")(demo.demo)


if __name__ == "__main__":
    app()
