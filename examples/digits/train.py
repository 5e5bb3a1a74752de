#!/usr/bin/env python3
"""Train a handwritten-digit classifier with nothing but the Python standard library.

The model is multinomial logistic regression (a linear layer followed by softmax)
over the 64 pixels of the 8x8 UCI digits images, fitted with mini-batch stochastic
gradient descent. Pixel values 0..16 are scaled to [0, 1].

Every epoch logs train_loss, train_accuracy and test_accuracy (step = epoch) through
trainyard_run when it is importable (inside a trainyard job); elsewhere the metrics
are just printed. At the end final_test_accuracy is logged and the model is written
as JSON to $TRAINYARD_OUTPUTS_DIR/model.json, or ./outputs/model.json when that
variable is unset.

    python3 train.py                      # defaults: 15 epochs, seed 42
    python3 train.py --epochs 30 --learning-rate 0.5
"""

import argparse
import gzip
import json
import math
import os
import random
import sys
import time
from itertools import repeat
from operator import add, mul

try:
    from trainyard_run import log_metrics
except ImportError:  # Running outside trainyard: print the metrics instead.

    def log_metrics(metrics, step=None):
        suffix = "" if step is None else " (step %d)" % step
        for name, value in metrics.items():
            print("metric %s=%r%s" % (name, float(value), suffix), flush=True)


HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "data", "digits.csv.gz")
N_PIXELS = 64
MAX_PIXEL = 16.0


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Softmax regression on the UCI 8x8 handwritten digits, standard library only."
    )
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="CSV (optionally gzipped): 64 pixel values 0..16 then the label per row "
                        "(default: data/digits.csv.gz next to this script)")
    p.add_argument("--epochs", type=int, default=15, help="passes over the training set (default 15)")
    p.add_argument("--learning-rate", type=float, default=0.5, help="SGD step size (default 0.5)")
    p.add_argument("--batch-size", type=int, default=16, help="examples per SGD step (default 16)")
    p.add_argument("--seed", type=int, default=42, help="seed for the split and shuffling (default 42)")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of each class held out for testing (default 0.2)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if not (args.learning_rate > 0 and math.isfinite(args.learning_rate)):
        p.error("--learning-rate must be a positive number")
    if args.batch_size < 1:
        p.error("--batch-size must be at least 1")
    if not 0 < args.test_fraction < 1:
        p.error("--test-fraction must be between 0 and 1 (exclusive)")
    return args


def load_digits(path):
    """Return (images, labels): images as lists of 64 floats in [0, 1], labels as ints."""
    opener = gzip.open if path.endswith(".gz") else open
    images, labels = [], []
    try:
        with opener(path, "rt", encoding="ascii") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                fields = line.split(",")
                if len(fields) != N_PIXELS + 1:
                    raise ValueError("%s:%d: expected %d comma-separated values, found %d"
                                     % (path, lineno, N_PIXELS + 1, len(fields)))
                try:
                    values = [int(float(v)) for v in fields]
                except ValueError:
                    raise ValueError("%s:%d: non-numeric value" % (path, lineno)) from None
                pixels, label = values[:N_PIXELS], values[N_PIXELS]
                if min(pixels) < 0 or max(pixels) > MAX_PIXEL:
                    raise ValueError("%s:%d: pixel values must lie in 0..16" % (path, lineno))
                images.append([v / MAX_PIXEL for v in pixels])
                labels.append(label)
    except FileNotFoundError:
        sys.exit("train.py: data file not found: %s" % path)
    if not images:
        sys.exit("train.py: no examples in %s" % path)
    return images, labels


def stratified_split(labels, test_fraction, rng):
    """Hold out the same share of every class; returns (train_idx, test_idx)."""
    by_class = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    train_idx, test_idx = [], []
    for y in sorted(by_class):
        idx = by_class[y]
        rng.shuffle(idx)
        n_test = max(1, round(len(idx) * test_fraction)) if len(idx) > 1 else 0
        test_idx.extend(idx[:n_test])
        train_idx.extend(idx[n_test:])
    rng.shuffle(train_idx)
    rng.shuffle(test_idx)
    return train_idx, test_idx


