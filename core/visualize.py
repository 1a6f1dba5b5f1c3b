"""PNG figures for the CLI's ``visualize`` (a conv net's filters and feature maps: core.visualize_conv). matplotlib is imported inside ``write_all`` only, so
the rest of core stays pure NumPy."""
import os
from pathlib import Path

import numpy as np

from .datasets import CLASS_NAMES, scale_pixels
from .metrics import confusion_matrix, mistakes


def write_all(saved, raw, probabilities, labels, out_dir):
    """Write every figure into ``out_dir``; return their paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = CLASS_NAMES[saved.dataset]
    model = saved.model
    paths = []

    def save(fig, name):
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)

    # 1. training curves
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    if saved.history:
        step = [h["step"] for h in saved.history]
        ax_loss.plot(step, [h["train_loss"] for h in saved.history], label="train")
        ax_loss.plot(step, [h["val_loss"] for h in saved.history], label="validation")
        ax_acc.plot(step, [h["train_accuracy"] for h in saved.history], label="train")
        ax_acc.plot(step, [h["val_accuracy"] for h in saved.history], label="validation")
    else:
        ax_loss.text(0.5, 0.5, "no training history saved", ha="center", transform=ax_loss.transAxes)
    ax_loss.set(title="Loss", xlabel="step")
    ax_acc.set(title="Accuracy", xlabel="step", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(loc="best") if saved.history else None
    save(fig, "training_curves.png")

    if model.config.layers:                              # a conv net: filters and feature maps
        from .visualize_conv import conv_filters, feature_maps
        conv_filters(plt, save, model)
        feature_maps(plt, save, model, raw, saved.scaling, saved.dataset)
    else:
        _mlp_figures(plt, save, model, raw, saved, names)
    _results(plt, save, raw, probabilities, labels, names)
    return paths


def _mlp_figures(plt, save, model, raw, saved, names):
    # 2. first-layer weights as 28x28 tiles (what each hidden unit looks for)
    W = model.params["layers.0.W"]                       # (784, H0)
    units = min(W.shape[1], 64)
    cols = min(units, 8 if units > 10 else units)
    rows = int(np.ceil(units / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < units:
            w = W[:, k].reshape(28, 28)
            lim = np.abs(w).max() or 1
            ax.imshow(w, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"unit {k}", fontsize=7)
    fig.suptitle(f"First-layer weights ({units} of {W.shape[1]} units; red = positive)")
    save(fig, "first_layer_weights.png")

    # 3. hidden activations for a few test images
    X = scale_pixels(raw.test_images[:6], saved.scaling, dtype=model.dtype)
    hidden = model.hidden_activations(X)
    probs = model.predict_proba(X)
    n_cols = 2 + len(hidden)
    fig, axes = plt.subplots(len(X), n_cols, figsize=(2.6 * n_cols, 1.4 * len(X)), squeeze=False)
    for i in range(len(X)):
        axes[i, 0].imshow(raw.test_images[i].reshape(28, 28), cmap="gray")
        axes[i, 0].set_title(f"true: {names[raw.test_labels[i]]}", fontsize=7)
        axes[i, 0].axis("off")
        for j, layer in enumerate(hidden):
            axes[i, 1 + j].bar(range(layer.shape[1]), layer[i], width=1.0)
            axes[i, 1 + j].set_title(f"hidden layer {j + 1}", fontsize=7)
            axes[i, 1 + j].tick_params(labelsize=5)
        axes[i, -1].bar(range(10), probs[i], color="tab:orange")
        axes[i, -1].set_ylim(0, 1)
        axes[i, -1].set_xticks(range(10))
        axes[i, -1].tick_params(labelsize=5)
        axes[i, -1].set_title(f"output: {names[probs[i].argmax()]}", fontsize=7)
    fig.tight_layout()
    save(fig, "hidden_activations.png")


def _results(plt, save, raw, probabilities, labels, names):

    # 4. misclassified test images, most confident first
    wrong = mistakes(probabilities, labels)[:40]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        p = probabilities[i].argmax()
        ax.imshow(raw.test_images[i].reshape(28, 28), cmap="gray")
        ax.set_title(f"true {names[labels[i]][:7]}\npred {names[p][:7]} {probabilities[i, p]:.0%}", fontsize=6)
    fig.suptitle(f"Misclassified test images ({len(mistakes(probabilities, labels)):,} in all; most confident first)")
    save(fig, "misclassified.png")

    # 5. confusion matrix
    cm = confusion_matrix(probabilities.argmax(axis=1), labels)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for t in range(10):
        for p in range(10):
            ax.text(p, t, f"{cm[t, p]}", ha="center", va="center", fontsize=7,
                    color="white" if cm[t, p] > cm.max() / 3 else "black")
    ax.set_xticks(range(10), [n[:8] for n in names], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(10), [n[:8] for n in names], fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test set)")
    save(fig, "confusion_matrix.png")
