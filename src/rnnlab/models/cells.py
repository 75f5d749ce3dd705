"""Hand-written recurrent layers: scratch RNN, dropout variants of the LSTM, and their weights."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# cuDNN complains once the dropped weights are not in its flat buffer; they never can be.
_NOT_CONTIGUOUS = "RNN module weights are not part of single contiguous chunk of memory"
_TORCH_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # nn.LSTM's names, in its order


@dataclass
class RecurrentWeights:
    """Views of one (layer, direction)'s weights, written in place by init schemes."""

    weight_ih: Tensor  # (G*H, In)
    weight_hh: Tensor  # (G*H, H)
    biases: list[Tensor]  # each (G*H,); the cell adds them all
    gates: int  # 4 for an LSTM (i, f, g, o), 3 for a GRU, 1 for a plain RNN


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """True at real tokens: (B,) lengths -> (B, T) bool."""
    positions = torch.arange(steps, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


def reverse_within_lengths(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence's real steps, leaving padding at the end; its own inverse."""
    steps = x.size(1)
    positions = torch.arange(steps, device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.to(x.device).unsqueeze(1)  # (B, 1)
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))  # (B, T, F)


def torch_rnn_weights(module: nn.RNNBase, hh: Callable[[str], Tensor] | None = None) -> list[RecurrentWeights]:
    """Weights of a torch nn.RNN / nn.GRU / nn.LSTM per (layer, direction); `hh` reads weight_hh by name."""
    hh = hh or (lambda name: getattr(module, name))
    suffixes = ["", "_reverse"] if module.bidirectional else [""]
    groups = []
    for layer in range(module.num_layers):
        for sfx in suffixes:
            names = [f"{kind}_l{layer}{sfx}" for kind in ("weight_ih", "bias_ih", "bias_hh")]
            w_ih, b_ih, b_hh = (getattr(module, n) for n in names)
            w_hh = hh(f"weight_hh_l{layer}{sfx}")
            groups.append(RecurrentWeights(w_ih, w_hh, [b_ih, b_hh], w_hh.size(0) // module.hidden_size))
    return groups


def recurrent_weights(module: nn.Module) -> list[RecurrentWeights]:
    """Weights of any encoder in this module or torch's, per (layer, direction)."""
    if isinstance(module, nn.RNNBase):
        return torch_rnn_weights(module)
    return module.recurrent_weights()


class _LoopStack(nn.Module):
    """Layer and direction loop shared by the hand-written encoders.

    Subclasses supply `_run_direction`, one pass over time of one (layer, direction).
    The backward direction reads each sequence reversed within its length, so it starts at
    the last real token; padded steps keep the state frozen and output zeros, as packing does.
    """

    state_parts = 2  # (h, c); a plain RNN has 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.between_layers = nn.Dropout(dropout)

    def layer_input_size(self, layer: int) -> int:
        """Features entering `layer`."""
        return self.input_size if layer == 0 else self.hidden_size * self.num_directions

    def keys(self) -> list[tuple[int, str]]:
        """(layer, suffix) per stacked direction, in torch's order."""
        suffixes = ["", "_reverse"][: self.num_directions]
        return [(layer, sfx) for layer in range(self.num_layers) for sfx in suffixes]

    def forward(self, x: Tensor, lengths: Tensor, state: Tensor | tuple[Tensor, ...] | None = None) -> Tensor:
        """(B, T, In), (B,) -> outputs (B, T, H*D); state as torch's: (L*D, B, H) or a tuple."""
        lengths = lengths.to(x.device)
        mask = length_mask(lengths, x.size(1)).unsqueeze(-1)  # (B, T, 1)
        states = self._initial_states(state, x)
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                inp = x if d == 0 else reverse_within_lengths(x, lengths)
                out = self._run_direction(k, inp, mask, [s[k] for s in states])  # (B, T, H)
                outs.append(out if d == 0 else reverse_within_lengths(out, lengths))
            x = torch.cat(outs, dim=-1)  # (B, T, H*D)
            if layer < self.num_layers - 1:
                x = self.between_layers(x)
        return x

    def _initial_states(self, state: Tensor | tuple[Tensor, ...] | None, x: Tensor) -> list[Tensor]:
        if state is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, x.size(0), self.hidden_size)
            return [zeros] * self.state_parts
        return [state] if isinstance(state, Tensor) else list(state)

    def _run_direction(self, k: int, x: Tensor, mask: Tensor, state: list[Tensor]) -> Tensor:
        raise NotImplementedError


def _torch_default(shape: tuple[int, ...], hidden_size: int) -> nn.Parameter:
    """U(-1/sqrt(H), 1/sqrt(H)), as torch's nn.RNN and nn.LSTM start."""
    bound = 1.0 / math.sqrt(hidden_size)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


def _freeze(mask_t: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """Keep the old state where the step is padding."""
    return torch.where(mask_t, new, old)


class ScratchRNN(_LoopStack):
    """Elman RNN from scratch: h_t = act(W_h [h_{t-1}; x_t] + b_h), act tanh or relu."""

    state_parts = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, nonlinearity: str = "tanh") -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        activations = {"tanh": torch.tanh, "relu": torch.relu}
        if nonlinearity not in activations:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}; known: {', '.join(activations)}")
        self.activation = activations[nonlinearity]
        for layer, sfx in self.keys():
            width = hidden_size + self.layer_input_size(layer)
            self.register_parameter(f"weight_l{layer}{sfx}", _torch_default((hidden_size, width), hidden_size))
            self.register_parameter(f"bias_l{layer}{sfx}", _torch_default((hidden_size,), hidden_size))

    def _params(self, k: int) -> tuple[Tensor, Tensor]:
        layer, sfx = self.keys()[k]
        return getattr(self, f"weight_l{layer}{sfx}"), getattr(self, f"bias_l{layer}{sfx}")

    def _run_direction(self, k: int, x: Tensor, mask: Tensor, state: list[Tensor]) -> Tensor:
        weight, bias = self._params(k)
        w_hh, w_ih = weight[:, : self.hidden_size], weight[:, self.hidden_size:]  # [h; x] order
        projected = x @ w_ih.T + bias  # (B, T, H): the input half of W_h [h; x], for all steps at once
        h, outs = state[0], []
        for t in range(x.size(1)):
            h = _freeze(mask[:, t], self.activation(projected[:, t] + h @ w_hh.T), h)  # (B, H)
            outs.append(h * mask[:, t])
        return torch.stack(outs, dim=1)  # (B, T, H)

    @torch.no_grad()
    def load_from_rnn(self, rnn: nn.RNN) -> ScratchRNN:
        """Copy an nn.RNN's weights: W_h = [W_hh, W_ih], b_h = b_ih + b_hh."""
        for k, (layer, sfx) in enumerate(self.keys()):
            weight, bias = self._params(k)
            w_ih, w_hh, b_ih, b_hh = (getattr(rnn, f"{kind}_l{layer}{sfx}") for kind in _TORCH_KINDS)
            weight.copy_(torch.cat([w_hh, w_ih], dim=1))
            bias.copy_(b_ih + b_hh)
        return self

    def recurrent_weights(self) -> list[RecurrentWeights]:
        """Views of W_h split into its input and hidden halves."""
        hidden, groups = self.hidden_size, []
        for weight, bias in map(self._params, range(len(self.keys()))):
            groups.append(RecurrentWeights(weight[:, hidden:], weight[:, :hidden], [bias], 1))
        return groups


def variational_mask(batch: int, features: int, p: float, like: Tensor) -> Tensor:
    """One inverted-dropout mask per sequence, (B, F), reused at every step (Gal & Ghahramani)."""
    return F.dropout(like.new_ones(batch, features), p, training=True)


class LoopLSTM(_LoopStack):
    """nn.LSTMCell loop with variational dropout on inputs and hidden state (off in eval)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        self.recurrent_dropout = recurrent_dropout
        self.cells = nn.ModuleList(nn.LSTMCell(self.layer_input_size(layer), hidden_size)
                                   for layer, _ in self.keys())

    def _masks(self, x: Tensor) -> tuple[Tensor, Tensor] | tuple[float, float]:
        if not (self.training and self.recurrent_dropout > 0):
            return 1.0, 1.0
        batch = x.size(0)
        return (variational_mask(batch, x.size(-1), self.recurrent_dropout, x),
                variational_mask(batch, self.hidden_size, self.recurrent_dropout, x))

    def _run_direction(self, k: int, x: Tensor, mask: Tensor, state: list[Tensor]) -> Tensor:
        cell, (h, c) = self.cells[k], state
        in_mask, h_mask = self._masks(x)  # sampled once: the same units drop at every step
        outs = []
        for t in range(x.size(1)):
            h_new, c_new = cell(x[:, t] * in_mask, (h * h_mask, c))
            h, c = _freeze(mask[:, t], h_new, h), _freeze(mask[:, t], c_new, c)  # (B, H)
            outs.append(h * mask[:, t])
        return torch.stack(outs, dim=1)  # (B, T, H)

    @torch.no_grad()
    def load_from_lstm(self, lstm: nn.LSTM) -> LoopLSTM:
        """Copy an nn.LSTM's weights into the cells."""
        for cell, (layer, sfx) in zip(self.cells, self.keys(), strict=True):
            for kind in _TORCH_KINDS:
                getattr(cell, kind).copy_(getattr(lstm, f"{kind}_l{layer}{sfx}"))
        return self

    def recurrent_weights(self) -> list[RecurrentWeights]:
        """Each cell's weights."""
        return [RecurrentWeights(c.weight_ih, c.weight_hh, [c.bias_ih, c.bias_hh], 4) for c in self.cells]


class SemeniutaLSTM(_LoopStack):
    """LSTM with own gate matmuls and recurrent dropout on the candidate only.

    c_t = f * c_{t-1} + i * d(g) (Semeniuta et al., 2016): the memory itself is never dropped.
    A fresh mask per step, as in TensorFlow's LayerNormBasicLSTMCell. Parameters are named and
    laid out like nn.LSTM's (gates i, f, g, o), so its state_dict loads directly.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, num_layers, bidirectional, dropout)
        self.recurrent_dropout = recurrent_dropout
        rows = 4 * hidden_size
        for layer, sfx in self.keys():
            shapes = [(rows, self.layer_input_size(layer)), (rows, hidden_size), (rows,), (rows,)]
            for kind, shape in zip(_TORCH_KINDS, shapes, strict=True):
                self.register_parameter(f"{kind}_l{layer}{sfx}", _torch_default(shape, hidden_size))

    def _params(self, k: int) -> list[Tensor]:
        layer, sfx = self.keys()[k]
        return [getattr(self, f"{kind}_l{layer}{sfx}") for kind in _TORCH_KINDS]

    def _run_direction(self, k: int, x: Tensor, mask: Tensor, state: list[Tensor]) -> Tensor:
        w_ih, w_hh, b_ih, b_hh = self._params(k)
        projected = x @ w_ih.T + b_ih + b_hh  # (B, T, 4H), input half for all steps at once
        (h, c), outs = state, []
        for t in range(x.size(1)):
            i, f, g, o = (projected[:, t] + h @ w_hh.T).chunk(4, dim=-1)  # each (B, H)
            g = F.dropout(torch.tanh(g), self.recurrent_dropout, self.training)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * g
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            h, c = _freeze(mask[:, t], h_new, h), _freeze(mask[:, t], c_new, c)  # (B, H)
            outs.append(h * mask[:, t])
        return torch.stack(outs, dim=1)  # (B, T, H)

    def load_from_lstm(self, lstm: nn.LSTM) -> SemeniutaLSTM:
        """Copy an nn.LSTM's weights (same names and layout)."""
        self.load_state_dict(lstm.state_dict())
        return self

    def recurrent_weights(self) -> list[RecurrentWeights]:
        """Per (layer, direction) weights."""
        params = [self._params(k) for k in range(len(self.keys()))]
        return [RecurrentWeights(w_ih, w_hh, [b_ih, b_hh], 4) for w_ih, w_hh, b_ih, b_hh in params]


def _skip_flatten() -> None:
    """Stands in for nn.LSTM.flatten_parameters (a module-level function, so models still pickle)."""


class WeightDropLSTM(nn.Module):
    """nn.LSTM with DropConnect on the hidden-to-hidden weights (AWD-LSTM, fastai WeightDropout).

    The trained parameters are `weight_hh_l{k}[_reverse]_raw`; before each training forward whole
    rows are dropped (a unit loses all its recurrent input), in eval the raw weights are used as is.
    Called like nn.LSTM: (input or PackedSequence, hx) -> (output, (h_n, c_n)).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        self.recurrent_dropout = recurrent_dropout
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)
        self.hh_names = [n for n in self.lstm._flat_weights_names if n.startswith("weight_hh")]
        for name in self.hh_names:
            raw = getattr(self.lstm, name)
            del self.lstm._parameters[name]  # the wrapper owns it now, as `<name>_raw`
            self.register_parameter(f"{name}_raw", nn.Parameter(raw.detach().clone()))
            setattr(self.lstm, name, raw.detach().clone())
        # Re-flattening would copy the dropped weights into cuDNN's buffer, cutting them from raw.
        self.lstm.flatten_parameters = _skip_flatten

    def _set_weights(self) -> None:
        for name in self.hh_names:
            raw = getattr(self, f"{name}_raw")  # (4H, H)
            # A view, not the Parameter itself, or nn.Module would register it on self.lstm too.
            weight = raw.view_as(raw)
            if self.training and self.recurrent_dropout > 0:
                row_mask = F.dropout(raw.new_ones(raw.size(0), 1), self.recurrent_dropout, training=True)
                weight = raw * row_mask  # (4H, H): whole rows dropped, survivors scaled by 1/(1-p)
            setattr(self.lstm, name, weight)  # nn.LSTM's __setattr__ also updates its weight list

    def forward(self, x: Tensor | nn.utils.rnn.PackedSequence, hx: tuple[Tensor, Tensor] | None = None):
        """Same contract as nn.LSTM with batch_first=True."""
        self._set_weights()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NOT_CONTIGUOUS)
            out = self.lstm(x, hx)
        # Keep only leaf tensors on the module (the graph already holds what backward needs),
        # so that copy.deepcopy(model) still works after a training step.
        for name in self.hh_names:
            setattr(self.lstm, name, getattr(self.lstm, name).detach())
        return out

    def effective_weights(self) -> dict[str, Tensor]:
        """The hh weights the last forward used."""
        return {name: getattr(self.lstm, name) for name in self.hh_names}

    @torch.no_grad()
    def load_from_lstm(self, lstm: nn.LSTM) -> WeightDropLSTM:
        """Copy an nn.LSTM's weights."""
        for name in self.lstm._flat_weights_names:
            target = getattr(self, f"{name}_raw") if name in self.hh_names else getattr(self.lstm, name)
            target.copy_(getattr(lstm, name))
        return self

    def recurrent_weights(self) -> list[RecurrentWeights]:
        """Per (layer, direction) weights, with the raw hh weights."""
        return torch_rnn_weights(self.lstm, lambda name: getattr(self, f"{name}_raw"))

