"""Train: choose a network and its training, start it, watch it learn, keep the result.

Controls on the left, the live run on the right. The run itself lives in app.trainer (a thread
per session); this page only starts/stops it from callbacks and polls it from a fragment.
"""
import math
import re

import numpy as np
import streamlit as st

from app import charts
from app.state import (adopt_finished_run, class_names, current_model, dataset_title, init_state,
                       load_raw, load_splits, model_root, session_liveness, set_current_model)
from app.trainer import Trainer, TrainingBusy
from core import modelio
from core.errors import ConfigError, NNError
from core.model import MAX_HIDDEN_LAYERS, MAX_UNITS, ModelConfig
from core.training import PRESETS, TrainConfig, plan

init_state()

LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                  0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
BATCH_SIZES = [1, 8, 16, 32, 64, 100, 128, 256, 512, 1024, 4096, "full"]
WEIGHT_DECAYS = [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1]
K = "train."                       # prefix of this page's widget keys


def nearest(options, value):
    numbers = [o for o in options if isinstance(o, (int, float))]
    return min(numbers, key=lambda o: abs(math.log(o + 1e-12) - math.log(value + 1e-12)))


def preset_settings(name):
    preset = PRESETS[name]
    m, t = preset.model, preset.train
    return {
        "preset": name,
        "hidden": ", ".join(str(h) for h in m.hidden_sizes),
        "activation": m.activation, "output_activation": m.output_activation, "loss": m.loss,
        "init": m.init, "dropout": float(m.dropout),
        "learning_rate": nearest(LEARNING_RATES, t.learning_rate),
        "optimizer": t.optimizer, "momentum": float(t.momentum), "lr_schedule": t.lr_schedule,
        "length_unit": "iterations" if t.iterations else "epochs",
        "epochs": int(t.epochs), "iterations": int(t.iterations or 1000),
        "batch_size": "full" if t.batch_size is None else
        (t.batch_size if t.batch_size in BATCH_SIZES else nearest(BATCH_SIZES, t.batch_size)),
        "weight_decay": nearest(WEIGHT_DECAYS, t.weight_decay) if t.weight_decay else 0.0,
        "augment": bool(t.augment), "scaling": t.scaling, "seed": int(t.seed),
        "validation_size": validation_images(t.validation_size),
    }


def validation_images(validation_size):
    """A preset's validation share as a number of images of the dataset this page shows."""
    if isinstance(validation_size, int):
        return validation_size
    try:
        n_train = len(load_raw(st.session_state.get("dataset", "mnist")).train_labels)
    except NNError:
        n_train = 60_000
    return int(round(validation_size * n_train))


DEFAULT_PRESET = "recommended"


def apply_preset():
    for name, value in preset_settings(st.session_state[K + "preset"]).items():
        st.session_state[K + name] = value


for _name, _value in preset_settings(DEFAULT_PRESET).items():
    st.session_state.setdefault(K + _name, _value)

# Suggested experiments from the Home page arrive as ?experiment=<name>.
EXPERIMENTS = {
    "diverge": ({**preset_settings("recommended"), "optimizer": "sgd", "lr_schedule": "constant",
                 "learning_rate": 5.0},
                "Experiment: plain SGD with a learning rate of 5. Press **Start**: the steps are so "
                "big that the loss explodes within a few steps. Then try 0.5, and 0.05."),
    "tiny": ({**preset_settings("recommended"), "hidden": "10", "dropout": 0.0, "epochs": 3,
              "learning_rate": 0.005},
             "Experiment: 784-10-10, only 10 hidden units. Press **Start**; when it is done, open "
             "**Inspect** to see the picture each unit looks for."),
}
_experiment = st.query_params.get("experiment")
if _experiment is not None:
    del st.query_params["experiment"]
    if _experiment in EXPERIMENTS and not (st.session_state["trainer"] is not None and
                                           st.session_state["trainer"].snapshot(poll=False).active):
        for _name, _value in EXPERIMENTS[_experiment][0].items():
            st.session_state[K + _name] = _value
        st.session_state["train_notice"] = ("info", EXPERIMENTS[_experiment][1])


