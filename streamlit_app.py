"""The frame: page config, session-state defaults, the sidebar and the navigation.

    streamlit run streamlit_app.py

Pages live in pages/ and are reached at /, /train, /draw and /inspect.
"""
import streamlit as st

from app import visitor
from app.data import dataset_title
from app.runs import adopt
from app.session import cookie_seconds, current_model, init_state, publish_kept
from core.datasets import DATASETS
from core.records import known

st.set_page_config(page_title="Neural network playground", page_icon="🧠", layout="wide")
init_state()
adopt.adopt_all()
if st.query_params.get("dataset") in DATASETS:          # links like /draw?dataset=fashion-mnist
    st.session_state["dataset"] = st.query_params["dataset"]
    if "show" not in st.query_params:    # a teacher's link: the Train page reads it too, to fix it
        del st.query_params["dataset"]

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/search:", url_path="inspect"),
]
page = st.navigation(pages)


def sidebar(page):
    """The dataset, the model in use and, on other pages, the run in progress. A function, so
    that nothing of a session (its trainer, its model) stays in this module's globals after
    the script run: the server would keep the last visitor's run alive in them."""
    locked = st.session_state["dataset_locked"]        # a teacher's link fixed it
    st.selectbox("Dataset", DATASETS, key="dataset", format_func=dataset_title, disabled=locked,
                 help="MNIST: handwritten digits 0-9. Fashion-MNIST: ten kinds of clothing, same "
                      "28×28 grey images, harder to tell apart. Every page uses this choice."
                      + (" Your teacher's link fixed it." if locked else ""))
    saved, label = current_model()
    if saved is None:
        st.caption(f"**Model:** none yet. {label}")
    else:
        accuracy = saved.metrics.get("test_accuracy")
        accuracy_text = f" · test accuracy **{accuracy:.1%}**" if isinstance(accuracy, float) else ""
        config = saved.model.config
        sizes = (f"{config.layers}, 10 out" if config.is_convolutional else
                 "-".join(str(s) for s in config.layer_sizes))
        st.caption(f"**Model:** {label}  \n{sizes} {saved.model.config.activation}"
                   f"{accuracy_text}")

    trainer = st.session_state["trainer"]
    watching = trainer is not None and trainer.snapshot(poll=False).active
    on_train_page = page.url_path == "train"

    @st.fragment(run_every=1.0 if watching and not on_train_page else None)
    def training_status():
        """While a run is going, show it on every page (and keep polling the trainer)."""
        if trainer is None:
            return
        snap = trainer.snapshot()
        if snap.status == "waiting" and not on_train_page:
            st.caption(f"Your run waits for a free place: number {snap.place} in line.")
            st.page_link("pages/train.py", label="See it on Train", icon=":material/hourglass_top:")
        elif snap.active and not on_train_page:
            last = snap.last
            figures = f" · val {last['val_accuracy']:.0%}" if last and known(last["val_accuracy"]) is not None else ""
            st.progress(snap.progress, text=f"Training {snap.label}: {snap.progress:.0%}{figures}")
            st.page_link("pages/train.py", label="Watch it learn", icon=":material/monitoring:")
        elif snap.finished and not adopt.adopted("train", snap):
            st.rerun(scope="app")        # the frame adopts the new model on the full rerun

    training_status()


with st.sidebar:
    sidebar(page)
    # On every run of a session that writes it, or on none: an element written on some runs
    # only would shift every element after it by one between two runs, and Streamlit shows an
    # element moved that way twice until the run ends (two Start buttons, a settings box
    # replaced while a visitor types into it). The same script again changes nothing.
    if st.session_state["visitor_cookie"]:   # until the browser sends the visitor token back
        st.html(visitor.cookie_script(st.session_state["visitor"], cookie_seconds()),
                unsafe_allow_javascript=True)

if st.session_state["lost_run"]:            # hosted: a run lost with its server (app.replica)
    st.warning(st.session_state["lost_run"], icon=":material/cloud_off:")
    st.button("OK", key="lost_run_seen", on_click=lambda: st.session_state.update(lost_run=None))

if st.session_state["models_freed"]:        # big models let go while the visitor was away
    st.info(st.session_state["models_freed"], icon=":material/memory:")
    st.button("OK", key="models_freed_seen",
              on_click=lambda: st.session_state.update(models_freed=None))

page.run()
publish_kept()          # the settings this run ended with, for a reload (app.visitor)
