"""Home: what this is, what the data looks like, and three experiments to start with."""
import numpy as np
import streamlit as st

from app.data import class_names, dataset_title, load_raw
from app.inputs.links import LESSONS
from app.session import current_model, init_state
from core.errors import NNError

init_state()
dataset = st.session_state["dataset"]

st.title("Watch a neural network learn")
st.markdown(
    "This is a small neural network written from scratch in NumPy: every weight, gradient and "
    "update is plain arithmetic you can read. **Train** it on handwritten digits (MNIST) or "
    "clothing (Fashion-MNIST) and watch the loss fall, **Draw** a digit with your mouse and see "
    "what it thinks, then **Inspect** it to see its mistakes and what each unit looks for.")

GO = [("pages/train.py", "Train a network", ":material/model_training:", None),
      ("pages/draw.py", "Draw a digit", ":material/draw:", None),
      ("pages/inspect.py", "Look inside", ":material/search:", None)]
for column, (page, label, icon, params) in zip(st.columns(3), GO):
    if column.button(label, icon=icon, type="primary", width="stretch", key=f"home_go_{page}"):
        st.switch_page(page)

st.subheader("Lessons: try these")
st.caption("Each opens the Train page set up for one experiment, with what to do, a question to "
           "answer and what to look for. Teachers: the Train page's **Share these settings** makes "
           "a link like these from any settings.")
cards = [(name, lesson.title, lesson.icon, lesson.steps, lesson.question, "pages/train.py",
          {"lesson": name}) for name, lesson in LESSONS.items()]
cards.append(("fashion", "Draw a digit into the Fashion model", ":material/checkroom:",
              "Draw a 7 on the Draw page while the Fashion-MNIST model is selected.",
              "Which piece of clothing does your 7 look like to it, and why?", "pages/draw.py",
              {"dataset": "fashion-mnist"}))
cards.append(("convnet", "An MLP and a conv net, side by side", ":material/grid_view:",
              "On Draw, draw a 7, then the same 7 thick, or small in a corner with **Crop to the "
              "ink** and **Centre the mass** switched off (under *How a drawing becomes the 784 "
              "numbers*). The conv net's guess is beside the MLP's. Press **Use the pretrained "
              "conv net** and open **Why did it say that?** to watch its feature maps as you "
              "draw; click a map to see its filter and its sum.",
              "Which of the two still reads the digit when it is off-centre, and why would small "
              "filters that slide over the picture help?", "pages/draw.py", {"dataset": "mnist"}))
for row in range(0, len(cards), 2):
    for column, (name, title, icon, steps, question, page, params) in zip(
            st.columns(2), cards[row:row + 2]):
        with column.container(border=True):
            st.markdown(f"**{title}**")
            st.caption(f"{steps}  \n**Question:** {question}")
            if st.button("Open this lesson", icon=icon, key=f"home_lesson_{name}"):
                st.switch_page(page, query_params=params)

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
