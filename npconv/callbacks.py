"""Callbacks for ``fit``: History, the progress bar, EarlyStopping,
ModelCheckpoint, LambdaCallback and TerminateOnNaN, with Keras's hooks."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from .arguments import invalid


class Callback:
    """Base class: every hook is a no-op. ``self.model`` is set by fit."""

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class CallbackList(Callback):
    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise invalid(
                    "callbacks", "a list of npconv.callbacks.Callback objects", type(callback).__name__, error=TypeError
                )
            callback.set_model(model)
            callback.set_params(params)

    def _each(name):
        def hook(self, *args, **kwargs):
            for callback in self.callbacks:
                getattr(callback, name)(*args, **kwargs)

        return hook

    for _name in _HOOKS:
        locals()[_name] = _each(_name)
    del _each, _name


class History(Callback):
    """Collects each epoch's logs: ``history.history['loss']`` is a list."""

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs):
    """'accuracy: 0.9812 - loss: 0.0612', keys sorted as Keras prints them."""
    return " - ".join(f"{key}: {value:.4f}" for key, value in sorted(logs.items()))


class ProgbarLogger(Callback):
    """Keras's progress bar. On a terminal it redraws one line per step; in a
    log (stdout not a terminal) it writes one line per epoch, so CI logs stay
    readable. ``verbose=2`` always writes one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        self.verbose = verbose
        self.stream = stream or sys.stdout

    def on_epoch_begin(self, epoch, logs=None):
        self.steps = self.params["steps"]
        self.start = time.perf_counter()
        self.stream.write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")

    def _interactive(self):
        return self.verbose == 1 and getattr(self.stream, "isatty", lambda: False)()

    def on_train_batch_end(self, batch, logs=None):
        if not self._interactive():
            return
        done = batch + 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.steps - done)
        self.stream.write(f"\r{self._bar(done)} ETA {eta:.0f}s - {format_logs(logs or {})}\033[K")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        per_step = 1000 * elapsed / max(self.steps, 1)
        prefix = "\r" if self._interactive() else ""
        line = f"{self._bar(self.steps)} {elapsed:.0f}s {per_step:.0f}ms/step - {format_logs(logs or {})}"
        self.stream.write(f"{prefix}{line}\033[K\n" if prefix else f"{line}\n")
        self.stream.flush()

    def _bar(self, done, width=20):
        filled = int(width * done / max(self.steps, 1))
        return f"{done}/{self.steps} " + "━" * filled + "─" * (width - filled)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0.0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        if mode not in ("auto", "min", "max"):
            raise invalid("mode", "'auto', 'min' or 'max'", mode)
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.min_delta = abs(min_delta) * self.sign

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = -math.inf * self.sign if self.baseline is None else self.baseline
        self.best_weights = None
        self.best_epoch = 0

    def _improved(self, value, reference):
        return self.sign * (value - self.min_delta - reference) > 0 if reference is not None else True

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                sys.stdout.write(
                    f"Epoch {epoch + 1}: early stopping (best {self.monitor} at epoch {self.best_epoch + 1})\n"
                )


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after each epoch, or only the best one."""

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
    ):
        if mode not in ("auto", "min", "max"):
            raise invalid("mode", "'auto', 'min' or 'max'", mode)
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None or (self.best is not None and self.sign * (value - self.best) <= 0):
                return
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            sys.stdout.write(f"Epoch {epoch + 1}: saved to {path}\n")


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=f)``."""

    def __init__(self, **hooks):
        known = set(_HOOKS)
        unknown = sorted(set(hooks) - known)
        if unknown:
            raise invalid("hooks", f"keyword arguments among {sorted(known)}", unknown, error=TypeError)
        for name, function in hooks.items():
            setattr(self, name, function)


class TerminateOnNaN(Callback):
    """Stop training when the loss becomes NaN or infinite.

    ``fit`` always applies this rule itself and raises ``FloatingPointError``;
    this class exists for code that passes it explicitly.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True
