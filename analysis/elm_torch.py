#!/usr/bin/python3
"""A PyTorch port of the reference Expressive Leaky Memory (ELM) neuron, v1 and v2.

Why this exists
---------------
elmrun is C++; the published reference (github.com/AaronSpieler/elmneuron) is
PyTorch. This module re-implements the reference's model from
shared/docs/elm-model.md so that the project has, under its own control and
without depending on the reference repository:

  (a) a numerical peer: it reproduces the golden vectors in shared/golden/
      (check_elm_torch_golden.py, registered as the ctest golden.torch_port), and
      because it runs on CUDA it is the yardstick for comparing a GPU backend
      against float32 PyTorch on the same parameters and inputs;
  (b) the timing baseline for `elmrun bench` (bench_torch_reference.py): it
      computes the way the reference does -- a TorchScript module (the legacy
      jit.ScriptModule API with one script_method per time step), a per-step loop
      over t, dense [B, T, n_in] input routed with index_select, per-synapse
      (v1) or per-branch (v2) traces, and autograd through the whole loop -- so
      its speed is that of the reference, not of a better-vectorised rewrite.

State-dict names and shapes match the reference exactly (mlp.network.{0,2,..},
_proto_w_s, _proto_tau_m, tau_s (v1) | tau_b (v2), w_y, input_to_synapse_indices,
valid_indices_mask), so a reference state dict loads with load_state_dict() and
an elmrun HDF5 golden/checkpoint file loads with ElmTorch.from_hdf5().

Differences from the reference that do not change any computed value:
  * one class for both variants (`variant="v1"|"v2"`); v1 also accepts
    mlp_activation (the generator of the golden files had it for v1 as well);
  * tau_s/tau_b and the routing tensors are buffers rather than
    requires_grad=False Parameters (same state-dict entries; parameters()
    yields only what is trained, plus _proto_tau_m, frozen unless
    learn_memory_tau, as in the reference).

Run with Debian's /usr/bin/python3 (torch 1.13, h5py, numpy).
"""
import json
import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import jit

ROUTINGS = (None, "random_routing", "neuronio_routing")

# Constructor arguments of the reference (v1 has tau_s_value, v2 tau_b_value).
CONFIG_KEYS = (
    "num_input", "num_output", "num_memory", "lambda_value", "mlp_num_layers",
    "mlp_hidden_size", "mlp_activation", "tau_s_value", "tau_b_value",
    "memory_tau_min", "memory_tau_max", "learn_memory_tau", "w_s_value",
    "num_branch", "num_synapse_per_branch", "input_to_synapse_routing", "delta_t",
)

# NeuronIO soma target scale of the reference data pipeline (eval output = soma / 0.1).
NEURONIO_SOMA_SCALE = 0.1


# ---------------------------------------------------------------- routing helpers

def interleave_halves(num_input: int) -> torch.Tensor:
    """il[i] = (i mod 2) * floor(n/2) + floor(i/2): alternate the two input halves."""
    i = torch.arange(num_input)
    return (i % 2) * (num_input // 2) + torch.div(i, 2, rounding_mode="floor")


def branch_windows(num_input: int, num_branch: int, per_branch: int):
    """Branch j takes positions j*stride + r, r < per_branch; out-of-range clamped and masked."""
    stride = math.ceil(num_input / num_branch)
    pos = torch.arange(num_branch).unsqueeze(1) * stride + torch.arange(per_branch).unsqueeze(0)
    valid = pos < num_input
    pos = pos.clamp(max=num_input - 1)
    return pos.reshape(-1), valid.reshape(-1)


class ElmMlp(nn.Module):
    """L hidden layers of width H with an activation between, then Linear to d_m.

    Held in `.network` (nn.Sequential) so that parameter names are
    mlp.network.{0,2,4,..}.weight/bias like the reference's.
    """

    def __init__(self, n_in: int, hidden: int, n_out: int, num_layers: int, activation: str):
        super().__init__()
        if activation not in ("relu", "silu"):
            raise ValueError(f"mlp_activation must be 'relu' or 'silu', got {activation!r}")
        layers: List[nn.Module] = []
        width = n_in
        for _ in range(num_layers):
            layers.append(nn.Linear(width, hidden))
            layers.append(nn.ReLU() if activation == "relu" else nn.SiLU())
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)