def setting(name):
    return st.session_state[K + name]


def parse_hidden(text):
    """'256, 128' -> (256, 128); '' -> () (no hidden layer). Raises ConfigError."""
    parts = [p for p in re.split(r"[,\s;x]+", str(text).strip().lower()) if p]
    if parts in ([], ["none"], ["-"]):
        return ()
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise ConfigError(f"Hidden layer sizes are whole numbers separated by commas, like "
                          f"“256, 128” (or empty for no hidden layer); “{bad[0]}” is not one.")
    sizes = tuple(int(p) for p in parts)
    if len(sizes) > MAX_HIDDEN_LAYERS or any(not 1 <= s <= MAX_UNITS for s in sizes):
        raise ConfigError(f"Use at most {MAX_HIDDEN_LAYERS} hidden layers of 1 to {MAX_UNITS:,} "
                          f"units each.")
    return sizes


def build_configs(dataset):
    """(ModelConfig, TrainConfig) from the controls. Raises ConfigError with a message."""
    model_config = ModelConfig(
        hidden_sizes=parse_hidden(setting("hidden")), activation=setting("activation"),
        output_activation=setting("output_activation"), loss=setting("loss"),
        init=setting("init"), dropout=float(setting("dropout")))
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


def get_trainer():
    if st.session_state["trainer"] is None:
        st.session_state["trainer"] = Trainer()
    return st.session_state["trainer"]


def notify(kind, text):
    st.session_state["train_notice"] = (kind, text)


# -- callbacks (run before the page, so the page shows their effect at once) --------------------
def on_start():
    dataset = st.session_state["dataset"]
    try:
        model_config, train_config = build_configs(dataset)
        splits = load_splits(dataset, train_config.validation_size, train_config.scaling,
                             train_config.seed)
        trainer = get_trainer()
        run_number = trainer.snapshot(poll=False).run_id + 1
        sizes = "-".join(str(s) for s in model_config.layer_sizes)
        label = f"run {run_number} ({sizes}, {train_config.optimizer}, lr {train_config.learning_rate:g})"
        trainer.start(model_config, train_config, splits, dataset=dataset, label=label,
                      data_note=load_raw(dataset).describe(), is_alive=session_liveness())
        st.session_state["train_notice"] = None
    except TrainingBusy as e:
        notify("warning", str(e))
    except NNError as e:
        notify("error", str(e))


def on_stop():
    if st.session_state["trainer"] is not None:
        st.session_state["trainer"].stop()
        st.session_state["trainer"].join(1.5)     # usually ends within half a second
    adopt_finished_run()


def on_reset():
    if st.session_state["trainer"] is not None:
        st.session_state["trainer"].reset()
    adopt_finished_run()
    st.session_state["train_notice"] = None


def on_clear_runs():
    st.session_state["runs"] = []


def on_save():
    dataset = st.session_state["dataset"]
    saved, _ = current_model(dataset)
    entry = st.session_state["user_models"].get(dataset)
    try:
        if entry is None:
            raise ConfigError("Train a model first: only a model trained or loaded in this session "
                              "can be saved.")
        name = modelio.check_model_name(st.session_state.get(K + "save_name", ""))
        if name == modelio.DEFAULT_NAME:
            raise ConfigError(f"“{name}” is the pretrained model's name; choose another name.")
        path = modelio.model_path(model_root(), dataset, name)
        if path.exists():
            raise ConfigError(f"A model named “{name}” already exists; choose another name or "
                              f"delete it first.")
        modelio.save_model(path, entry[0])
        set_current_model(dataset, entry[0], f"your model “{name}”")
        notify("success", f"Saved as “{name}” ({dataset_title(dataset)}).")
    except NNError as e:
        notify("error", str(e))
    except OSError as e:
        notify("error", f"The model could not be written: {e.strerror or e}.")


def saved_model_names(dataset):
    return [p.stem for p in modelio.list_models(model_root(), dataset)
            if p.stem != modelio.DEFAULT_NAME]


