"""The Train page's model panel: save the current model, load or delete a saved one, go back to the
pretrained model, download or upload a model, export it for PyTorch.

Callbacks run before the page, which then shows their notice. Listings and paths come from
app.store.files, quotas and spaces from app.store.hosting; a save is checked against the quotas
before anything is written, and written atomically. A loaded model's accuracy is measured here
(app.data.verified), not taken from the file. The current model downloads as the project's .npz
(written by core.modelio.save_model, so validated and read back) or exports as .safetensors for
PyTorch (core.safetensors); an upload goes through core.modelio's checks and becomes the current
model.
"""
import contextlib

import streamlit as st

from app import held
from app.data import dataset_title, model_root, verified
from app.inputs.form import K
from app.runs.adopt import MAX_RUNS_KEPT
from app.session import current_model, notify, set_current_model, visitor_token
from app.store.admission import client_address
from app.store.files import (
    download_name,
    npz_bytes,
    own_path,
    saved_model_names,
    saved_root_of,
    shown_path,
    uploaded_name,
)
from app.store.hosting import is_pretrained, plural, policy, store, usage
from core import modelio
from core import safetensors as safetensors_export
from core.errors import ConfigError, ModelFileError, NNError


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
        if is_pretrained(name):
            raise ConfigError(f"“{name}” is the pretrained model's name; choose another name.")
        config = policy()
        path = modelio.model_path(saved_root_of(config), dataset, name)
        taken = {existing.casefold(): existing for existing in saved_model_names(dataset)}
        if path.exists() or name.casefold() in taken:
            raise ConfigError(f"A model named “{taken.get(name.casefold(), name)}” already "
                              f"exists; choose another name or delete it first.")
        if config.hosted:          # its exact size checked against the quotas before it is kept
            store(model_root(), visitor_token(), path, npz_bytes(entry[0]), config,
                  address=client_address())
        else:
            modelio.save_model(path, entry[0])
        set_current_model(dataset, entry[0], f"your model “{name}”")
        notify("success", f"Saved as “{name}” ({dataset_title(dataset)}).")


def load_selected():
    dataset = st.session_state["dataset"]
    name = st.session_state.get(K + "load_name")
    with _reported("The model could not be read"):
        if not name:
            raise ConfigError("Choose a saved model to load.")
        saved = modelio.load_model(own_path(dataset, name), expected_dataset=dataset,
                                   shown_as=shown_path(dataset, name))
        _use(saved, dataset, f"saved model “{name}”", f"saved “{name}”", f"Loaded “{name}”")


def _use(saved, dataset, label, run_label, done):
    """Make a loaded or uploaded model the current one, if the server can keep it in memory
    (app.held; ModelsFull, nothing changed, if not): its accuracy measured here (not as the file
    claims), its curves among the earlier runs, a notice saying so."""
    sizes = "-".join(str(size) for size in saved.model.config.layer_sizes)
    held.check_room(st.session_state, visitor_token(), held.model_bytes(saved),
                    f"The {label} (a {sizes} network)", skip=dataset)
    saved = verified(saved, dataset)
    set_current_model(dataset, saved, label)
    if saved.history:
        run = {"label": run_label, "dataset": dataset, "history": saved.history}
        st.session_state["runs"] = [*st.session_state["runs"], run][-MAX_RUNS_KEPT:]
    notify("success", f"{done}: {saved.describe()}. Draw and Inspect now use it.")


def delete_selected():
    name = st.session_state.get(K + "load_name")
    with _reported(f"Could not delete “{name}”"):
        if not name or is_pretrained(name):
            raise ConfigError("Choose one of your saved models; the pretrained model cannot be "
                              "deleted.")
        own_path(st.session_state["dataset"], name).unlink(missing_ok=True)
        notify("info", f"Deleted “{name}”.")


def upload_model():
    """Callback of the uploader: the uploaded .npz becomes the current model of its dataset."""
    dataset = st.session_state["dataset"]
    upload = st.session_state.get(_upload_key(dataset))
    if upload is None:                   # the visitor removed the file from the uploader
        return
    name = uploaded_name(upload.name)
    with _reported("The uploaded model could not be read"):
        limit = modelio.MAX_FILE_BYTES
        if upload.size > limit:
            raise ModelFileError(f"“{name}” is {upload.size:,} bytes; a model file may be at "
                                 f"most {limit / 2**20:.0f} MB ({limit:,} bytes).")
        saved = modelio.load_model(upload, max_bytes=limit, shown_as=f"“{name}”")
        if saved.dataset != dataset:
            raise ConfigError(f"“{name}” is a {dataset_title(saved.dataset)} model, and this page "
                              f"works on {dataset_title(dataset)}: switch the dataset in the "
                              f"sidebar to {dataset_title(saved.dataset)}, then upload it again.")
        _use(saved, dataset, f"uploaded model “{name}”", f"uploaded “{name}”",
             f"Uploaded “{name}”")


