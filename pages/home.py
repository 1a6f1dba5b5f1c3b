"""Home: what this is, what the data looks like, and three experiments to start with."""
import numpy as np
import streamlit as st

from app.state import class_names, current_model, dataset_title, init_state, load_raw
from core.errors import NNError

init_state()
dataset = st.session_state["dataset"]

st.title("Watch a neural network learn")
st.markdown(
    "This is a small neural network written from scratch in NumPy: every weight, gradient and "
    "update is plain arithmetic you can read. **Train** it on handwritten digits (MNIST) or "
    "clothing (Fashion-MNIST) and watch the loss fall, **Draw** a digit with your mouse and see "
    "what it thinks, then **Inspect** it to see its mistakes and what each unit looks for.")

c1, c2, c3 = st.columns(3)
c1.page_link("pages/train.py", label="Train a network", icon=":material/model_training:")
c2.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
c3.page_link("pages/inspect.py", label="Look inside", icon=":material/search:")

st.subheader("Try these")
experiments = [
    ("pages/train.py", {"experiment": "diverge"}, ":material/trending_up:",
     "Set the learning rate to 5 and watch it diverge",
     "Steps that are too big overshoot the minimum; the loss explodes. Then try 0.5."),
    ("pages/train.py", {"experiment": "tiny"}, ":material/grid_view:",
     "Train 784-10-10, then look at what each unit learned",
     "With only 10 hidden units, each one's 784 weights form a picture you can read on Inspect."),
    ("pages/draw.py", {"dataset": "fashion-mnist"}, ":material/checkroom:",
     "Draw a digit into the Fashion model",
     "A network only knows its own world: see which piece of clothing your 7 looks like."),
]
for page, params, icon, title, why in experiments:
    with st.container(border=True):
        st.page_link(page, label=title, icon=icon, query_params=params)
        st.caption(why)

st.subheader(f"What the network sees: {dataset_title(dataset)}")
try:
    raw = load_raw(dataset)
except NNError as e:
    st.error(str(e))
else:
    st.caption(f"{raw.describe()}. Each image is 28×28 grey pixels, 784 numbers the network "
               f"reads as one row; the label says what it shows.")
    rng = np.random.default_rng(0)
    names = class_names(dataset)
    columns = st.columns(10, gap="small")
    labels = np.asarray(raw.train_labels)
    for k, column in enumerate(columns):
        idx = np.flatnonzero(labels == k)
        if idx.size == 0:
            continue
        picks = rng.choice(idx, size=min(3, idx.size), replace=False)
        stack = np.concatenate([raw.train_images[i].reshape(28, 28) for i in picks], axis=0)
        column.image(stack, caption=names[k], width="stretch", clamp=True)

model, label = current_model(dataset)
if model is None:
    st.info(label)
