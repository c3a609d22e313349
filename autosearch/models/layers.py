"""Small Keras layers (backend-neutral, `keras.ops` only): the tabular recipe of TabM and RealMLP, the
padding mask of the series networks, the scaling of n-gram TF-IDF, and batch normalisation as every family
uses it (`batch_norm`).

- `SmoothClip`: standardised inputs bounded smoothly to ±3 (RealMLP), so outliers are not extrapolated.
- `PiecewiseLinearEmbedding`, `PeriodicEmbedding`: each number becomes a vector before the MLP — its
  piecewise-linear encoding over quantile bins, or cos/sin of learned frequencies, then a per-feature
  linear map (Gorishniy et al., NeurIPS 2022). Networks see the shape of a feature's effect (thresholds,
  bends, periodic patterns) instead of one weight per feature.
- `EnsembleInput`, `EnsembleHead`, `EnsembleMean`: a BatchEnsemble of k members in one network ("TabM-mini",
  Gorishniy et al., ICLR 2025). The input is copied k times and each copy scaled by its member's own
  adapter; the hidden layers are shared; each member has its own output layer. Members train as k models
  on the same batches (the loss is the mean of the members' losses, `MemberLoss`); predictions are the
  mean of the members' outputs (probabilities for classification).
- `TakeColumns`, `CategoryEmbedding`: a table's high-cardinality categorical columns arrive as integer codes
  after its other columns (`preprocessing.TableFeatures`); each code becomes a learned vector (entity
  embeddings, Guo & Berkhahn 2016), where one-hot keeps only the most frequent values.
- `StepMask`, `MaskSteps`: which steps of a padded series are real, and features zeroed on the others
  (`models.series` keeps padding out of every layer and out of the average).
- `SublinearNorm`: TF-IDF as a linear model wants it (log-scaled, unit length per document).

Registered as serializable, so a saved bundle loads them with `safe_mode` (importing this module first).
"""

from __future__ import annotations

import math

import keras
from keras import ops

BN_MOMENTUM = 0.9