def _scaled_tanh(x):
    # LeCun's scaled tanh: 1.7159 * tanh(2/3 x)
    return torch.tanh(x * 2 / 3) * 1.7159


class ElmTorch(jit.ScriptModule):
    """ELM neuron (variant "v1": per-synapse traces; "v2": Branch-ELM, per-branch traces).

    A torch.jit.ScriptModule (hence an nn.Module) like the reference: forward()
    and the per-step dynamics are TorchScript methods; everything else is Python.
    forward(X [B, T, n_in] float32) -> Y [B, T, num_output].
    """

    __constants__ = [
        "variant_v2", "num_input", "num_output", "num_memory", "num_branch",
        "lambda_value", "memory_tau_min", "memory_tau_max", "delta_t",
        "input_to_synapse_routing",
    ]

    def __init__(
        self,
        num_input: int,
        num_output: int,
        num_memory: int = 100,
        lambda_value: float = 5.0,
        mlp_num_layers: int = 1,
        mlp_hidden_size: Optional[int] = None,
        mlp_activation: str = "relu",
        tau_s_value: float = 5.0,
        tau_b_value: float = 5.0,
        memory_tau_min: float = 1.0,
        memory_tau_max: float = 1000.0,
        learn_memory_tau: bool = False,
        w_s_value: float = 0.5,
        num_branch: Optional[int] = None,
        num_synapse_per_branch: int = 1,
        input_to_synapse_routing: Optional[str] = None,
        delta_t: float = 1.0,
        variant: str = "v1",
    ):
        super().__init__()
        if variant not in ("v1", "v2"):
            raise ValueError(f"variant must be 'v1' or 'v2', got {variant!r}")
        if input_to_synapse_routing == "none":
            input_to_synapse_routing = None
        if input_to_synapse_routing not in ROUTINGS:
            raise ValueError(f"unknown input_to_synapse_routing {input_to_synapse_routing!r}")
        self.variant = variant
        self.variant_v2 = variant == "v2"
        self.num_input, self.num_output, self.num_memory = int(num_input), int(num_output), int(num_memory)
        self.lambda_value = float(lambda_value)
        self.mlp_num_layers = int(mlp_num_layers)
        self.mlp_activation = mlp_activation
        self.memory_tau_min = float(memory_tau_min)
        self.memory_tau_max = float(memory_tau_max)
        if self.variant_v2:  # v2 keeps the logit range well-defined
            self.memory_tau_max = max(self.memory_tau_min + 3e-6, self.memory_tau_max)
        self.learn_memory_tau = bool(learn_memory_tau)
        self.tau_s_value, self.tau_b_value, self.w_s_value = float(tau_s_value), float(tau_b_value), float(w_s_value)
        self.num_synapse_per_branch = int(num_synapse_per_branch)
        self.input_to_synapse_routing = input_to_synapse_routing
        self.delta_t = float(delta_t)

        self.mlp_hidden_size = int(mlp_hidden_size) if mlp_hidden_size else 2 * self.num_memory
        self.num_branch = self.num_input if num_branch is None else int(num_branch)
        self.num_synapse = self.num_branch * self.num_synapse_per_branch
        if input_to_synapse_routing is None and self.num_synapse != self.num_input:
            raise ValueError(f"without routing num_branch*num_synapse_per_branch ({self.num_synapse}) "
                             f"must equal num_input ({self.num_input})")

        self.mlp = ElmMlp(self.num_branch + self.num_memory, self.mlp_hidden_size, self.num_memory,
                          self.mlp_num_layers, mlp_activation)
        self._proto_w_s = nn.Parameter(torch.full((self.num_synapse,), self.w_s_value))
        self.w_y = nn.Linear(self.num_memory, self.num_output)
        if self.variant_v2:
            self.register_buffer("tau_b", torch.full((self.num_branch,), self.tau_b_value))
        else:
            self.register_buffer("tau_s", torch.full((self.num_synapse,), self.tau_s_value))

        lo, hi = self.memory_tau_min, self.memory_tau_max
        tau0 = torch.logspace(math.log10(lo + 1e-6), math.log10(hi - 1e-6), self.num_memory)
        tau0 = tau0.clamp(lo + 1e-6, hi - 1e-6)
        # float32: the last entry is +inf when hi - 1e-6 rounds to hi (tau_m == hi exactly)
        self._proto_tau_m = nn.Parameter(torch.log((tau0 - lo) / (hi - tau0)),
                                         requires_grad=self.learn_memory_tau)

        idx, mask = self._make_routing()
        self.register_buffer("input_to_synapse_indices", idx)
        self.register_buffer("valid_indices_mask", mask)

    # ------------------------------------------------------------ Python helpers

    def _make_routing(self):
        n, s = self.num_input, self.num_synapse
        if self.input_to_synapse_routing == "random_routing":
            idx = torch.randint(n, (s,))
            return idx, torch.ones_like(idx)
        if self.input_to_synapse_routing == "neuronio_routing":
            if math.ceil(n / self.num_branch) > self.num_synapse_per_branch:
                raise ValueError("neuronio_routing needs ceil(num_input/num_branch) <= num_synapse_per_branch")
            pos, valid = branch_windows(n, self.num_branch, self.num_synapse_per_branch)
            return interleave_halves(n)[pos], valid
        # the reference stores Parameter(None) == empty float tensor
        return torch.empty(0), torch.empty(0)

    def config(self) -> dict:
        """Constructor arguments, reference names (plus `variant`)."""
        c = {k: getattr(self, k) for k in (
            "num_input", "num_output", "num_memory", "lambda_value", "mlp_num_layers", "mlp_hidden_size",
            "mlp_activation", "memory_tau_min", "memory_tau_max", "learn_memory_tau", "w_s_value",
            "num_branch", "num_synapse_per_branch", "input_to_synapse_routing", "delta_t")}
        c["tau_b_value" if self.variant_v2 else "tau_s_value"] = self.tau_b_value if self.variant_v2 else self.tau_s_value
        c["variant"] = self.variant
        return c

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    def tau_m(self):
        return (self.memory_tau_max - self.memory_tau_min) * torch.sigmoid(self._proto_tau_m) + self.memory_tau_min

    def kappa_m(self):
        return torch.exp(-self.delta_t / torch.clamp(self.tau_m(), min=1e-6))

    def w_s(self):
        return torch.relu(self._proto_w_s)

    @classmethod
    def from_config(cls, config: dict, variant: Optional[str] = None) -> "ElmTorch":
        cfg = dict(config)
        v = variant or cfg.pop("variant", "v1")
        cfg.pop("variant", None)
        cfg.pop("routing_seed", None)  # only seeds random routing; the tensors are loaded anyway
        unknown = set(cfg) - set(CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if v == "v1" and "tau_b_value" in cfg:
            raise ValueError("tau_b_value given for a v1 model")
        if v == "v2" and "tau_s_value" in cfg:
            raise ValueError("tau_s_value given for a v2 model")
        return cls(variant=v, **cfg)

    @classmethod
    def from_hdf5(cls, path: str) -> "ElmTorch":
        """Build from an elmrun golden case or checkpoint (attrs variant, config_json; params/<name>)."""
        import h5py
        import numpy as np

        with h5py.File(path, "r") as f:
            if "variant" not in f.attrs or "config_json" not in f.attrs:
                raise ValueError(f"{path}: not a model file (attributes variant/config_json missing)")
            variant = f.attrs["variant"]
            variant = variant.decode() if isinstance(variant, bytes) else str(variant)
            cfg_json = f.attrs["config_json"]
            cfg = json.loads(cfg_json.decode() if isinstance(cfg_json, bytes) else cfg_json)
            model = cls.from_config(cfg, variant)
            stored = {name: np.asarray(ds[()]) for name, ds in f["params"].items()} if "params" in f else {}
        own = model.state_dict()
        missing = sorted(set(own) - set(stored))
        extra = sorted(set(stored) - set(own))
        if missing or extra:
            raise ValueError(f"{path}: params do not match the config (missing {missing}, unexpected {extra})")
        new_state = {}
        for name, arr in stored.items():
            ref = own[name]
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"{path}: params/{name} has unsupported dtype {arr.dtype}")
            # h5py gives the bool mask (int8 enum) as numpy bool; an absent routing is a (0,) float
            t = torch.from_numpy(np.ascontiguousarray(arr)).to(ref.dtype)
            if tuple(t.shape) != tuple(ref.shape):
                raise ValueError(f"{path}: params/{name} has shape {tuple(t.shape)}, config implies {tuple(ref.shape)}")
            new_state[name] = t
        model.load_state_dict(new_state)
        return model

    # ------------------------------------------------------------ TorchScript

    def route_input_to_synapses(self, x):
        if self.input_to_synapse_routing is not None:
            x = torch.index_select(x, 2, self.input_to_synapse_indices)
            x = x * self.valid_indices_mask
        return x

    @jit.script_method
    def dynamics_v1(self, x, s_prev, m_prev, w_s, kappa_s, kappa_m):
        # one time step, per-synapse traces
        batch_size = x.shape[0]
        s_t = kappa_s * s_prev + w_s * x
        z_t = s_t.view(batch_size, self.num_branch, -1).sum(dim=-1)
        delta_m = _scaled_tanh(self.mlp(torch.cat([z_t, kappa_m * m_prev], dim=-1)))
        m_t = kappa_m * m_prev + self.lambda_value * (1 - kappa_m) * delta_m
        return self.w_y(m_t), s_t, m_t

    @jit.script_method
    def dynamics_v2(self, x, b_prev, m_prev, w_s, kappa_b, kappa_m, kappa_lambda):
        # one time step, per-branch traces
        batch_size = x.shape[0]
        b_t = kappa_b * b_prev + (w_s * x).view(batch_size, self.num_branch, -1).sum(dim=-1)
        delta_m = _scaled_tanh(self.mlp(torch.cat([b_t, kappa_m * m_prev], dim=-1)))
        m_t = kappa_m * m_prev + (1 - kappa_lambda) * delta_m
        return self.w_y(m_t), b_t, m_t

    @jit.script_method
    def forward(self, X):
        batch_size, T, _ = X.shape
        w_s = torch.relu(self._proto_w_s)
        tau_m = (self.memory_tau_max - self.memory_tau_min) * torch.sigmoid(self._proto_tau_m) + self.memory_tau_min
        tau_m = torch.clamp(tau_m, min=1e-6)
        kappa_m = torch.exp(-self.delta_t / tau_m)
        m_prev = torch.zeros(batch_size, self.num_memory, device=X.device)
        inputs = self.route_input_to_synapses(X)
        outputs = torch.jit.annotate(List[torch.Tensor], [])
        if self.variant_v2:
            kappa_b = torch.exp(-self.delta_t / torch.clamp(self.tau_b, min=1e-6))
            kappa_lambda = torch.exp(-self.delta_t * self.lambda_value / tau_m)
            b_prev = torch.zeros(batch_size, self.num_branch, device=X.device)
            for t in range(T):
                y_t, b_prev, m_prev = self.dynamics_v2(inputs[:, t], b_prev, m_prev, w_s, kappa_b, kappa_m,
                                                       kappa_lambda)
                outputs.append(y_t)
        else:
            kappa_s = torch.exp(-self.delta_t / torch.clamp(self.tau_s, min=1e-6))
            s_prev = torch.zeros(batch_size, kappa_s.shape[0], device=X.device)
            for t in range(T):
                y_t, s_prev, m_prev = self.dynamics_v1(inputs[:, t], s_prev, m_prev, w_s, kappa_s, kappa_m)
                outputs.append(y_t)
        return torch.stack(outputs, dim=-2)

    @jit.script_method
    def neuronio_eval_forward(self, X):
        """sigmoid(spike logit), soma / 0.1 (the reference's NeuronIO evaluation output)."""
        y = self.forward(X)
        return torch.stack([torch.sigmoid(y[..., 0]), y[..., 1] / 0.1], dim=-1)


# ---------------------------------------------------------------- losses

def neuronio_loss(Y, target_spike, target_soma):
    """0.5 * BCE-with-logits(Y[...,0], spike) + 0.5 * MSE(Y[...,1], soma); means over all B*T."""
    return 0.5 * F.binary_cross_entropy_with_logits(Y[..., 0], target_spike) + 0.5 * F.mse_loss(Y[..., 1], target_soma)


def last_step_ce_loss(Y, labels):
    """Cross-entropy of the last step's output Y[:, -1, :] against integer labels [B]."""
    return F.cross_entropy(Y[:, -1, :], labels)


def projection_loss(Y, G):
    """sum(Y * G): a linear functional of the output (golden gradient checks)."""
    return (Y * G).sum()
