"""Callbacks for ``fit``: History, the progress bar, EarlyStopping,
ModelCheckpoint, LambdaCallback and TerminateOnNaN, with Keras's hooks."""

from __future__ import annotations

import csv
import math
import os
import sys
import time

import numpy as np

from .arguments import invalid


class Callback:
    """Base class: every hook is a no-op. ``self.model`` is set by fit."""

    def set_model(self, model):
        """Give the callback the model being trained (``fit`` calls this)."""
        self.model = model

    def set_params(self, params):
        """Give the callback the run's settings: ``epochs``, ``steps``, ``verbose``."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs=None):
        """Called once when ``fit`` ends, with the last epoch's logs."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (``epoch`` counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch with its logs, validation metrics included."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before each training step (``batch`` counts from 0 in each epoch)."""

    def on_train_batch_end(self, batch, logs=None):
        """Called after each training step with the running logs."""

    def on_test_begin(self, logs=None):
        """Called when ``evaluate`` (or ``fit``'s validation) starts."""

    def on_test_end(self, logs=None):
        """Called when ``evaluate`` (or ``fit``'s validation) ends, with its logs."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after each evaluation batch with the running logs."""

    def on_predict_begin(self, logs=None):
        """Called when ``predict`` starts."""

    def on_predict_end(self, logs=None):
        """Called when ``predict`` ends."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after each prediction batch."""


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
    """Several callbacks called as one: each hook calls every callback's hook, in order.

    Args:
        callbacks: a list of :class:`Callback` objects.
        model: the model each callback is given (``set_model``).
        params: the run's settings each callback is given (``set_params``):
            ``epochs``, ``steps``, ``verbose``.
    """

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

        hook.__name__, hook.__doc__ = name, getattr(Callback, name).__doc__
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
    """Logs as one line, keys sorted, as Keras prints them.

    Args:
        logs: a dict of metric name -> number.

    Returns:
        A string such as ``"accuracy: 0.9812 - loss: 0.0612"``.
    """
    return " - ".join(f"{key}: {value:.4f}" for key, value in sorted(logs.items()))


class ProgbarLogger(Callback):
    """Keras's progress bar, printed during ``fit``.

    On a terminal it redraws one line per step; in a log (the stream is not a
    terminal) it writes one line per epoch, so CI logs stay readable.

    Args:
        verbose: 1 for the bar, 2 for one line per epoch wherever it goes.
        stream: the text stream written to (default ``sys.stdout``).
    """

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
    """Stop training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: the log entry watched, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: the smallest change that counts as an improvement.
        patience: how many epochs without improvement to wait before stopping.
        verbose: 1 prints a line when training stops.
        mode: ``"min"`` (lower is better), ``"max"``, or ``"auto"``: ``"max"``
            for names with ``"acc"`` or ending in ``"auc"``, else ``"min"``.
        baseline: a value to beat: the wait only resets on epochs that beat it.
        restore_best_weights: when stopping, set the weights back to those of
            the best epoch.
        start_from_epoch: epochs before this one are not watched (a warm-up).

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

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
    """Save the model (or its weights) after each epoch, or only the best one.

    Each save is atomic: a checkpoint that fails or is killed part-way leaves
    the previous file as it was. ``filepath`` may hold ``{epoch}`` and log
    names (``"ckpt-{epoch}-{val_loss:.3f}.npconv"``); it must end in
    ``.npconv`` (or ``.keras``), or in ``.weights.npz`` (or ``.weights.h5``)
    with ``save_weights_only=True``, and is checked when the callback is made.

    Args:
        filepath: where to save; may hold ``{epoch}`` and log names.
        monitor: the log entry compared by ``save_best_only``.
        verbose: 1 prints a line for each save.
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: save the weights (``save_weights``) instead of the
            whole model (``save``).
        mode: ``"min"``, ``"max"`` or ``"auto"`` (as :class:`EarlyStopping`'s).
    """

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
        suffixes = (".weights.npz", ".weights.h5") if save_weights_only else (".npconv", ".keras")
        if not str(filepath).endswith(suffixes):
            writer = "model.save_weights()" if save_weights_only else "model.save()"
            raise invalid(
                "filepath",
                f"a path ending in {suffixes[0]!r} (or {suffixes[1]!r}), as {writer} writes with "
                f"save_weights_only={bool(save_weights_only)}",
                str(filepath),
            )
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


def _current_rate(model):
    return float(np.asarray(model.optimizer.learning_rate))


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of each epoch.

    Args:
        schedule: ``schedule(epoch, lr)`` (or ``schedule(epoch)``) returning
            the new rate; ``epoch`` counts from 0.
        verbose: 1 prints each change.
    """

    def __init__(self, schedule, verbose=0):
        if not callable(schedule):
            raise invalid("schedule", "a function schedule(epoch, lr) -> float", schedule, error=TypeError)
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        rate = _current_rate(self.model)
        try:
            new = self.schedule(epoch, rate)
        except TypeError:
            new = self.schedule(epoch)  # Keras 2's one-argument schedules
        if isinstance(new, bool) or not isinstance(new, (float, int, np.floating, np.integer)) or not np.isfinite(new):
            raise invalid("schedule", "a function returning a finite float", new, error=TypeError)
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            sys.stdout.write(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.\n")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _current_rate(self.model)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved
    by ``min_delta`` for ``patience`` epochs, as ``keras.callbacks.ReduceLROnPlateau``.

    Args:
        monitor: the log to watch ('val_loss' by default).
        factor: the multiplier, in [0, 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints each reduction.
        mode: 'min', 'max' or 'auto' (max for accuracies).
        min_delta: the smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below this.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        if mode not in ("auto", "min", "max"):
            raise invalid("mode", "'auto', 'min' or 'max'", mode)
        if not 0.0 <= factor < 1.0:
            raise invalid("factor", "a float in [0, 1)", factor, "A factor of 1 would never change the rate.")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, float(min_lr)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.mode = mode
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _better(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = _current_rate(self.model)
        value = logs.get(self.monitor)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(value):
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = _current_rate(self.model)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose:
                        sys.stdout.write(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.\n")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Write each epoch's logs as one CSV row: an ``epoch`` column, then the
    log names in sorted order (with ``val_`` columns, 'NA' until validation
    runs, when the first epoch has none), as ``keras.callbacks.CSVLogger``.

    Args:
        filename: the CSV file.
        separator: the column separator (',' by default).
        append: add to an existing file instead of starting a new one.
    """

    def __init__(self, filename, separator=",", append=False):
        self.filename = str(filename)
        self.separator = separator
        self.append = bool(append)
        self.keys = None
        self.file = None

    def on_train_begin(self, logs=None):
        exists = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._header_written = self.append and exists
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs)
            if not any(key.startswith("val_") for key in self.keys):
                # As Keras: columns for validation logs that may come later (validation_freq > 1).
                self.keys += [f"val_{key}" for key in self.keys]
        writer = csv.writer(self.file, delimiter=self.separator, lineterminator="\n")
        if not self._header_written:
            writer.writerow(["epoch", *self.keys])
            self._header_written = True
        writer.writerow([epoch, *(_csv_value(logs.get(key, "NA")) for key in self.keys)])
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
            self.file = None


def _csv_value(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return value