def _upload_key(dataset):
    """One uploader per dataset: after switching, the same file can be uploaded again."""
    return f"{K}upload_{dataset}"


def _travel(dataset, saved):
    """Download the current model (.npz), export it for PyTorch, upload a model."""
    too_large = modelio.too_large_to_save(saved.model.config) if saved is not None else ""
    why_not = too_large or ("" if saved is not None else "There is no current model to download.")
    files = [
        ("Download this model (.npz)", "npz", npz_bytes, "download", ":material/download:",
         "The current model as this app's .npz file: upload it here (or on another server running "
         "this app) later, or use it with python -m core eval --model."),
        ("Export for PyTorch (.safetensors)", "safetensors", safetensors_export.export_bytes,
         "export", ":material/output:",
         "The weights as a .safetensors file for a PyTorch nn.Sequential of Linear layers "
         "(README: Models that travel); the architecture is in its metadata."),
    ]
    for column, (label, extension, make, key, icon, help_text) in zip(st.columns(2), files):
        column.download_button(            # the bytes are made only when the button is clicked
            label, (lambda make=make: make(saved)) if not why_not else b"",
            file_name=download_name(saved, extension) if saved is not None else f"model.{extension}",
            mime="application/octet-stream", key=K + key, on_click="ignore", icon=icon,
            disabled=bool(why_not), width="stretch", help=why_not or help_text)
    st.file_uploader(
        "Upload a model (.npz)", type=["npz"], key=_upload_key(dataset), on_change=upload_model,
        max_upload_size=modelio.MAX_FILE_BYTES // 2**20,
        help=f"A model file downloaded from this app ({dataset_title(dataset)}), at most "
             f"{modelio.MAX_FILE_BYTES // 2**20} MB. It becomes the current model for Draw and "
             f"Inspect; its accuracy is measured here.")


def quota_caption(config):
    """Hosted mode: who sees the saved models, the quotas, this visitor's use, when they go."""
    try:
        mine = usage(saved_root_of(config))
        used = (f"; you have used {mine.models} of {plural(config.max_models, 'model')} "
                f"and {mine.bytes / 2**20:,.1f} of {config.max_mb_per_visitor:,.0f} MB.")
    except ConfigError as e:
        used = f". {e}"
    return (f":material/lock: Your saved models are private to you (this browser). "
            f"{config.quota_text()}{used} They are deleted "
            f"{plural(config.keep_days, 'day')} after your last save: download one (.npz) "
            f"to keep it longer.")


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
        config = policy()
        where = ("in your own space on this server: only you (this browser) see it" if config.hosted
                 else f"into model/{dataset}/<name>.npz on this server")
        c1.text_input("Save as", key=K + "save_name", placeholder="e.g. my-first-net",
                      max_chars=64, disabled=entry is None,
                      help=f"Letters, digits, spaces, “-”, “_” and “.”. Saved {where}.")
        c2.button("Save", key=K + "save", on_click=save_current, disabled=entry is None,
                  help="Save the current model under this name.")
        names = saved_model_names(dataset)
        if names:
            c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
            c1.selectbox("Saved models", names, key=K + "load_name",
                         help="Your models saved on this server for this dataset." if config.hosted
                         else "Models saved on this server for this dataset.")
            c2.button("Load", key=K + "load", on_click=load_selected,
                      help="Make it the current model for Draw and Inspect.")
            c3.button("Delete", key=K + "delete", on_click=delete_selected,
                      help="Delete this saved file (the pretrained model is never deleted).")
        else:
            st.caption("No saved models yet.")
        if config.hosted:
            st.caption(quota_caption(config))
        _travel(dataset, model)
        if entry is not None:
            st.button("Use the pretrained model again", key=K + "use_pretrained",
                      on_click=use_pretrained)
        if st.session_state["runs"]:
            st.button("Clear earlier runs from the charts", key=K + "clear_runs",
                      on_click=clear_runs)