def on_load():
    dataset = st.session_state["dataset"]
    name = st.session_state.get(K + "load_name")
    try:
        if not name:
            raise ConfigError("Choose a saved model to load.")
        saved = modelio.load_model(modelio.model_path(model_root(), dataset, name),
                                   expected_dataset=dataset)
        set_current_model(dataset, saved, f"saved model “{name}”")
        if saved.history:
            st.session_state["runs"] = [*st.session_state["runs"],
                                        {"label": f"saved “{name}”", "dataset": dataset,
                                         "history": saved.history}][-8:]
        notify("success", f"Loaded “{name}”: {saved.describe()}. Draw and Inspect now use it.")
    except NNError as e:
        notify("error", str(e))


def on_delete():
    dataset = st.session_state["dataset"]
    name = st.session_state.get(K + "load_name")
    try:
        if not name or name == modelio.DEFAULT_NAME:
            raise ConfigError("Choose one of your saved models; the pretrained model cannot be deleted.")
        path = modelio.model_path(model_root(), dataset, name)
        path.unlink(missing_ok=True)
        notify("info", f"Deleted “{name}”.")
    except NNError as e:
        notify("error", str(e))
    except OSError as e:
        notify("error", f"Could not delete “{name}”: {e.strerror or e}.")


def on_use_pretrained():
    set_current_model(st.session_state["dataset"], None)


def on_dataset_change():
    st.session_state["dataset"] = st.session_state[K + "dataset"]


# -- the page ---------------------------------------------------------------------------------
dataset = st.session_state["dataset"]
trainer = st.session_state["trainer"]
snap = trainer.snapshot() if trainer is not None else None
busy = snap is not None and snap.active

st.title("Train a network")
st.caption("Pick a starting point, change anything, press **Start** and watch the network learn. "
           "Hover over the ? next to any control to see what it does.")

controls, view = st.columns([1, 2], gap="large")

