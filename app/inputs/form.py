"""The Train form without its widgets: presets as widget values, and configs from the values.

Every widget key starts with ``K`` ("train."), so tests can drive them and the settings survive a
page switch and a reload (``FORM_KEYS``). Option lists come from core.options, never from a list
kept here. The widgets themselves are drawn by app.views.train_form.

    preset_settings(name, n_train) -> {setting: value}   a preset as the form's values
    form_defaults() -> {key: value}          the recommended preset (app.session, once a session)
    build_configs(dataset) -> (ModelConfig, TrainConfig)   raises ConfigError with a message
    plan_text(model_config, train_config, n_images) -> str   what the run will do, in words
    shared_settings(settings, n_train) -> {setting: value}   what a shared link records
    LABELS                                   each control's label, as the form shows it
    HELP, NETWORK, TRAINING                  each control's help text, and how they are grouped
"""
import streamlit as st

from app.data import load_raw
from app.inputs.links import SETTINGS
from app.inputs.scales import BATCH_SIZES, LEARNING_RATES, WEIGHT_DECAYS, nearest
from core import options
from core.datasets import validation_count
from core.errors import NNError
from core.model import ModelConfig
from core.training import PRESETS, TrainConfig, plan

K = "train."                       # prefix of this page's widget keys
DEFAULT_PRESET = "recommended"
FULL_DATASET_IMAGES = 60_000      # when the dataset cannot be loaded, size the split for the full one


def training_images(dataset):
    try:
        return len(load_raw(dataset).train_labels)
    except NNError:
        return FULL_DATASET_IMAGES


def preset_settings(name, n_train):
    """The widget values (without the key prefix) that describe preset ``name``; its validation
    share becomes a number of images out of ``n_train``."""
    preset = PRESETS[name]
    m, t = preset.model, preset.train
    if t.batch_size is None:
        batch = "full"
    else:
        batch = t.batch_size if t.batch_size in BATCH_SIZES else nearest(BATCH_SIZES, t.batch_size)
    return {
        "preset": name,
        "hidden": m.layers or ", ".join(str(h) for h in m.hidden_sizes),
        "activation": m.activation, "output_activation": m.output_activation, "loss": m.loss,
        "init": m.init, "dropout": float(m.dropout),
        "learning_rate": nearest(LEARNING_RATES, t.learning_rate),
        "optimizer": t.optimizer, "momentum": float(t.momentum), "lr_schedule": t.lr_schedule,
        "length_unit": "iterations" if t.iterations else "epochs",
        "epochs": int(t.epochs), "iterations": int(t.iterations or 1000),
        "batch_size": batch,
        "weight_decay": nearest(WEIGHT_DECAYS, t.weight_decay) if t.weight_decay else 0.0,
        "augment": bool(t.augment), "scaling": t.scaling, "seed": int(t.seed),
        "validation_size": validation_count(t.validation_size, n_train),
    }


# Every setting's widget key: what a reload restores (app.session.kept_keys).
FORM_KEYS = [K + name for name in SETTINGS]


def set_form(settings):
    for name, value in settings.items():
        st.session_state[K + name] = value


def form_defaults():
    """{widget key: value} for the default preset on the selected dataset."""
    n_train = training_images(st.session_state.get("dataset", "mnist"))
    return {K + name: value for name, value in preset_settings(DEFAULT_PRESET, n_train).items()}


# Links of earlier versions: /train?experiment=<name> opens the lesson of that name.
EXPERIMENTS = {"diverge": "diverge", "tiny": "tiny"}


def setting(name):
    return st.session_state[K + name]


def network_layers(text):
    """The ModelConfig fields for the form's layers text: {"hidden_sizes": ...} for an MLP
    ("256, 128"; empty: no hidden layer), {"layers": ...} for a conv net ("conv 8x5, pool 2,
    dense 128"). Raises ConfigError naming the bad part."""
    if not any(ch.isalpha() for ch in str(text)):       # "256, 128": the MLP form's own checks
        return {"hidden_sizes": options.parse_hidden_sizes(text)}
    return {"layers": options.parse_layers(text)}


def build_configs(dataset):
    """(ModelConfig, TrainConfig) from the controls. Raises ConfigError with a message."""
    model_config = ModelConfig(
        **network_layers(setting("hidden")),
        activation=setting("activation"), output_activation=setting("output_activation"),
        loss=setting("loss"), init=setting("init"), dropout=float(setting("dropout")))
    by_epochs = setting("length_unit") == "epochs"
    batch = setting("batch_size")
    train_config = TrainConfig(
        dataset=dataset, learning_rate=float(setting("learning_rate")),
        epochs=int(setting("epochs")), iterations=None if by_epochs else int(setting("iterations")),
        batch_size=None if batch == "full" else int(batch), optimizer=setting("optimizer"),
        momentum=float(setting("momentum")), weight_decay=float(setting("weight_decay")),
        lr_schedule=setting("lr_schedule"), validation_size=int(setting("validation_size")),
        scaling=setting("scaling"), augment=bool(setting("augment")), seed=int(setting("seed")))
    return model_config, train_config


