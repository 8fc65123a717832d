"""compile / fit / evaluate / predict / train_on_batch / test_on_batch, as in Keras 3.

One training loop for every model. A step: forward through the model with
``training=True`` (each layer keeps what its backward needs), one loss per
output scaled by its loss weight, the gradient of each, ``model.backward``
through the graph in reverse topological order (activity regularizers add
their gradient to their layer's output gradient), weight regularizers add
theirs to each weight, then the optimizer updates the weights and applies
their constraints.

A model provides ``_flatten_inputs``, ``_run``, ``backward``, ``outputs``,
``output_names``, ``_output_producers`` and ``_activity_loss``.
"""

from __future__ import annotations

import numbers
import sys
import time

import numpy as np

from ..arguments import invalid
from ..initializers import _global_rng
from . import data as data_module


class Trainer:
    """Training methods shared by Model and Sequential."""

    compiled = False
    stop_training = False

    # -------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
        """Set the optimizer, the loss of each output, their weights and the metrics.

        Args:
            optimizer: an optimizer name or object.
            loss: a loss name or object for every output, or a list (one per
                output) or dict (keyed by output name) of them.
            metrics: a list of metrics; for several outputs a list with one
                entry (a metric or a list) per output, or a dict by output name.
            loss_weights: a number, or a list or dict of numbers: the total
                loss is the sum of each output's loss times its weight.
        """
        from .. import optimizers  # reason: import time, ~10 ms measured (-X importtime), off `import npconv`

        if loss is None:
            raise invalid("loss", "a loss name such as 'mse' or a loss object", None, "npconv.losses lists them.")
        names = self.output_names
        losses = self._per_output("loss", loss, _get_loss, broadcast=True)
        weights = self._per_output("loss_weights", 1.0 if loss_weights is None else loss_weights, _loss_weight, True)
        weights = [1.0 if w is None else w for w in weights]
        metrics = self._compile_metrics(metrics, names)
        optimizer = optimizers.get(optimizer)
        self.optimizer, self.loss, self.loss_weights = optimizer, loss, loss_weights
        self._losses, self._loss_weights, self._metrics = losses, weights, metrics
        self.compiled_metrics = [m for group in metrics for m in group]
        self.compiled = True

    def _per_output(self, name, value, convert, broadcast):
        names = self.output_names
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise invalid(name, f"a dict keyed by output names {names}", f"keys {sorted(value)}")
            return [None if key not in value else convert(value[key], name) for key in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise invalid(name, f"a list of {len(names)} entries, one per output {names}", f"{len(value)} entries")
            return [convert(item, name) for item in value]
        if not broadcast and len(names) > 1:
            raise invalid(name, f"a list or dict with one entry per output {names}", value)
        return [convert(value, name) for _ in names]

    def _compile_metrics(self, metrics, names):
        from .. import metrics as metrics_module  # reason: import time, ~15 ms measured, off `import npconv`

        def group(entry):
            entries = entry if isinstance(entry, (list, tuple)) else [entry]
            return [metrics_module.get(m) for m in entries]

        if metrics is None:
            return [[] for _ in names]
        if isinstance(metrics, dict):
            unknown = sorted(set(metrics) - set(names))
            if unknown:
                raise invalid("metrics", f"a dict keyed by output names {names}", f"keys {sorted(metrics)}")
            return [group(metrics[key]) if key in metrics else [] for key in names]
        if not isinstance(metrics, (list, tuple)):
            raise invalid("metrics", "a list of metric names or objects", metrics, error=TypeError)
        if len(names) == 1:
            return [group(list(metrics))]
        if len(metrics) != len(names):
            raise invalid(
                "metrics",
                f"a list with one entry (a metric or a list of metrics) per output {names}, or a dict",
                metrics,
            )
        return [group(entry) for entry in metrics]

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(). For example: "
                f"model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])."
            )

    # ----------------------------------------------------------------- steps
    def _regularization_loss(self):
        total = self._activity_loss()
        for weight in self.trainable_weights:
            if weight.regularizer is not None:
                total += float(weight.regularizer(weight.value))
        return total

    def _zero_grads(self):
        for weight in self.weights:
            weight.grad = None

    def _loss_functions(self):
        """Per output: (loss used, layer whose activation is swapped for logits, that activation).

        Keras 3 on TensorFlow computes a crossentropy from the logits when the
        output comes from a softmax or sigmoid; the swap does the same here.
        """
        plan = []
        for loss, layer in zip(self._losses, self._output_producers()):
            activation = getattr(layer, "activation", None) if layer is not None else None
            if loss is None or activation is None or layer.activity_regularizer is not None:
                plan.append((loss, None, None))
                continue
            twin = getattr(loss, "logits_equivalent", lambda _: None)(activation)
            plan.append((loss, None, None) if twin is None else (twin, layer, activation))
        return plan

    def _step(self, xs, ys, sample_weight, training):
        """Forward, losses and (when training) gradients.

        Returns (total loss, per-output losses, predictions per output)."""
        plan = self._loss_functions()
        for _, layer, _ in plan:
            if layer is not None:
                layer.activation = None  # the layer yields logits for this step
        try:
            outputs = self._run(xs, training=training)
            total, per_output, dys = 0.0, [], []
            for (loss_fn, _, _), weight, y, y_pred in zip(plan, self._loss_weights, ys, outputs):
                if loss_fn is None:
                    per_output.append(None)
                    dys.append(None)
                    continue
                if training:
                    value, dy = loss_fn.value_and_gradient(y, y_pred, sample_weight=sample_weight)
                    dys.append(dy if weight == 1.0 else dy * np.asarray(weight, dtype=dy.dtype))
                else:
                    value = loss_fn(y, y_pred, sample_weight=sample_weight)
                per_output.append(float(value))
                total += weight * float(value)
            total += self._regularization_loss()
            if training and np.isfinite(total):
                self._zero_grads()
                self.backward(dys if len(dys) > 1 else dys[0], input_grad=False)
                for weight in self.trainable_weights:
                    if weight.regularizer is not None:
                        weight.add_grad(weight.regularizer.gradient(weight.value))
        finally:
            for _, layer, activation in plan:
                if layer is not None:
                    layer.activation = activation
        y_preds = [out if layer is None else activation(out) for (_, layer, activation), out in zip(plan, outputs)]
        return total, per_output, y_preds

    def _train_step(self, xs, ys, sample_weight=None):
        """One optimizer step; a non-finite loss leaves the weights unchanged."""
        result = self._step(xs, ys, sample_weight, training=True)
        if np.isfinite(result[0]):
            pairs = [(w.grad, w) for w in self.trainable_weights if w.grad is not None]
            self.optimizer.apply_gradients(pairs)
        self._zero_grads()
        return result

    # --------------------------------------------------------------- metrics
    def _reset_metrics(self):
        for metric in self.compiled_metrics:
            metric.reset_state()
        self._totals = None

    def _update(self, result, ys, count):
        """Add one batch's losses (weighted by its sample count) and metrics."""
        total, per_output, y_preds = result
        if self._totals is None:
            self._totals = [0.0, [0.0] * len(per_output), 0]
        self._totals[0] += total * count
        self._totals[1] = [t + (v or 0.0) * count for t, v in zip(self._totals[1], per_output)]
        self._totals[2] += count
        # As Keras's compile(metrics=...): metrics are not sample-weighted.
        for group, y, y_pred in zip(self._metrics, ys, y_preds):
            for metric in group:
                metric.update_state(y, y_pred)

    def _logs(self):
        """Keras's log names: 'loss' and the metric names; with several
        outputs also '<output>_loss' and '<output>_<metric>'."""
        total, per_output, count = self._totals
        logs = {"loss": total / max(count, 1)}
        names = self.output_names
        extra = {}
        for name, value, loss, group in zip(names, per_output, self._losses, self._metrics):
            if len(names) > 1 and loss is not None:
                extra[f"{name}_loss"] = value / max(count, 1)
            for metric in group:
                extra[metric.name if len(names) == 1 else f"{name}_{metric.name}"] = float(metric.result())
        logs.update(extra if len(names) == 1 else dict(sorted(extra.items())))
        return logs

    # --------------------------------------------------------- batch methods
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys, sample_weight = self._prepare(x, y, sample_weight, class_weight)
        self._reset_metrics()
        self._update(self._train_step(xs, ys, sample_weight), ys, len(xs[0]))
        return self._result(self._logs(), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of one batch, without training."""
        self._require_compiled("test_on_batch")
        xs, ys, sample_weight = self._prepare(x, y, sample_weight)
        self._reset_metrics()
        self._update(self._step(xs, ys, sample_weight, training=False), ys, len(xs[0]))
        return self._result(self._logs(), return_dict)

    def predict_on_batch(self, x):
        """The model's outputs on one batch, in inference mode."""
        return self._pack_outputs(self._run(self._flatten_inputs(x, "x"), training=False))

    def _result(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def _prepare(self, x, y, sample_weight=None, class_weight=None, name="x"):
        """Flat input arrays, flat target arrays (None for an output without a
        loss) and per-sample weights, all checked to hold the same samples."""
        if x is None:
            raise invalid(name, "an array, or a list or dict of arrays", None)
        if y is None:
            raise invalid("y", "an array of targets (or a list or dict, one per output)", None)
        xs = self._flatten_inputs(x, name)
        ys = self._flatten_targets(y)
        samples = len(xs[0]) if xs[0].ndim else 0
        for label, array in [*((name, a) for a in xs), *(("y", a) for a in ys if a is not None)]:
            if array.ndim == 0 or len(array) != samples:
                raise invalid(
                    label,
                    f"as many samples as x ({samples})",
                    f"{len(array) if array.ndim else 'a scalar'} samples",
                    "x and y must have the same first dimension.",
                )
        if samples == 0:
            raise invalid(name, "at least one sample", "0 samples")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype="float64")
            if sample_weight.ndim == 0 or len(sample_weight) != samples:
                raise invalid("sample_weight", f"{samples} values, one per sample", f"shape {sample_weight.shape}")
        if class_weight is not None:
            sample_weight = data_module.apply_class_weight(class_weight, ys, sample_weight, len(ys))
        return xs, ys, sample_weight

    def _flatten_targets(self, y):
        names = self.output_names
        if isinstance(y, dict):
            unknown = sorted(set(map(str, y)) - set(names))
            if unknown:
                raise invalid("y", f"a dict keyed by output names {names}", f"keys {sorted(map(str, y))}")
            ys = [y.get(key) for key in names]
        elif isinstance(y, (list, tuple)) and len(names) > 1:
            ys = list(y)
            if len(ys) != len(names):
                raise invalid("y", f"{len(names)} arrays, one per output {names}", f"{len(ys)} arrays")
        else:
            ys = [y] if len(names) == 1 else None
            if ys is None:
                raise invalid("y", f"a list or dict of {len(names)} arrays, one per output {names}", "one array")
        for i, (target, loss) in enumerate(zip(ys, getattr(self, "_losses", [None] * len(ys)))):
            if target is None and loss is not None:
                raise invalid("y", f"a target for output '{names[i]}', which has a loss", None)
        return [None if target is None else np.asarray(target) for target in ys]

    # ------------------------------------------------------------------- fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs``; returns a History whose ``.history`` maps each
        log name ('loss', 'accuracy', 'val_loss', ...) to per-epoch values.

        Args:
            x, y: arrays (or lists/dicts of arrays for several inputs and
                outputs); or x alone as a PyDataset-like object (``__len__`` and
                ``__getitem__`` giving ``(x, y)`` or ``(x, y, sample_weight)``
                batches) or a generator of such batches.
            batch_size: samples per step for arrays (default 32).
            epochs, initial_epoch: train epochs ``initial_epoch .. epochs - 1``.
            validation_split: the last fraction of array data held out.
            validation_data: ``(x, y)``, ``(x, y, sample_weight)``, or a
                dataset or generator; checked before the first step.
            shuffle: reshuffle samples (or a dataset's batch order) each epoch.
            class_weight: a dict from class index to a weight for its samples.
            sample_weight: per-sample weights for array data.
            steps_per_epoch, validation_steps: batches per epoch and per
                validation; needed for an endless generator.
            validation_freq: validate every this many epochs.
        """
        from .. import callbacks as callbacks_module  # reason: import time (~5 ms), off `import npconv`

        self._require_compiled("fit")
        batch_size = _optional_positive_int(batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs", minimum=0)
        initial_epoch = _positive_int(initial_epoch, "initial_epoch", minimum=0)
        steps_per_epoch = _optional_positive_int(steps_per_epoch, "steps_per_epoch")
        validation_steps = _optional_positive_int(validation_steps, "validation_steps")
        validation_freq = _positive_int(validation_freq, "validation_freq")
        validation_batch_size = _optional_positive_int(validation_batch_size, "validation_batch_size")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real):
            raise invalid("validation_split", "a float in [0, 1)", validation_split, error=TypeError)
        if not 0.0 <= validation_split < 1.0:
            raise invalid("validation_split", "a float in [0, 1)", validation_split)
        train = data_module.make_source(self, x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight)
        if validation_data is None and validation_split:
            if not hasattr(train, "split"):
                raise invalid(
                    "validation_split",
                    "0 when x is a dataset or generator (only arrays can be split)",
                    validation_split,
                    "Pass validation_data= instead.",
                )
            train, validation = train.split(validation_split)
        elif validation_data is not None:
            validation = data_module.make_validation(
                self, validation_data, validation_batch_size or batch_size, validation_steps
            )
        else:
            validation = None
        if validation is not None:
            validation.check(self)  # a bad validation set fails now, before any weight changes
        history = callbacks_module.History()
        verbose = 1 if verbose == "auto" else verbose
        progress = [callbacks_module.ProgbarLogger(verbose)] if verbose else []
        hooks = [*progress, *(callbacks or []), history]  # History last, as Keras: it sees every log
        params = {"epochs": epochs, "steps": train.steps, "verbose": verbose}
        callback_list = callbacks_module.CallbackList(hooks, self, params)
        self.stop_training = False
        self.history = history
        callback_list.on_train_begin()
        rng = _global_rng()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._run_epoch(train, rng, callback_list, epoch)
            if logs is None:
                break
            if validation is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                val = self._evaluate_source(validation, callback_list=None)
                logs.update({f"val_{key}": value for key, value in val.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return history

    def _run_epoch(self, train, rng, callback_list, epoch):
        self._reset_metrics()
        logs = None
        for step, (xs, ys, weights) in enumerate(train.batches(rng)):
            callback_list.on_train_batch_begin(step)
            result = self._train_step(xs, ys, weights)
            if not np.isfinite(result[0]):
                finite = all(np.isfinite(w.value).all() for w in self.weights)
                state = (
                    "the weights are those of the last finite step"
                    if finite
                    else "the weights already hold NaN or Inf from an earlier update, so reload a checkpoint"
                )
                sys.stderr.write(
                    f"Epoch {epoch + 1}, batch {step}: the loss is {result[0]}. Training stopped before "
                    f"this update; {state}. Lower the learning rate or check the data for NaN/Inf.\n"
                )
                self.stop_training = True
                return None
            self._update(result, ys, len(xs[0]))
            logs = self._logs()
            callback_list.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        if logs is None:
            if train.exhausted:
                sys.stderr.write(
                    f"Epoch {epoch + 1}: the input ran out of data; training stopped. Pass steps_per_epoch "
                    f"and a generator that repeats, or a PyDataset.\n"
                )
                self.stop_training = True
                return None
            raise invalid("x", "at least one batch per epoch", "no batches")
        return logs

    # -------------------------------------------------------------- evaluate
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """Loss and metrics over the data, averaged over samples as Keras does.

        Takes arrays, a PyDataset-like object or a generator (as ``fit``);
        ``steps`` limits the batches; ``callbacks`` get the test hooks.
        """
        from .. import callbacks as callbacks_module  # reason: import time (~5 ms), off `import npconv`

        self._require_compiled("evaluate")
        batch_size = _optional_positive_int(batch_size, "batch_size")
        steps = _optional_positive_int(steps, "steps")
        if data_module.is_dask_collection(x):
            from .. import distributed  # reason: import time, ~35 ms with npconv.saving, only for dask input

            if sample_weight is not None or steps is not None or callbacks:
                raise invalid("x", "NumPy arrays when sample_weight, steps or callbacks are given", "dask arrays")
            return distributed.evaluate(self, x, y, batch_size=batch_size, return_dict=return_dict)
        source = data_module.make_source(self, x, y, sample_weight, batch_size, steps, shuffle=False)
        callback_list = callbacks_module.CallbackList(list(callbacks or []), self, {"steps": source.steps})
        logs = self._evaluate_source(source, callback_list)
        if verbose not in (0, False, "auto"):
            sys.stdout.write(callbacks_module.format_logs(logs) + "\n")
        return self._result(logs, return_dict)

    def _evaluate_source(self, source, callback_list):
        if callback_list is not None:
            callback_list.on_test_begin()
        self._reset_metrics()
        for step, (xs, ys, weights) in enumerate(source.batches(None)):
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            self._update(self._step(xs, ys, weights, training=False), ys, len(xs[0]))
            if callback_list is not None:
                callback_list.on_test_batch_end(step, self._logs())
        if self._totals is None:
            raise invalid("x", "at least one batch to evaluate", "no batches")
        logs = self._logs()
        if callback_list is not None:
            callback_list.on_test_end(logs)
        return logs

    # --------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs on ``x``, in batches of ``batch_size`` (default 32).

        ``x``: arrays (a list or dict for several inputs), a PyDataset-like
        object or a generator (each batch ``x`` or ``(x, ...)``). ``steps``
        limits the number of batches; ``callbacks`` get the predict hooks.
        A dask array gives a lazy dask array (see :mod:`npconv.distributed`).
        """
        from .. import callbacks as callbacks_module  # reason: import time (~5 ms), off `import npconv`

        if data_module.is_dask_collection(x):
            from ..distributed import predict  # reason: import time, ~35 ms with npconv.saving, only for dask input

            return predict(self, x, batch_size=batch_size)

        batch_size = _optional_positive_int(batch_size, "batch_size")
        steps = _optional_positive_int(steps, "steps")
        source = data_module.make_source(self, x, None, None, batch_size, steps, shuffle=False, targets=False)
        callback_list = callbacks_module.CallbackList(list(callbacks or []), self, {"steps": source.steps})
        callback_list.on_predict_begin()
        start = time.perf_counter()
        parts = []
        for step, (xs, _, _) in enumerate(source.batches(None)):
            callback_list.on_predict_batch_begin(step)
            outputs = self._run(xs, training=False)
            parts.append(outputs)
            callback_list.on_predict_batch_end(step, {"outputs": self._pack_outputs(outputs)})
        if not parts:
            raise invalid("x", "at least one sample", "no batches")
        if verbose not in (0, False):
            _progress_line(len(parts), time.perf_counter() - start)
        joined = [np.concatenate([part[i] for part in parts], axis=0) for i in range(len(parts[0]))]
        callback_list.on_predict_end()
        return self._pack_outputs(joined)


def _progress_line(steps, seconds):
    per_step = 1000 * seconds / max(steps, 1)
    sys.stdout.write(f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {per_step:.0f}ms/step\n")


def _get_loss(identifier, name):
    from .. import losses  # reason: import time, ~15 ms measured, off `import npconv`

    if identifier is None:
        return None
    try:
        return losses.get(identifier)
    except (ValueError, TypeError) as error:
        raise type(error)(f"Invalid value for argument `{name}`. {error}") from None


def _loss_weight(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise invalid(name, "finite non-negative numbers (one per output, or a dict by output name)", value)
    return float(value)


def _positive_int(value, name, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < minimum:
        raise invalid(name, f"an int >= {minimum}", value)
    return int(value)


def _optional_positive_int(value, name):
    return None if value is None else _positive_int(value, name)