with controls:
    st.session_state[K + "dataset"] = dataset
    st.radio("Dataset", ("mnist", "fashion-mnist"), key=K + "dataset", horizontal=True,
             format_func=dataset_title, on_change=on_dataset_change, disabled=busy,
             help="What the network learns to recognise: handwritten digits, or ten kinds of "
                  "clothing (harder). Same as the sidebar's choice.")
    raw = None
    try:
        raw = load_raw(dataset)
        st.caption(raw.describe())
    except NNError as e:
        st.error(str(e))

    st.selectbox("Preset", list(PRESETS), key=K + "preset", on_change=apply_preset,
                 persist_state="session",
                 disabled=busy, help="A complete starting point: picking one fills every control "
                                     "below. Then change what you like.")
    st.caption(PRESETS[setting("preset")].description)

    with st.container(border=True):
        st.markdown("**The network**")
        st.text_input("Hidden layer sizes", key=K + "hidden", persist_state="session",
                      disabled=busy,
                      help="Units in each hidden layer, input to output, e.g. “256, 128”. More "
                           "units can learn more but train slower; empty means no hidden layer "
                           "(a linear classifier).")
        st.selectbox("Activation", ["relu", "leaky_relu", "sigmoid", "tanh"], key=K + "activation",
                     persist_state="session", disabled=busy,
                     help="The non-linearity after each hidden layer. ReLU (max(0, x)) trains "
                          "fast; sigmoid and tanh saturate and learn slower in deep nets.")
        st.selectbox("Loss", ["cross_entropy", "mse"], key=K + "loss", persist_state="session",
                     disabled=busy, format_func={"cross_entropy": "cross-entropy",
                                                 "mse": "mean squared error"}.get,
                     help="What training minimises. Cross-entropy punishes confident mistakes "
                          "hard (needs softmax); MSE is the squared distance to the one-hot target.")
        c1, c2 = st.columns(2)
        c1.selectbox("Output", ["softmax", "sigmoid"], key=K + "output_activation",
                     persist_state="session", disabled=busy,
                     help="Softmax turns the 10 outputs into probabilities that sum to 1; "
                          "sigmoid scores each class on its own (the textbook way).")
        c2.selectbox("Initial weights", ["he", "glorot", "small_uniform"], key=K + "init",
                     persist_state="session", disabled=busy,
                     help="How the random starting weights are drawn. He suits ReLU, Glorot suits "
                          "sigmoid/tanh; small_uniform is U[-0.5, 0.5), as in the original project.")
        st.slider("Dropout", 0.0, 0.9, step=0.05, key=K + "dropout", persist_state="session",
                  disabled=busy,
                  help="While training, switch off this share of hidden units at random on every "
                       "step, so the network cannot rely on any one unit: less overfitting.")

    with st.container(border=True):
        st.markdown("**Training**")
        st.select_slider("Learning rate", LEARNING_RATES, key=K + "learning_rate",
                         persist_state="session", disabled=busy, format_func=lambda v: f"{v:g}",
                         help="How big a step the weights take against the gradient (log scale). "
                              "Too small: slow. Too large: the loss jumps around or explodes.")
        c1, c2 = st.columns(2)
        c1.selectbox("Optimiser", ["sgd", "momentum", "adam"], key=K + "optimizer",
                     persist_state="session", disabled=busy,
                     help="SGD steps straight down the gradient; momentum keeps some of the last "
                          "step's speed; Adam adapts the step size of every weight (use lr ≈ 0.001).")
        c2.slider("Momentum", 0.0, 0.99, step=0.01, key=K + "momentum", persist_state="session",
                  disabled=busy or setting("optimizer") != "momentum",
                  help="For the momentum optimiser: the share of the previous step kept in the "
                       "next one (0.9 is usual).")
        c1.selectbox("Schedule", ["constant", "cosine"], key=K + "lr_schedule",
                     persist_state="session", disabled=busy,
                     help="Constant keeps the learning rate; cosine lowers it smoothly to 0 by the "
                          "end, which settles the weights.")
        c2.select_slider("L2 weight decay", WEIGHT_DECAYS, key=K + "weight_decay",
                         persist_state="session", disabled=busy, format_func=lambda v: f"{v:g}",
                         help="A penalty on large weights: pulls every weight a little towards 0 "
                              "each step, which fights overfitting.")
        st.select_slider("Batch size", BATCH_SIZES, key=K + "batch_size", persist_state="session",
                         disabled=busy, format_func=lambda v: "full" if v == "full" else str(v),
                         help="Images per step. Small batches: many noisy steps; “full”: one exact "
                              "step per pass over all training images (plain gradient descent).")
        c1, c2 = st.columns(2)
        c1.radio("Train for", ["epochs", "iterations"], key=K + "length_unit",
                 persist_state="session", disabled=busy, horizontal=True,
                 help="Epochs: passes over all training images. Iterations: optimiser steps.")
        if setting("length_unit") == "epochs":
            c2.number_input("Epochs", 1, 1000, step=1, key=K + "epochs", persist_state="session",
                            disabled=busy, help="How many times the network sees every training image.")
        else:
            c2.number_input("Iterations", 1, 1_000_000, step=100, key=K + "iterations",
                            persist_state="session", disabled=busy,
                            help="How many weight updates (steps) to make.")
        c1, c2 = st.columns(2)
        c1.number_input("Validation images", 0, 50_000, step=1000, key=K + "validation_size",
                        persist_state="session", disabled=busy,
                        help="Training images held out to measure how well the network does on "
                             "images it never trained on (the orange curve).")
        c2.number_input("Seed", 0, 2**31 - 1, step=1, key=K + "seed", persist_state="session",
                        disabled=busy,
                        help="Fixes the random start and the order of the images: the same seed "
                             "and settings give the same run.")
        c1.selectbox("Pixel scaling", ["unit", "symmetric"], key=K + "scaling",
                     persist_state="session", disabled=busy,
                     help="Unit maps pixels to [0, 1]; symmetric to [-1, 1] (as the textbook "
                          "network expects).")
        st.toggle("Augmentation", key=K + "augment", persist_state="session", disabled=busy,
                  help="Shift, rotate and thicken every training image a little at random, so "
                       "the network copes better with your own drawings. Slower to train.")

    config_error = None
    model_config = train_config = None
    try:
        model_config, train_config = build_configs(dataset)
        if raw is not None:
            from core.datasets import validation_count
            n_train = len(raw.train_labels) - validation_count(train_config.validation_size,
                                                              len(raw.train_labels))
            batch, per_epoch, total = plan(train_config, n_train)
            n_params = sum((a + 1) * b for a, b in zip(model_config.layer_sizes[:-1],
                                                       model_config.layer_sizes[1:]))
            st.caption(f"**Plan:** {'-'.join(map(str, model_config.layer_sizes))} network, "
                       f"{n_params:,} weights; {total:,} steps of {batch:,} images "
                       f"({total / per_epoch:.3g} epochs over {n_train:,} images).")
    except NNError as e:
        config_error = str(e)
        st.error(config_error)

