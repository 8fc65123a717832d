"""compile / fit / evaluate / train_on_batch / test_on_batch, as in Keras 3.

One training step: forward with ``training=True`` keeping each layer's
output, the loss and its gradient, each layer's ``backward`` in reverse order
(activity regularizers add their gradient to their layer's output gradient),
weight regularizers add theirs to each weight, then the optimizer updates the
weights and applies their constraints.
"""

from __future__ import annotations

import sys

import numpy as np

from ..arguments import invalid


class Trainer:
    """Training methods for a model that has ``layers`` and ``__call__``."""

    compiled = False
    stop_training = False

    # -------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None):
        from .. import losses, optimizers
        from .. import metrics as metrics_module

        if loss is None:
            raise invalid("loss", "a loss name such as 'mse' or a loss object", None, "npconv.losses lists them.")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise invalid("metrics", "a list of metric names or objects", metrics, error=TypeError)
        self.compiled_metrics = [metrics_module.get(m, loss=self.loss) for m in metrics or ()]
        self.compiled = True

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {method}(). For example: "
                f"model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])."
            )

    # ----------------------------------------------------------------- steps
    def _forward(self, x, training):
        outputs = []
        for layer in self.layers:
            x = layer(x, training=training)
            outputs.append(x)
        return outputs

    def _regularization_loss(self, outputs):
        total = 0.0
        for layer, output in zip(self.layers, outputs):
            if layer.activity_regularizer is not None:
                total += float(layer.activity_regularizer(output)) / max(len(output), 1)
            for weight in layer.trainable_weights:
                if weight.regularizer is not None:
                    total += float(weight.regularizer(weight.value))
        return total

    def _backward(self, outputs, dy):
        first = self.layers[0]
        for layer, output in zip(reversed(self.layers), reversed(outputs)):
            if layer.activity_regularizer is not None:
                dy = dy + layer.activity_regularizer.gradient(output) / max(len(output), 1)
            dy = layer.backward(dy, input_grad=layer is not first)
        for weight in self.trainable_weights:
            if weight.regularizer is not None:
                weight.add_grad(weight.regularizer.gradient(weight.value))

    def _zero_grads(self):
        for weight in self.weights:
            weight.grad = None

    def _logits_loss(self):
        """(last layer, its activation, loss on logits) when Keras would compute
        the crossentropy from the logits under a final softmax/sigmoid, else None.

        Keras 3 on TensorFlow does this: a softmax or sigmoid output remembers
        its logits, and the crossentropy losses use them (no clipping).
        """
        last = self.layers[-1] if self.layers else None
        activation = getattr(last, "activation", None)
        if activation is None or last.activity_regularizer is not None:
            return None
        twin = getattr(self.loss, "logits_equivalent", lambda _: None)(activation)
        return None if twin is None else (last, activation, twin)

    def _step(self, x, y, sample_weight, training):
        """Forward, loss and (when training) gradients. Returns (loss, y_pred)."""
        if not self.built:
            self.build(np.shape(x))
        logits = self._logits_loss()
        loss_fn = self.loss if logits is None else logits[2]
        if logits is not None:
            logits[0].activation = None  # the last layer yields logits for this step
        try:
            outputs = self._forward(x, training=training)
            if training:
                loss, dy = loss_fn.value_and_gradient(y, outputs[-1], sample_weight=sample_weight)
            else:
                loss = loss_fn(y, outputs[-1], sample_weight=sample_weight)
            loss = float(loss) + self._regularization_loss(outputs)
            if training and np.isfinite(loss):
                self._zero_grads()
                self._backward(outputs, dy)
        finally:
            if logits is not None:
                logits[0].activation = logits[1]
        y_pred = outputs[-1] if logits is None else logits[1](outputs[-1])
        return loss, y_pred

    def _train_step(self, x, y, sample_weight=None):
        """One optimizer step. Returns the batch's loss (with regularization)
        and predictions; a non-finite loss leaves the weights unchanged."""
        loss, y_pred = self._step(x, y, sample_weight, training=True)
        if np.isfinite(loss):
            pairs = [(w.grad, w) for w in self.trainable_weights if w.grad is not None]
            self.optimizer.apply_gradients(pairs)
        self._zero_grads()
        return loss, y_pred

    def _test_step(self, x, y, sample_weight=None):
        return self._step(x, y, sample_weight, training=False)

    def _reset_metrics(self):
        for metric in self.compiled_metrics:
            metric.reset_state()

    def _update_metrics(self, y, y_pred, sample_weight):
        # As Keras's compile(metrics=...): metrics are not sample-weighted.
        for metric in self.compiled_metrics:
            metric.update_state(y, y_pred)

    def _logs(self, loss):
        logs = {"loss": loss}
        for metric in self.compiled_metrics:
            logs[metric.name] = float(metric.result())
        return logs

    # --------------------------------------------------------- batch methods
    def train_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """One step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x, y, sample_weight = _check_data(x, y, sample_weight)
        self._reset_metrics()
        loss, y_pred = self._train_step(x, y, sample_weight)
        self._update_metrics(y, y_pred, sample_weight)
        return self._result(self._logs(loss), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        x, y, sample_weight = _check_data(x, y, sample_weight)
        self._reset_metrics()
        loss, y_pred = self._test_step(x, y, sample_weight)
        self._update_metrics(y, y_pred, sample_weight)
        return self._result(self._logs(loss), return_dict)

    def _result(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

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
        sample_weight=None,
        initial_epoch=0,
    ):
        """Train for ``epochs``; returns a History whose ``.history`` maps each
        log name ('loss', 'accuracy', 'val_loss', ...) to per-epoch values."""
        from .. import callbacks as callbacks_module
        from ..initializers import _global_rng

        self._require_compiled("fit")
        x, y, sample_weight = _check_data(x, y, sample_weight)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs", minimum=0)
        if not 0.0 <= validation_split < 1.0:
            raise invalid("validation_split", "a float in [0, 1)", validation_split)
        if validation_data is None and validation_split:
            split_at = int(np.floor(len(x) * (1.0 - validation_split)))
            if split_at in (0, len(x)):
                raise invalid(
                    "validation_split",
                    f"a fraction that leaves both parts of {len(x)} samples non-empty",
                    validation_split,
                )
            validation_data = (x[split_at:], y[split_at:])
            x, y = x[:split_at], y[:split_at]
            sample_weight = None if sample_weight is None else sample_weight[:split_at]
        if validation_data is not None:
            validation_data = _check_data(*validation_data)
        steps = -(-len(x) // batch_size)
        history = callbacks_module.History()
        hooks = [history, *(callbacks or [])]
        verbose = 1 if verbose == "auto" else verbose
        if verbose:
            hooks.insert(1, callbacks_module.ProgbarLogger(verbose))
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        callback_list = callbacks_module.CallbackList(hooks, self, params)
        self.stop_training = False
        self.history = history
        callback_list.on_train_begin()
        rng = _global_rng()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            logs = self._run_epoch(x, y, sample_weight, order, batch_size, callback_list, epoch)
            if logs is None:
                break
            if validation_data is not None:
                val_x, val_y, val_weights = validation_data
                val = self.evaluate(
                    val_x, val_y, batch_size=batch_size, verbose=0, sample_weight=val_weights, return_dict=True
                )
                logs.update({f"val_{key}": value for key, value in val.items()})
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return history

    def _run_epoch(self, x, y, sample_weight, order, batch_size, callback_list, epoch):
        self._reset_metrics()
        total, count = 0.0, 0
        for step, start in enumerate(range(0, len(x), batch_size)):
            index = order[start : start + batch_size]
            weights = None if sample_weight is None else sample_weight[index]
            callback_list.on_train_batch_begin(step)
            loss, y_pred = self._train_step(x[index], y[index], weights)
            if not np.isfinite(loss):
                finite = all(np.isfinite(w.value).all() for w in self.weights)
                state = (
                    "the weights are those of the last finite step"
                    if finite
                    else "the weights already hold NaN or Inf from an earlier update, so reload a checkpoint"
                )
                sys.stderr.write(
                    f"Epoch {epoch + 1}, batch {step}: the loss is {loss}. Training stopped before "
                    f"this update; {state}. Lower the learning rate or check the data for NaN/Inf.\n"
                )
                self.stop_training = True
                return None
            total, count = total + loss * len(index), count + len(index)
            self._update_metrics(y[index], y_pred, weights)
            callback_list.on_train_batch_end(step, self._logs(total / count))
            if self.stop_training:
                break
        return self._logs(total / max(count, 1))

    # -------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False):
        """Loss and metrics over (x, y), averaged over samples as Keras does."""
        self._require_compiled("evaluate")
        x, y, sample_weight = _check_data(x, y, sample_weight)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        self._reset_metrics()
        total = 0.0
        for start in range(0, len(x), batch_size):
            part = slice(start, start + batch_size)
            weights = None if sample_weight is None else sample_weight[part]
            loss, y_pred = self._test_step(x[part], y[part], weights)
            total += loss * len(x[part])
            self._update_metrics(y[part], y_pred, weights)
        logs = self._logs(total / len(x))
        if verbose not in (0, False, "auto"):
            from ..callbacks import format_logs

            sys.stdout.write(format_logs(logs) + "\n")
        return self._result(logs, return_dict)


def _positive_int(value, name, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise invalid(name, f"an int >= {minimum}", value)
    return int(value)


def _check_data(x, y, sample_weight=None):
    """x and y as arrays with the same number of samples."""
    if x is None or y is None:
        raise invalid("y" if x is not None else "x", "an array (npconv takes x and y as arrays)", None)
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise invalid(
            "y",
            f"as many samples as x ({len(x) if x.ndim else 'scalar x'})",
            f"{len(y) if y.ndim else 'a scalar'} samples",
            "x and y must have the same first dimension.",
        )
    if len(x) == 0:
        raise invalid("x", "at least one sample", "0 samples")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype="float64")
        if len(sample_weight) != len(x):
            raise invalid("sample_weight", f"{len(x)} values, one per sample", f"{len(sample_weight)} values")
    return x, y, sample_weight