def batch_norm() -> keras.layers.BatchNormalization:
    """Batch normalisation as every family uses it: momentum 0.9 (PyTorch's default) instead of Keras's 0.99.
    On small data an epoch is a few batches, and with 0.99 the moving statistics used at prediction still
    lagged the trained ones after 100 epochs (FCN on GunPoint's 50 series: training accuracy 1.0, prediction
    on the same series 0.48; with 0.9, 0.99 on the test series)."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM)


class NumericEmbedding(keras.layers.Layer):
    """(batch, features) → (batch, numeric × dim + features − numeric): each of the first `numeric` columns
    (a table's numbers, `preprocessing.TableFeatures`; all columns when `numeric` is None) becomes a vector
    of `dim` (`embed`, by subclasses), the other columns (missing-indicators, one-hot) pass through."""

    dim: int

    def __init__(self, numeric: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.numeric = None if numeric is None else int(numeric)

    def _split(self, features: int) -> int:
        return features if self.numeric is None else min(self.numeric, features)

    def embed(self, x):  # (batch, n) → (batch, n, dim)
        raise NotImplementedError

    def call(self, x):
        n = self._split(x.shape[-1])
        embedded = self.embed(x[:, :n] if n < x.shape[-1] else x)
        flat = ops.reshape(embedded, (-1, n * self.dim))
        return ops.concatenate([flat, x[:, n:]], axis=-1) if n < x.shape[-1] else flat

    def compute_output_shape(self, input_shape):
        features = int(input_shape[-1])
        return (input_shape[0], features + self._split(features) * (self.dim - 1))

    def get_config(self):
        return {**super().get_config(), "numeric": self.numeric}


@keras.saving.register_keras_serializable(package="autosearch")
class PeriodicEmbedding(NumericEmbedding):
    """Numbers → cos/sin of learned frequencies → a per-feature linear map → ReLU ("PLR").

    >>> import numpy as np
    >>> tuple(PeriodicEmbedding(frequencies=4, dim=3)(np.zeros((2, 5), "float32")).shape)
    (2, 15)
    >>> tuple(PeriodicEmbedding(frequencies=4, dim=3, numeric=2)(np.zeros((2, 5), "float32")).shape)  # 2×3 + 3
    (2, 9)
    """

    def __init__(self, frequencies: int = 16, dim: int = 16, sigma: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.frequencies, self.dim, self.sigma = int(frequencies), int(dim), float(sigma)

    def build(self, input_shape):
        n = self._split(int(input_shape[-1]))
        self.frequency = self.add_weight(shape=(n, self.frequencies), name="frequency",
                                         initializer=keras.initializers.RandomNormal(stddev=self.sigma))
        self.kernel = self.add_weight(shape=(n, 2 * self.frequencies, self.dim), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(n, self.dim), name="bias", initializer="zeros")

    def embed(self, x):
        angles = 2 * math.pi * ops.expand_dims(x, -1) * self.frequency  # (batch, features, frequencies)
        waves = ops.concatenate([ops.cos(angles), ops.sin(angles)], axis=-1)
        return ops.relu(ops.einsum("bnf,nfd->bnd", waves, self.kernel) + self.bias)

    def get_config(self):
        return {**super().get_config(), "frequencies": self.frequencies, "dim": self.dim, "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="autosearch")
class PiecewiseLinearEmbedding(NumericEmbedding):
    """Numbers → piecewise-linear encoding over quantile bins → a per-feature linear map (TabM's "†" models;
    Gorishniy et al., NeurIPS 2022, version B of their reference code).

    A number in bin t of its column encodes as 1 for the bins below t, its position inside bin t (0–1) and
    0 above; below the first edge and above the last the encoding extends linearly. The embedding is a
    per-feature linear term x·w + b plus a linear map of that encoding, initialised to zero, so training
    starts from a linear embedding and learns a feature's thresholds and bends from there. `edges` are each
    numeric column's bin edges, fitted on the training rows (`preprocessing.quantile_edges`).

    >>> import numpy as np
    >>> layer = PiecewiseLinearEmbedding([[0.0, 1.0, 2.0], [5.0]], dim=4)
    >>> tuple(layer(np.zeros((3, 4), "float32")).shape)  # 2 numbers × 4 + 2 passed through
    (3, 10)
    >>> layer.encode(np.array([[-1.0, 5.0], [0.5, 5.0], [3.0, 5.0]], "float32")).numpy()[:, 0].tolist()
    [[-1.0, 0.0], [0.5, 0.0], [1.0, 2.0]]
    """

    def __init__(self, edges, dim: int = 16, activation: bool = False, **kwargs):
        kwargs.setdefault("numeric", len(edges))
        kwargs.setdefault("dtype", "float32")  # float16 would merge close edges and overflow the end bins
        super().__init__(**kwargs)
        self.edges = [[float(e) for e in column] for column in edges]
        self.dim, self.activation = int(dim), bool(activation)

    def build(self, input_shape):
        import numpy as np

        n, bins = len(self.edges), max(1, max((len(e) - 1 for e in self.edges), default=1))
        left, width = np.zeros((n, bins), "float32"), np.ones((n, bins), "float32")
        lower, upper = np.zeros((n, bins), "float32"), np.zeros((n, bins), "float32")  # 0 and 0: unused bin
        for i, column in enumerate(self.edges):
            m = len(column) - 1
            if m < 1:
                continue
            left[i, :m] = column[:-1]
            width[i, :m] = np.maximum(np.diff(column), 1e-6)
            upper[i, :m] = 1.0
            lower[i, 0], upper[i, m - 1] = -np.inf, np.inf  # the ends extend linearly
        for name, value in (("left", left), ("width", width), ("lower", lower), ("upper", upper)):
            setattr(self, name, self.add_weight(shape=(n, bins), name=name, trainable=False,
                                                initializer=keras.initializers.Constant(value)))
        limit = 1.0 / math.sqrt(self.dim)
        self.weight = self.add_weight(shape=(n, self.dim), name="weight",
                                      initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(shape=(n, self.dim), name="bias",
                                    initializer=keras.initializers.RandomUniform(-limit, limit))
        self.kernel = self.add_weight(shape=(n, bins, self.dim), name="kernel", initializer="zeros")

    def encode(self, x):  # (batch, n) → (batch, n, bins)
        position = (ops.expand_dims(x, -1) - self.left) / self.width
        return ops.minimum(ops.maximum(position, self.lower), self.upper)

    def embed(self, x):
        out = ops.expand_dims(x, -1) * self.weight + self.bias + ops.einsum("bnt,ntd->bnd", self.encode(x),
                                                                            self.kernel)
        return ops.relu(out) if self.activation else out

    def get_config(self):
        return {**super().get_config(), "edges": self.edges, "dim": self.dim, "activation": self.activation}


@keras.saving.register_keras_serializable(package="autosearch")
class SmoothClip(keras.layers.Layer):
    """x / sqrt(1 + (x / limit)²): the identity near 0, never beyond ±`limit` (RealMLP's input clipping). A
    standardised feature far outside the training range (a house 6 standard deviations larger than the rest)
    then reads like the largest ones seen, instead of being extrapolated linearly.

    >>> import numpy as np
    >>> [round(float(v), 2) for v in SmoothClip()(np.array([0.5, 3.0, 100.0], "float32"))]
    [0.49, 2.12, 3.0]
    """

    def __init__(self, limit: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, x):
        return x / ops.sqrt(1.0 + ops.square(x / self.limit))

    def bound(self, values: list[float]) -> list[float]:
        """The same function on plain numbers (bin edges of the inputs it clips)."""
        return [v / math.sqrt(1.0 + (v / self.limit) ** 2) for v in values]

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="autosearch")
class TakeColumns(keras.layers.Layer):
    """(batch, features) → (batch, stop − start): the columns from `start` to `stop`.

    >>> import numpy as np
    >>> ops.convert_to_numpy(TakeColumns(1, 3)(np.arange(8, dtype="float32").reshape(2, 4))).tolist()
    [[1.0, 2.0], [5.0, 6.0]]
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[:, self.start:self.stop]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="autosearch")
class CategoryEmbedding(keras.layers.Layer):
    """(batch, columns) of integer codes (as floats) → (batch, columns × dim): column i's code c in
    0…sizes[i] − 1 becomes row c of that column's own table of `dim`-vectors (one weight matrix holds all
    tables, one after the other). Codes out of range read as 0, the column's code for missing values.

    >>> import numpy as np
    >>> layer = CategoryEmbedding([3, 5], dim=4)
    >>> tuple(layer(np.array([[0, 4], [2, 9]], "float32")).shape)
    (2, 8)
    """

    def __init__(self, sizes: list[int], dim: int, **kwargs):
        super().__init__(**kwargs)
        self.sizes, self.dim = [int(s) for s in sizes], int(dim)
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]

    def build(self, input_shape):
        self.table = self.add_weight(shape=(sum(self.sizes), self.dim), name="table",
                                     initializer=keras.initializers.RandomNormal(stddev=0.1))

    def call(self, codes):
        codes = ops.cast(ops.round(codes), "int32")
        codes = ops.where((codes < 0) | (codes >= ops.array(self.sizes, "int32")), 0, codes)
        rows = ops.take(self.table, codes + ops.array(self.offsets, "int32"), axis=0)  # (batch, columns, dim)
        return ops.reshape(rows, (-1, len(self.sizes) * self.dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.sizes) * self.dim)

    def get_config(self):
        return {**super().get_config(), "sizes": self.sizes, "dim": self.dim}