with view:
    buttons = st.container(horizontal=True)
    b1 = b2 = b3 = buttons
    b1.button("Start", type="primary", icon=":material/play_arrow:", on_click=on_start,
              disabled=busy or config_error is not None or raw is None, key=K + "start",
              help="Train a new network from random weights with the settings on the left.")
    b2.button("Stop", icon=":material/stop:", on_click=on_stop, disabled=not busy, key=K + "stop",
              help="Stop now and keep the weights learned so far.")
    b3.button("Reset", icon=":material/restart_alt:", on_click=on_reset, key=K + "reset",
              help="Stop and clear this run's curves (earlier runs stay for comparison).")

    notice = st.session_state["train_notice"]
    if notice is not None:
        getattr(st, notice[0])(notice[1])

    if snap is not None and snap.finished and snap.run_id == st.session_state["adopted_run"]:
        saved = snap.saved
        if snap.status in ("done", "stopped") and saved is not None:
            acc, val = saved.metrics["test_accuracy"], saved.metrics["val_accuracy"]
            what = "Finished" if snap.status == "done" else f"Stopped at step {snap.last['step']:,}"
            val_text = f"validation {val:.1%}" if val == val else "no validation images were held out"
            st.success(f"{what} after {snap.last['elapsed']:,.1f} s of training. Test accuracy "
                       f"**{acc:.1%}** ({val_text}). Draw and Inspect now use this model.")
            l1 = l2 = st.container(horizontal=True)
            l1.page_link("pages/draw.py", label="Draw a digit into it", icon=":material/draw:")
            l2.page_link("pages/inspect.py", label="See its mistakes", icon=":material/search:")
        elif snap.status == "diverged":
            st.error(snap.message, icon=":material/trending_up:")
        elif snap.status == "abandoned":
            st.warning(snap.message)
        elif snap.message:
            st.error(snap.message)

    overlay = st.toggle("Compare with earlier runs", value=True, key=K + "overlay",
                        help="Draw the curves of this session's earlier runs (dashed) behind the "
                             "current one.")

    run_every = 0.5 if busy else None

    @st.fragment(run_every=run_every)
    def live_view():
        trainer = st.session_state["trainer"]
        snap = trainer.snapshot() if trainer is not None else None
        if snap is not None and snap.finished and snap.run_id != st.session_state["adopted_run"]:
            st.rerun(scope="app")            # show the result and adopt the model
        history = snap.history if snap is not None else []
        last = history[-1] if history else None
        if snap is None or (snap.status == "idle" and not history):
            st.info("Press **Start** to train. The loss and accuracy curves appear here as the "
                    "network learns, and update twice a second.")
        elif snap.active:
            if last is None:
                st.progress(0.0, text="Starting: timing the first steps…")
            else:
                eta = snap.eta
                eta_text = f" · about {eta:,.0f} s left" if math.isfinite(eta) else ""
                st.progress(min(1.0, snap.progress),
                            text=f"Step {last['step']:,} of {snap.total_steps:,} · epoch "
                                 f"{last['epoch']:.2f} · {last['elapsed']:,.1f} s{eta_text}"
                                 + (" · stopping…" if snap.status == "stopping" else ""))
        if last is not None:
            prev = history[-2] if len(history) > 1 else None
            m = st.columns(4)
            m[0].metric("Train loss", f"{last['train_loss']:.3f}",
                        None if prev is None else f"{last['train_loss'] - prev['train_loss']:+.3f}",
                        delta_color="inverse", help="Average loss on the last steps' batches.")
            m[1].metric("Train accuracy", f"{last['train_accuracy']:.1%}",
                        help="Share of the last steps' training images classified correctly.")
            val = last["val_accuracy"]
            m[2].metric("Val. accuracy", f"{val:.1%}" if val == val else "n/a",
                        None if prev is None or val != val else f"{(val - prev['val_accuracy']) * 100:+.1f} pts",
                        help="On held-out images the network never trains on (up to 1,000 "
                             "of them while training; all of them at the end).")
            speed = last["samples_per_second"]
            m[3].metric("Images/s", f"{speed / 1000:.1f}k" if speed >= 10_000 else f"{speed:,.0f}",
                        help="Training images processed per second.")
        current = (snap.label, history) if history else None
        earlier = []
        if overlay:
            earlier = [(r["label"], r["history"]) for r in st.session_state["runs"]
                       if r["dataset"] == st.session_state["dataset"]
                       and (snap is None or r["label"] != snap.label)]
        if current or earlier:
            c1, c2 = st.columns(2)
            c1.vega_lite_chart(charts.curves_spec("loss", current, earlier), width="stretch",
                               key=K + "loss_chart")
            c2.vega_lite_chart(charts.curves_spec("accuracy", current, earlier), width="stretch",
                               key=K + "accuracy_chart")
        show_drawing_guess(trainer, snap)

    def show_drawing_guess(trainer, snap):
        """See your own digit being learned: the drawing, classified by the model as it is now."""
        pixels = st.session_state["drawing_pixels"]
        if pixels is None or snap is None or not snap.history:
            return
        if st.session_state["drawing_dataset"] not in (None, snap.dataset):
            return
        model = trainer.live_model() if snap.active else (snap.saved.model if snap.saved else None)
        if model is None:
            return
        x = np.asarray(pixels, np.float32).reshape(1, 784)
        if snap.train_config is not None and snap.train_config.scaling == "symmetric":
            x = x * 2 - 1
        try:
            probs = model.predict_proba(x)[0]
        except NNError:
            return
        names = class_names(snap.dataset)
        best = int(np.argmax(probs))
        with st.container(border=True):
            c1, c2 = st.columns([1, 3], vertical_alignment="center")
            c1.image(np.asarray(pixels, np.float32).reshape(28, 28), width=112, clamp=True,
                     caption="your drawing")
            c2.markdown(f"**Your drawing, as the network sees it now:** "
                        f"{names[best]} ({probs[best]:.0%})")
            c2.vega_lite_chart(charts.probabilities_spec(probs.tolist(), names, height=150),
                               width="stretch", key=K + "drawing_chart")

    live_view()

    with st.expander("Your models: save, load, delete", expanded=snap is not None and snap.finished):
        entry = st.session_state["user_models"].get(dataset)
        model, label = current_model(dataset)
        st.caption(f"Current {dataset_title(dataset)} model: **{label}**"
                   + (f" ({model.describe()})" if model is not None else ""))
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("Save as", key=K + "save_name", placeholder="e.g. my-first-net",
                      max_chars=64, disabled=entry is None,
                      help="Letters, digits, spaces, “-”, “_” and “.”. Saved into "
                           f"model/{dataset}/<name>.npz on this server.")
        c2.button("Save", key=K + "save", on_click=on_save, disabled=entry is None,
                  help="Save the current model under this name.")
        names = saved_model_names(dataset)
        if names:
            c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
            c1.selectbox("Saved models", names, key=K + "load_name",
                         help="Models saved on this server for this dataset.")
            c2.button("Load", key=K + "load", on_click=on_load,
                      help="Make it the current model for Draw and Inspect.")
            c3.button("Delete", key=K + "delete", on_click=on_delete,
                      help="Delete this saved file (the pretrained model is never deleted).")
        else:
            st.caption("No saved models yet.")
        if entry is not None:
            st.button("Use the pretrained model again", key=K + "use_pretrained",
                      on_click=on_use_pretrained)
        if st.session_state["runs"]:
            st.button("Clear earlier runs from the charts", key=K + "clear_runs",
                      on_click=on_clear_runs)
