"""The conv net's figures for ``visualize`` (core.visualize calls them with matplotlib loaded):

    conv_filters.png    every conv layer's filters (C_out k x k kernels, summed over the input
                        channels for the deeper layers), red = positive weight
    feature_maps.png    one test digit, then what each conv and pool layer made of it: every
                        channel's feature map, side by side, as CNN Explainer shows them
"""
import numpy as np

from .conv import Conv2D, MaxPool2D
from .datasets import CLASS_NAMES, scale_pixels
from .layers import Activation

MAX_MAPS = 32            # channels shown per layer


def conv_filters(plt, save, model):
    convs = [layer for layer in model.layers if isinstance(layer, Conv2D)]
    cols = min(16, max(layer.W.shape[0] for layer in convs))
    rows = sum(int(np.ceil(min(layer.W.shape[0], MAX_MAPS) / cols)) for layer in convs)
    fig, axes = plt.subplots(rows, cols, figsize=(0.9 * cols, 1.0 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    row = 0
    for index, layer in enumerate(convs):
        W = layer.W.sum(axis=1)                      # (C_out, k, k): summed over input channels
        shown = min(W.shape[0], MAX_MAPS)
        for o in range(shown):
            ax = axes[row + o // cols, o % cols]
            lim = np.abs(W[o]).max() or 1
            ax.imshow(W[o], cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"conv {index + 1}·{o}", fontsize=6)
        row += int(np.ceil(shown / cols))
    fig.suptitle("Conv filters (red = positive; deeper layers summed over their input channels)")
    save(fig, "conv_filters.png")


def feature_maps(plt, save, model, raw, scaling, dataset, index=0):
    """The feature maps of test image ``index`` after every conv (its activation) and pool layer."""
    X = scale_pixels(raw.test_images[index:index + 1], scaling, dtype=model.dtype)   # (1, 784)
    stages, A = [], X
    for layer, after in zip(model.sequence, model.sequence[1:] + [None]):
        A = layer.forward(A)
        if isinstance(layer, Activation) and A.ndim == 4:
            stages.append(("conv + activation", A[0]))
        elif isinstance(layer, MaxPool2D):
            stages.append(("max pool 2x2", A[0]))
    probs = model.predict_proba(X)[0]
    cols = min(16, max(min(maps.shape[0], MAX_MAPS) for _, maps in stages))
    rows = 1 + sum(int(np.ceil(min(maps.shape[0], MAX_MAPS) / cols)) for _, maps in stages)
    fig, axes = plt.subplots(rows, cols, figsize=(0.9 * cols, 1.0 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    names = CLASS_NAMES[dataset]
    axes[0, 0].imshow(raw.test_images[index].reshape(28, 28), cmap="gray")
    axes[0, 0].set_title(f"true {names[raw.test_labels[index]]}", fontsize=6)
    axes[0, 1].bar(range(len(probs)), probs, color="tab:orange")
    axes[0, 1].axis("on")
    axes[0, 1].tick_params(labelsize=4)
    axes[0, 1].set_title(f"guess {names[probs.argmax()]}", fontsize=6)
    row = 1
    for number, (title, maps) in enumerate(stages, 1):
        shown = min(maps.shape[0], MAX_MAPS)
        for c in range(shown):
            ax = axes[row + c // cols, c % cols]
            ax.imshow(maps[c], cmap="magma")
            ax.set_title(f"{number}: {title}" if c == 0 else f"{c}", fontsize=5)
        row += int(np.ceil(shown / cols))
    fig.suptitle("One test digit through the conv layers: every channel's feature map")
    save(fig, "feature_maps.png")
