"""A training run's configuration: a TOML file (``configs/NAME.toml``) read into validated dataclasses.

Layout of a config file (every section but ``[env]`` and ``[algo]`` is optional; unknown keys are refused)::

    name = "pricing_ppo"            # run name (runs/<name>-s<seed>-<time>/)
    out = "runs"                    # where run directories go

    [env]
    id = "retailrl/Pricing-v0"      # a gymnasium id registered by `import envs`
    n_envs = 8                      # native vector env (vector_entry_point) seen by SB3 through SB3VecEnv
    backend = "numpy"               # numpy, or torch (AdAllocation/Pricing: the env steps on the run's device)
    sim_dir = "fits/scanner"        # optional: a fitted simulator; its params.json sections feed the env
    [env.kwargs]                    # keyword arguments of the env (action_type, horizon, budget, ...)
    action_type = "discrete"
    [env.params.inventory]          # optional explicit parameters, one table per params.json section
    demand_mean = 10.0

    [algo]
    name = "PPO"                    # PPO, A2C, DQN, SAC, TD3, MaskablePPO
    policy = "MlpPolicy"
    [algo.hyperparams]              # the algorithm's constructor arguments
    n_steps = 256

    [train]
    steps = 200_000                 # total env steps
    seed = 0
    device = "auto"                 # auto (CPU for MLP policies), cpu, cuda, cuda:N
    torch_threads = 1
    checkpoint_every = 50_000       # env steps between checkpoints (0: none)
    normalize_obs = true            # VecNormalize; its statistics are saved beside the model
    normalize_reward = true

    [eval]
    n_seeds = 30                    # held-out evaluation episodes, seeds first_seed .. first_seed + n_seeds - 1
    first_seed = 10_000
    deterministic = true

    [register]                      # register the exported policy as a candidate version
    enabled = false
    decision_point = "pricing"
    policy = "pricing-ppo"
    db = ""                         # "" : DATABASE_URL, else registry.db in the data directory

    [tune]                          # `retailrl train --tune`: Ray Tune sweep
    num_samples = 4
    seeds = [0, 1, 2]
    metric = "eval_mean"
    mode = "max"
    [tune.search]
    learning_rate = { loguniform = [1e-4, 1e-3] }
    n_steps = { choice = [128, 256] }

Command-line flags override fields with :meth:`RunConfig.with_overrides`.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import envs
from agents.sb3_algos import SCHEDULED, get_algorithm, linear_schedule

PARAM_SECTIONS: dict[str, dict[str, str]] = {
    # env id -> {params.json section: env keyword argument}
    "retailrl/Pricing-v0": {"demand": "demand", "bernoulli_demand": "demand"},
    "retailrl/Inventory-v0": {"inventory": "params", "demand": "demand"},
    "retailrl/AdAllocation-v0": {"click": "params"},
}
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("numpy", "torch")
TORCH_ENV_IDS = frozenset({"retailrl/AdAllocation-v0", "retailrl/Pricing-v0"})  # envs.torch_factory's ids
SEARCH_KINDS = ("choice", "uniform", "loguniform", "randint", "grid")


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise _fail(where, f"expected a table, found {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; expected some of {sorted(allowed)}")


def _int(where: str, value: Any, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"expected a whole number, found {value!r}")
    if low is not None and value < low:
        raise _fail(where, f"expected >= {low}, found {value}")
    return value


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, found {value!r}")
    return value


def _str(where: str, value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value):
        raise _fail(where, f"expected a {'string' if empty_ok else 'non-empty string'}, found {value!r}")
    return value


@dataclass
class EnvConfig:
    """Which environment, how many copies, and its parameters.

    :param id: a registered id (``retailrl/Pricing-v0``, ``retailrl/Inventory-v0``, ``retailrl/AdAllocation-v0``).
    :param n_envs: sub-environments of the native vector env used for training, >= 1.
    :param kwargs: the env's keyword arguments (``action_type``, ``horizon``, ``budget``, ``action_mode`` ...).
    :param params: explicit parameter sections, e.g. ``{"inventory": {"demand_mean": 10.0, ...}}``.
    :param sim_dir: a fitted simulator directory (``params.json``); its sections fill what ``params`` lacks.
    :param backend: ``numpy`` (the native vector env) or ``torch`` (``envs.torch_factory``: the env steps as
        tensors on the run's device, e.g. a GPU with ``device = "cuda"``; AdAllocation and Pricing only).
    """

    id: str
    n_envs: int = 8
    kwargs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sim_dir: str | None = None
    backend: str = "numpy"

    def validate(self) -> None:
        if self.id not in envs.ENV_IDS:
            raise _fail("env.id", f"expected one of {sorted(envs.ENV_IDS)}, found {self.id!r}")
        _int("env.n_envs", self.n_envs, 1)
        if self.backend not in BACKENDS:
            raise _fail("env.backend", f"expected one of {BACKENDS}, found {self.backend!r}")
        if self.backend == "torch" and self.id not in TORCH_ENV_IDS:
            raise _fail("env.backend", f"'torch' exists for {sorted(TORCH_ENV_IDS)} only, not {self.id!r}; "
                                       "use backend = \"numpy\"")
        if not isinstance(self.kwargs, dict):
            raise _fail("env.kwargs", f"expected a table, found {type(self.kwargs).__name__}")
        sections = PARAM_SECTIONS[self.id]
        _check_keys("env.params", self.params, set(sections))
        targets = [sections[s] for s in self.params]
        if len(targets) != len(set(targets)):
            raise _fail("env.params", f"sections {sorted(self.params)} set the same env argument; give one of them")
        for section, table in self.params.items():
            if not isinstance(table, dict):
                raise _fail(f"env.params.{section}", f"expected a table, found {type(table).__name__}")
        clash = sorted(set(targets) & set(self.kwargs))
        if clash:
            raise _fail("env.kwargs", f"{clash} are set by [env.params] (or sim_dir); give them there only")
        if self.sim_dir is not None:
            _str("env.sim_dir", self.sim_dir)


@dataclass
class EvalConfig:
    """Evaluation on held-out seeds: episode i is ``reset(seed=first_seed + i)`` of a fresh scalar env.

    :param n_seeds: episodes (>= 2: the 95% interval needs a spread).
    :param first_seed: the first evaluation seed; the range must not hold the training seed.
    :param deterministic: act by the policy's mode (argmax / mean) rather than sampling.
    """

    n_seeds: int = 30
    first_seed: int = 10_000
    deterministic: bool = True

    @property
    def seeds(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.n_seeds))


@dataclass
class RegisterConfig:
    """Where to register the exported policy (a candidate version) after training.

    :param enabled: register when True (``--register`` / ``--no-register``).
    :param decision_point: the registry decision point (it must exist).
    :param policy: the policy name its versions are numbered under.
    :param db: database URL; ``""``: ``DATABASE_URL``, else ``registry.db`` in the data directory.
    """

    enabled: bool = False
    decision_point: str = ""
    policy: str = ""
    db: str = ""


@dataclass
class TuneConfig:
    """A Ray Tune sweep: ``num_samples`` draws from ``search``, each trained with every seed in ``seeds``.

    :param search: ``{hyperparameter: {kind: args}}`` with kind ``choice`` (list), ``uniform``/``loguniform``
        (``[low, high]``), ``randint`` (``[low, high)``) or ``grid`` (list, every value tried).
    :param metric: the reported metric to rank trials by (``eval_mean``).
    :param mode: ``max`` or ``min``.
    :param cpus_per_trial: CPUs Ray reserves per trial.
    """

    num_samples: int = 1
    seeds: list[int] = field(default_factory=lambda: [0])
    metric: str = "eval_mean"
    mode: str = "max"
    cpus_per_trial: float = 1.0
    search: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        _int("tune.num_samples", self.num_samples, 1)
        if not isinstance(self.seeds, list) or not self.seeds:
            raise _fail("tune.seeds", f"expected a non-empty list of whole numbers, found {self.seeds!r}")
        for s in self.seeds:
            _int("tune.seeds", s, 0)
        if len(set(self.seeds)) != len(self.seeds):
            raise _fail("tune.seeds", f"expected distinct seeds, found {self.seeds}")
        if self.mode not in ("max", "min"):
            raise _fail("tune.mode", f"expected 'max' or 'min', found {self.mode!r}")
        _str("tune.metric", self.metric)
        if isinstance(self.cpus_per_trial, bool) or not isinstance(self.cpus_per_trial, int | float) \
                or not self.cpus_per_trial > 0:
            raise _fail("tune.cpus_per_trial", f"expected a number > 0, found {self.cpus_per_trial!r}")
        if not isinstance(self.search, dict):
            raise _fail("tune.search", f"expected a table, found {type(self.search).__name__}")
        for name, spec in self.search.items():
            where = f"tune.search.{name}"
            if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in SEARCH_KINDS:
                raise _fail(where, f"expected one of {{{', '.join(k + ' = ...' for k in SEARCH_KINDS)}}}, found {spec!r}")
            kind, args = next(iter(spec.items()))
            if not isinstance(args, list) or not args:
                raise _fail(where, f"{kind}: expected a non-empty list, found {args!r}")
            if kind in ("uniform", "loguniform", "randint"):
                if len(args) != 2 or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args) \
                        or not args[0] < args[1]:
                    raise _fail(where, f"{kind}: expected [low, high] with low < high, found {args!r}")
                if kind == "loguniform" and args[0] <= 0:
                    raise _fail(where, f"loguniform: expected low > 0, found {args[0]}")



SHIPPED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def resolve_config(path: str | Path) -> Path:
    """The config file ``path`` names: the file itself when it exists, else the shipped config of that name.

    So ``--config configs/pricing_ppo.toml`` (or ``pricing_ppo.toml``, or ``pricing_ppo``) works from any
    directory; a file of the same name in the working directory wins.

    :raises FileNotFoundError: naming the path and the shipped configs.
    """
    path = Path(path)
    if path.is_file():
        return path
    name = path.name if path.suffix == ".toml" else f"{path.name}.toml"
    shipped = SHIPPED_CONFIGS / name
    if not path.is_absolute() and shipped.is_file():
        return shipped
    known = sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.toml"))
    raise FileNotFoundError(f"config: no such file {path} (and no shipped config {name!r}; shipped: {known})")


@dataclass
class RunConfig:
    """Everything a training run needs; :meth:`validate` runs on construction from a file or dict.

    :param name: run name (letters, digits, ``_``, ``-``, ``.``).
    :param env: see :class:`EnvConfig`.
    :param algo: ``PPO``, ``A2C``, ``DQN``, ``SAC``, ``TD3`` or ``MaskablePPO``.
    :param policy: SB3 policy class name (``MlpPolicy``).
    :param hyperparams: the algorithm's constructor arguments.
    :param steps: total environment steps, >= 1.
    :param seed: training seed (python, numpy, torch, environments).
    :param device: ``auto`` (the CPU for MLP policies, as SB3 advises), ``cpu``, ``cuda`` or ``cuda:N``.
    :param torch_threads: torch CPU threads (1 keeps small MLPs fast on a shared machine).
    :param checkpoint_every: env steps between checkpoints; 0 disables them.
    :param normalize_obs: VecNormalize observations.
    :param normalize_reward: VecNormalize rewards (training only; evaluation reports raw returns).
    :param eval: see :class:`EvalConfig`.
    :param out: parent directory of run directories.
    :param register: see :class:`RegisterConfig`.
    :param tune: see :class:`TuneConfig`.
    """

    name: str
    env: EnvConfig
    algo: str
    policy: str = "MlpPolicy"
    hyperparams: dict[str, Any] = field(default_factory=dict)
    steps: int = 100_000
    seed: int = 0
    device: str = "auto"
    torch_threads: int = 1
    checkpoint_every: int = 0
    normalize_obs: bool = True
    normalize_reward: bool = True
    eval: EvalConfig = field(default_factory=EvalConfig)
    out: str = "runs"
    register: RegisterConfig = field(default_factory=RegisterConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        """Check every field; raises ``ValueError`` naming the field (``train.steps: expected >= 1, found 0``)."""
        name = _str("name", self.name)
        if not all(c.isalnum() or c in "_-." for c in name):
            raise _fail("name", f"expected letters, digits, '_', '-' or '.', found {name!r}")
        if not isinstance(self.env, EnvConfig):
            raise _fail("env", "expected an EnvConfig")
        self.env.validate()
        self.algo = get_algorithm(self.algo).name
        _str("algo.policy", self.policy)
        if not isinstance(self.hyperparams, dict):
            raise _fail("algo.hyperparams", f"expected a table, found {type(self.hyperparams).__name__}")
        for key in SCHEDULED:  # "lin_X" schedules are checked here, before a run directory is made
            if isinstance(self.hyperparams.get(key), str):
                linear_schedule(f"algo.hyperparams.{key}", self.hyperparams[key])
        _int("train.steps", self.steps, 1)
        _int("train.seed", self.seed, 0)
        _int("train.torch_threads", self.torch_threads, 1)
        _int("train.checkpoint_every", self.checkpoint_every, 0)
        _bool("train.normalize_obs", self.normalize_obs)
        _bool("train.normalize_reward", self.normalize_reward)
        device = _str("train.device", self.device)
        if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
            raise _fail("train.device", f"expected one of {DEVICES} or 'cuda:N', found {device!r}")
        ev = self.eval
        _int("eval.n_seeds", ev.n_seeds, 2)
        _int("eval.first_seed", ev.first_seed, 0)
        _bool("eval.deterministic", ev.deterministic)
        if ev.first_seed <= self.seed < ev.first_seed + ev.n_seeds:
            raise _fail("eval.first_seed", f"the evaluation seeds {ev.first_seed}..{ev.first_seed + ev.n_seeds - 1} "
                                           f"hold the training seed {self.seed}; evaluation must use held-out seeds")
        _str("out", self.out)
        reg = self.register
        _bool("register.enabled", reg.enabled)
        for key in ("decision_point", "policy", "db"):
            _str(f"register.{key}", getattr(reg, key), empty_ok=True)
        if reg.enabled and not (reg.decision_point and reg.policy):
            raise _fail("register", "enabled needs decision_point and policy (the registry's decision point and "
                                    "the policy name its versions are numbered under)")
        self.tune.validate()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build from the TOML layout (see the module docstring)."""
        data = copy.deepcopy(data)
        _check_keys("config", data, {"name", "out", "env", "algo", "train", "eval", "register", "tune"})
        for key in ("env", "algo"):
            if key not in data:
                raise _fail("config", f"missing section [{key}]")
        env = data["env"]
        _check_keys("env", env, {f.name for f in fields(EnvConfig)})
        if "id" not in env:
            raise _fail("env", "missing key 'id' (e.g. \"retailrl/Pricing-v0\")")
        algo = data["algo"]
        _check_keys("algo", algo, {"name", "policy", "hyperparams"})
        if "name" not in algo:
            raise _fail("algo", "missing key 'name' (PPO, A2C, DQN, SAC, TD3 or MaskablePPO)")
        train = data.get("train", {})
        train_keys = {"steps", "seed", "device", "torch_threads", "checkpoint_every", "normalize_obs",
                      "normalize_reward"}
        _check_keys("train", train, train_keys)
        sections = {}
        for key, sub in (("eval", EvalConfig), ("register", RegisterConfig), ("tune", TuneConfig)):
            table = data.get(key, {})
            _check_keys(key, table, {f.name for f in fields(sub)})
            sections[key] = sub(**table)
        if "name" not in data:
            raise _fail("config", "missing key 'name'")
        return cls(name=data["name"], out=data.get("out", "runs"), env=EnvConfig(**env), algo=algo["name"],
                   policy=algo.get("policy", "MlpPolicy"), hyperparams=algo.get("hyperparams", {}), **train,
                   **sections)

    @classmethod
    def from_toml(cls, path: str | Path) -> RunConfig:
        """Read ``configs/NAME.toml`` (see :func:`resolve_config`); errors name the file."""
        path = resolve_config(path)
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout as plain JSON-ready values (``from_dict(to_dict())`` gives an equal config)."""
        return {
            "name": self.name, "out": self.out, "env": asdict(self.env),
            "algo": {"name": self.algo, "policy": self.policy, "hyperparams": copy.deepcopy(self.hyperparams)},
            "train": {"steps": self.steps, "seed": self.seed, "device": self.device,
                      "torch_threads": self.torch_threads, "checkpoint_every": self.checkpoint_every,
                      "normalize_obs": self.normalize_obs, "normalize_reward": self.normalize_reward},
            "eval": asdict(self.eval), "register": asdict(self.register), "tune": asdict(self.tune),
        }

    def with_overrides(self, *, algo: str | None = None, steps: int | None = None, seed: int | None = None,
                       device: str | None = None, out: str | None = None, register: bool | None = None,
                       n_envs: int | None = None, hyperparams: dict[str, Any] | None = None,
                       backend: str | None = None) -> RunConfig:
        """A validated copy with the given fields replaced (``None`` keeps a field); the CLI flags map here.

        Changing ``algo`` drops the hyperparameters of the old algorithm unless ``hyperparams`` is given.
        """
        new = copy.deepcopy(self)
        changes: dict[str, Any] = {}
        if algo is not None and get_algorithm(algo).name != self.algo:
            changes["algo"] = algo
            changes["hyperparams"] = {}
        for key, value in (("steps", steps), ("seed", seed), ("device", device), ("out", out)):
            if value is not None:
                changes[key] = value
        if hyperparams is not None:
            changes["hyperparams"] = {**(changes.get("hyperparams", new.hyperparams)), **hyperparams}
        if register is not None:
            new.register = replace(new.register, enabled=register)
        if n_envs is not None:
            new.env = replace(new.env, n_envs=n_envs)
        if backend is not None:
            new.env = replace(new.env, backend=backend)
        return replace(new, **changes)