def category_dim(sizes: list[int], cap: int = 16) -> int:
    """The width of every column's code vectors: fast.ai's rule of thumb, 1.6 × codes^0.56, for the
    column with the most codes, at most `cap`.

    >>> category_dim([30]), category_dim([30, 400]), category_dim([5000])
    (11, 16, 16)
    """
    return min(cap, round(1.6 * max(sizes) ** 0.56))


@keras.saving.register_keras_serializable(package="autosearch")
class StepMask(keras.layers.Layer):
    """(batch, steps, features) → (batch, steps) booleans: True where a step has any non-zero feature.

    Preprocessing makes a padded step all zeros, and a real one never is when a set has padding (its
    ``observed`` feature is 1): the rule of Keras's ``Masking(0.0)``, as a tensor a pooling layer can take.

    >>> import numpy as np
    >>> StepMask()(np.array([[[1.0, 0.0], [0.0, 0.0]]], "float32")).numpy().tolist()
    [[True, False]]
    """

    def call(self, x):
        return ops.any(ops.not_equal(x, 0.0), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_output_spec(self, x):
        return keras.KerasTensor(tuple(x.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package="autosearch")
class MaskSteps(keras.layers.Layer):
    """[(batch, steps, channels), (batch, steps) booleans] → the first with padded steps zeroed: what a
    convolution then reads there is what it reads past the series' end, so padding of any length changes
    nothing.

    >>> import numpy as np
    >>> MaskSteps()([np.ones((1, 2, 1), "float32"), np.array([[True, False]])]).numpy().ravel().tolist()
    [1.0, 0.0]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # The steps it zeroes are where the mask already says "padding"; saying so keeps Keras from warning,
        # once per layer and trial, that a mask attached to x upstream is being destroyed.
        self.supports_masking = True

    def call(self, inputs):
        x, mask = inputs
        return x * ops.expand_dims(ops.cast(mask, x.dtype), -1)

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])


@keras.saving.register_keras_serializable(package="autosearch")
class SublinearNorm(keras.layers.Layer):
    """Term weights x → log(1 + x), then each row scaled to unit length: what scikit-learn's
    ``TfidfVectorizer(sublinear_tf=True)`` hands a linear model. Keras's TF-IDF counts are raw, so a long
    document dwarfs a short one; on the chatterbot topics a linear layer read them at 0.81 test accuracy, and
    0.96 after this.

    >>> import numpy as np
    >>> [round(float(v), 3) for v in SublinearNorm()(np.array([[0.0, np.e - 1, 0.0]], "float32"))[0]]
    [0.0, 1.0, 0.0]
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")  # float16's smallest step would make an empty document 0/0
        super().__init__(**kwargs)

    def call(self, x):
        x = ops.log1p(ops.maximum(x, 0.0))
        return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)


@keras.saving.register_keras_serializable(package="autosearch")
class EnsembleInput(keras.layers.Layer):
    """(batch, features) → (batch, k, features): k copies, each multiplied by its member's adapter
    (initialised to random signs, as TabM-mini does, so the members differ from the first step).

    >>> import numpy as np
    >>> tuple(EnsembleInput(4)(np.ones((2, 3), "float32")).shape)
    (2, 4, 3)
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = int(k)

    def build(self, input_shape):
        self.adapter = self.add_weight(shape=(self.k, int(input_shape[-1])), name="adapter",
                                       initializer=_random_signs)

    def call(self, x):
        return ops.expand_dims(x, 1) * self.adapter

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.k, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "k": self.k}


def _random_signs(shape, dtype=None):
    uniform = keras.random.uniform(shape, dtype=dtype or "float32")
    return ops.where(uniform < 0.5, -1.0, 1.0)


@keras.saving.register_keras_serializable(package="autosearch")
class EnsembleHead(keras.layers.Layer):
    """(batch, k, hidden) → (batch, k, units): one output layer per member, then the head's activation.

    >>> import numpy as np
    >>> tuple(EnsembleHead(3, activation="softmax")(np.ones((2, 4, 5), "float32")).shape)
    (2, 4, 3)
    """

    def __init__(self, units: int, activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = int(units), activation

    def build(self, input_shape):
        k, hidden = int(input_shape[1]), int(input_shape[2])
        limit = 1.0 / math.sqrt(hidden)  # each member's layer as Dense's default would be, independently drawn
        self.kernel = self.add_weight(shape=(k, hidden, self.units), name="kernel",
                                      initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(shape=(k, self.units), name="bias", initializer="zeros")

    def call(self, x):
        out = ops.einsum("bkh,khu->bku", x, self.kernel) + self.bias
        return keras.activations.get(self.activation)(out)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


@keras.saving.register_keras_serializable(package="autosearch")
class EnsembleMean(keras.layers.Layer):
    """While training, every member's output (batch, k, units) goes to the loss (`MemberLoss`); otherwise
    their mean (batch, units) is the prediction."""

    def call(self, x, training=None):
        return x if training else ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="autosearch")
class MemberLoss(keras.losses.Loss):
    """A task's loss for one prediction per sample, or the mean of the members' losses for a BatchEnsemble's
    (batch, k, units) output while training; label smoothing for classification (RealMLP's default).

    `base` is the Keras loss's name as `tasks.Head` gives it; the targets are as `Problem.y_fit` holds them.
    """

    def __init__(self, base: str, units: int = 1, label_smoothing: float = 0.0, huber_delta: float = 1.0,
                 name: str | None = None, reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name or f"member_{base}", reduction=reduction, dtype=dtype)
        self.base, self.units, self.label_smoothing = base, int(units), float(label_smoothing)
        self.huber_delta = float(huber_delta)
        if base == "sparse_categorical_crossentropy" and self.label_smoothing > 0:
            self._per_sample = keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing,
                                                                    reduction=None)
        elif base == "binary_crossentropy":
            self._per_sample = keras.losses.BinaryCrossentropy(label_smoothing=self.label_smoothing, reduction=None)
        elif base == "huber":
            self._per_sample = keras.losses.Huber(delta=self.huber_delta, reduction=None)
        else:
            self._per_sample = keras.losses.get({"class_name": _LOSS_CLASSES[base], "config": {"reduction": None}})

    def call(self, y_true, y_pred):
        members = len(y_pred.shape) == 3
        if members:
            k = y_pred.shape[1]
            y_true = ops.repeat(y_true, k, axis=0)  # sample-major, as the reshape below orders the rows
            y_pred = ops.reshape(y_pred, (-1, y_pred.shape[2]))
        if isinstance(self._per_sample, keras.losses.CategoricalCrossentropy):
            y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.units)
        per_sample = self._per_sample(y_true, y_pred)
        return ops.mean(ops.reshape(per_sample, (-1, k)), axis=1) if members else per_sample

    def get_config(self):
        return {"base": self.base, "units": self.units, "label_smoothing": self.label_smoothing,
                "huber_delta": self.huber_delta, "name": self.name, "reduction": self.reduction}


_LOSS_CLASSES = {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                 "mse": "MeanSquaredError", "mae": "MeanAbsoluteError"}
