"""The visitor's model files: save the current model, load or delete a saved one, go back to the
pretrained model. Callbacks (they run before the page, which then shows their notice) and the
panel that holds their controls.

Files are ``model/<dataset>/<name>.npz`` (or under ``$NN_MODEL_DIR``), written atomically by
core.modelio; the pretrained ``pretrained.npz`` file is never overwritten or deleted here, whatever
the case of the name typed (a case-insensitive disk would overwrite it). Messages name files by
their path inside the model folder ("mnist/my-net.npz"), never the server's absolute path. The
first time a dataset's files are listed in this process, temporary files left by a save that was
killed half-way are removed (core.modelio.clean_stale_temp_files). A loaded model's accuracy is
measured here (app.state.verified), not taken from the file.
"""
import contextlib
import threading

import streamlit as st

from app.state import (MAX_RUNS_KEPT, current_model, dataset_title, model_root, notify,
                       set_current_model, verified)
from app.train_form import K
from core import modelio
from core.errors import ConfigError, NNError

_cleaned = set()                 # model folders cleaned of stale temporary files in this process
_cleaned_lock = threading.Lock()


def shown_path(dataset, name):
    """How a model file is named to the visitor: its path inside the model folder."""
    return f"{dataset}/{name}.npz"


def _clean_once(folder):
    with _cleaned_lock:
        if folder in _cleaned:
            return
        _cleaned.add(folder)
    modelio.clean_stale_temp_files(folder)


def _is_pretrained(name):
    return name.casefold() == modelio.PRETRAINED_NAME.casefold()


def saved_model_names(dataset):
    """Names of the visitor-saved models for ``dataset`` (the pretrained one excluded)."""
    _clean_once(str(model_root() / dataset))
    return [p.stem for p in modelio.list_models(model_root(), dataset)
            if not _is_pretrained(p.stem)]


@contextlib.contextmanager
def _reported(failure):
    """Run a file action; a refusal or an OS error becomes the Train page's error notice
    (``failure``: what could not be done, e.g. "The model could not be written")."""
    try:
        yield
    except NNError as e:
        notify("error", str(e))
    except OSError as e:
        notify("error", f"{failure}: {e.strerror or e}.")


def save_current():
    dataset = st.session_state["dataset"]
    entry = st.session_state["user_models"].get(dataset)
    with _reported("The model could not be written"):
        if entry is None:
            raise ConfigError("Train a model first: only a model trained or loaded in this session "
                              "can be saved.")
        name = modelio.check_model_name(st.session_state.get(K + "save_name", ""))
        if _is_pretrained(name):
            raise ConfigError(f"“{name}” is the pretrained model's name; choose another name.")
        path = modelio.model_path(model_root(), dataset, name)
        taken = {existing.casefold(): existing for existing in saved_model_names(dataset)}
        if path.exists() or name.casefold() in taken:
            raise ConfigError(f"A model named “{taken.get(name.casefold(), name)}” already "
                              f"exists; choose another name or delete it first.")
        modelio.save_model(path, entry[0])
        set_current_model(dataset, entry[0], f"your model “{name}”")
        notify("success", f"Saved as “{name}” ({dataset_title(dataset)}).")


def load_selected():
    dataset = st.session_state["dataset"]
    name = st.session_state.get(K + "load_name")
    with _reported("The model could not be read"):
        if not name:
            raise ConfigError("Choose a saved model to load.")
        saved = modelio.load_model(modelio.model_path(model_root(), dataset, name),
                                   expected_dataset=dataset, shown_as=shown_path(dataset, name))
        saved = verified(saved, dataset)         # its accuracy measured here, not as it claims
        set_current_model(dataset, saved, f"saved model “{name}”")
        if saved.history:
            run = {"label": f"saved “{name}”", "dataset": dataset, "history": saved.history}
            st.session_state["runs"] = [*st.session_state["runs"], run][-MAX_RUNS_KEPT:]
        notify("success", f"Loaded “{name}”: {saved.describe()}. Draw and Inspect now use it.")


def delete_selected():
    name = st.session_state.get(K + "load_name")
    with _reported(f"Could not delete “{name}”"):
        if not name or _is_pretrained(name):
            raise ConfigError("Choose one of your saved models; the pretrained model cannot be "
                              "deleted.")
        modelio.model_path(model_root(), st.session_state["dataset"], name).unlink(missing_ok=True)
        notify("info", f"Deleted “{name}”.")


def use_pretrained():
    set_current_model(st.session_state["dataset"], None)


def clear_runs():
    st.session_state["runs"] = []


def panel(dataset, expanded):
    """The "Your models" expander: which model is current, save, load, delete."""
    with st.expander("Your models: save, load, delete", expanded=expanded):
        entry = st.session_state["user_models"].get(dataset)
        model, label = current_model(dataset)
        st.caption(f"Current {dataset_title(dataset)} model: **{label}**"
                   + (f" ({model.describe()})" if model is not None else ""))
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        c1.text_input("Save as", key=K + "save_name", placeholder="e.g. my-first-net",
                      max_chars=64, disabled=entry is None,
                      help="Letters, digits, spaces, “-”, “_” and “.”. Saved into "
                           f"model/{dataset}/<name>.npz on this server.")
        c2.button("Save", key=K + "save", on_click=save_current, disabled=entry is None,
                  help="Save the current model under this name.")
        names = saved_model_names(dataset)
        if names:
            c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
            c1.selectbox("Saved models", names, key=K + "load_name",
                         help="Models saved on this server for this dataset.")
            c2.button("Load", key=K + "load", on_click=load_selected,
                      help="Make it the current model for Draw and Inspect.")
            c3.button("Delete", key=K + "delete", on_click=delete_selected,
                      help="Delete this saved file (the pretrained model is never deleted).")
        else:
            st.caption("No saved models yet.")
        if entry is not None:
            st.button("Use the pretrained model again", key=K + "use_pretrained",
                      on_click=use_pretrained)
        if st.session_state["runs"]:
            st.button("Clear earlier runs from the charts", key=K + "clear_runs",
                      on_click=clear_runs)