class SoftmaxRegression:
    def __init__(self, n_features, n_classes):
        self.weights = [[0.0] * n_features for _ in range(n_classes)]
        self.biases = [0.0] * n_classes

    def probabilities(self, x):
        logits = [sum(map(mul, w, x), b) for w, b in zip(self.weights, self.biases)]
        top = max(logits)
        exps = [math.exp(z - top) for z in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def predict(self, x):
        logits = [sum(map(mul, w, x), b) for w, b in zip(self.weights, self.biases)]
        return logits.index(max(logits))

    def sgd_step(self, batch_x, batch_y, learning_rate):
        """One step on the mean cross-entropy of the batch; returns the batch's summed loss."""
        n_classes = len(self.biases)
        grad_w = [[0.0] * len(self.weights[0]) for _ in range(n_classes)]
        grad_b = [0.0] * n_classes
        loss = 0.0
        for x, y in zip(batch_x, batch_y):
            p = self.probabilities(x)
            loss -= math.log(max(p[y], 1e-300))
            p[y] -= 1.0  # gradient of the loss with respect to the logits
            for k in range(n_classes):
                d = p[k]
                if d > 1e-7 or d < -1e-7:
                    grad_w[k] = list(map(add, grad_w[k], map(mul, x, repeat(d))))
                    grad_b[k] += d
        scale = -learning_rate / len(batch_x)
        for k in range(n_classes):
            self.weights[k] = list(map(add, self.weights[k], map(mul, grad_w[k], repeat(scale))))
            self.biases[k] += scale * grad_b[k]
        return loss

    def evaluate(self, xs, ys):
        """Return (mean cross-entropy, accuracy) over the given examples."""
        loss, correct = 0.0, 0
        for x, y in zip(xs, ys):
            p = self.probabilities(x)
            loss -= math.log(max(p[y], 1e-300))
            correct += p.index(max(p)) == y
        return loss / len(xs), correct / len(xs)


def outputs_dir():
    return os.environ.get("TRAINYARD_OUTPUTS_DIR") or os.path.join(os.getcwd(), "outputs")


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    rng = random.Random(args.seed)

    images, labels = load_digits(args.data)
    classes = sorted(set(labels))
    index_of = {c: i for i, c in enumerate(classes)}
    targets = [index_of[y] for y in labels]
    train_idx, test_idx = stratified_split(targets, args.test_fraction, rng)
    train_x = [images[i] for i in train_idx]
    train_y = [targets[i] for i in train_idx]
    test_x = [images[i] for i in test_idx]
    test_y = [targets[i] for i in test_idx]
    print("loaded %d images (%d classes) from %s: %d for training, %d for testing"
          % (len(images), len(classes), args.data, len(train_x), len(test_x)), flush=True)

    model = SoftmaxRegression(N_PIXELS, len(classes))
    order = list(range(len(train_x)))
    train_loss = train_acc = test_acc = 0.0
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.monotonic()
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            model.sgd_step([train_x[i] for i in batch], [train_y[i] for i in batch],
                           args.learning_rate)
        train_loss, train_acc = model.evaluate(train_x, train_y)
        _, test_acc = model.evaluate(test_x, test_y)
        print("epoch %2d/%d  train_loss %.4f  train_accuracy %.4f  test_accuracy %.4f  (%.2fs)"
              % (epoch, args.epochs, train_loss, train_acc, test_acc,
                 time.monotonic() - epoch_start), flush=True)
        log_metrics({"train_loss": train_loss, "train_accuracy": train_acc,
                     "test_accuracy": test_acc}, step=epoch)

    log_metrics({"final_test_accuracy": test_acc})

    out_dir = outputs_dir()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.json")
    model_doc = {
        "model": "softmax_regression",
        "input": {"features": N_PIXELS, "shape": [8, 8],
                  "scaling": "pixel / 16 (raw values 0..16 become 0..1)"},
        "classes": classes,
        "weights": model.weights,
        "biases": model.biases,
        "accuracy": test_acc,
        "train_accuracy": train_acc,
        "train_loss": train_loss,
        "training": {"epochs": args.epochs, "learning_rate": args.learning_rate,
                     "batch_size": args.batch_size, "seed": args.seed,
                     "test_fraction": args.test_fraction,
                     "train_examples": len(train_x), "test_examples": len(test_x)},
    }
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(model_doc, f)
        f.write("\n")
    os.replace(tmp, path)
    print("final test accuracy %.4f; model written to %s; took %.1fs"
          % (test_acc, path, time.monotonic() - started), flush=True)


if __name__ == "__main__":
    main()