def plan_text(model_config, train_config, n_images):
    """"Plan: 784-256-128-10 network, 235,146 weights; 7,180 steps of 128 images (...)"."""
    n_train = n_images - validation_count(train_config.validation_size, n_images)
    batch, per_epoch, total = plan(train_config, n_train)
    sizes = "-".join(map(str, model_config.layer_sizes))
    return (f"**Plan:** {sizes} network, {model_config.num_parameters:,} weights; {total:,} steps "
            f"of {batch:,} images ({total / per_epoch:.3g} epochs over {n_train:,} images).")


# Each control's label on the form: the share popover and a lesson's list name them the same way.
LABELS = {"preset": "Preset", "hidden": "Hidden layer sizes", "activation": "Activation",
          "output_activation": "Output", "loss": "Loss", "init": "Initial weights",
          "dropout": "Dropout", "learning_rate": "Learning rate", "optimizer": "Optimiser",
          "momentum": "Momentum", "lr_schedule": "Schedule", "length_unit": "Train for",
          "epochs": "Epochs", "iterations": "Iterations", "batch_size": "Batch size",
          "weight_decay": "L2 weight decay", "augment": "Augmentation",
          "scaling": "Pixel scaling", "seed": "Seed", "validation_size": "Validation images"}


def shared_settings(settings, n_train):
    """The settings a link records: all of them, and the preset's name only while they are still
    that preset's (a link saying ``preset=recommended`` after changes would name the wrong one)."""
    shared = dict(settings)
    preset = shared.get("preset")
    if preset not in PRESETS or any(shared.get(name) != value for name, value
                                    in preset_settings(preset, n_train).items()):
        shared.pop("preset", None)
    return shared


# What each control does, in a sentence or two: the ? next to it.
HELP = {
    "hidden": "The hidden layers, input to output. Numbers are dense layers of that many units, "
              "e.g. “256, 128”; empty means no hidden layer (a linear classifier). A conv net: "
              "“conv 16x5, pool 2, conv 32x5, pool 2, dense 128” (16 filters of 5x5, then 2x2 "
              "max pooling, ...). More units learn more but train slower.",
    "activation": "The non-linearity after each hidden layer. ReLU (max(0, x)) trains fast; "
                  "sigmoid and tanh saturate and learn slower in deep nets.",
    "loss": "What training minimises. Cross-entropy punishes confident mistakes hard (needs "
            "softmax); MSE is the squared distance to the one-hot target.",
    "output_activation": "Softmax turns the 10 outputs into probabilities that sum to 1; sigmoid "
                         "scores each class on its own (the textbook way).",
    "init": "How the random starting weights are drawn. He suits ReLU, Glorot suits sigmoid/tanh; "
            "small uniform is U[-0.5, 0.5), as in the original project.",
    "dropout": "While training, switch off this share of hidden units at random on every step, so "
               "the network cannot rely on any one unit: less overfitting.",
    "learning_rate": "How big a step the weights take against the gradient (log scale). Too "
                     "small: slow. Too large: the loss jumps around or explodes.",
    "optimizer": "SGD steps straight down the gradient; momentum keeps some of the last step's "
                 "speed; Adam adapts the step size of every weight (use lr ≈ 0.001).",
    "momentum": "For the momentum optimiser: the share of the previous step kept in the next one "
                "(0.9 is usual).",
    "lr_schedule": "Constant keeps the learning rate; cosine lowers it smoothly to 0 by the end, "
                   "which settles the weights.",
    "weight_decay": "A penalty on large weights: pulls every weight a little towards 0 each step, "
                    "which fights overfitting.",
    "batch_size": "Images per step. Small batches: many noisy steps; “full”: one exact step per "
                  "pass over all training images (plain gradient descent).",
    "length_unit": "Epochs: passes over all training images. Iterations: optimiser steps.",
    "epochs": "How many times the network sees every training image.",
    "iterations": "How many weight updates (steps) to make.",
    "validation_size": "Training images held out to measure how well the network does on images "
                       "it never trained on (the orange curve).",
    "seed": "Fixes the random start and the order of the images: the same seed and settings give "
            "the same run, here and in `python -m core train`.",
    "scaling": "Unit maps pixels to [0, 1]; symmetric to [-1, 1] (as the textbook network "
               "expects).",
    "augment": "Shift, rotate and thicken every training image a little at random, so the network "
               "copes better with your own drawings. Slower to train.",
}


# The number boxes have no bounds of their own: a browser would keep an out-of-range number in the
# box with a small red mark while the run used another. Every value goes to core's configs
# instead, which refuse it with a message saying the range, and Start stays disabled.
NETWORK = ("hidden", "activation", "loss", "output_activation", "init", "dropout")
TRAINING = ("learning_rate", "optimizer", "momentum", "lr_schedule", "weight_decay", "batch_size",
            "length_unit", "epochs", "iterations", "validation_size", "seed", "scaling", "augment")


# -- lessons and shared links ---------------------------------------------------------------------
LINK_PARAMS = (*SETTINGS, "dataset", "show", "lesson", "experiment")
