"""The Train page's form, drawn: the controls, presets, shared links and lessons, and the memory line.

    controls(dataset, busy) -> Form        draw the controls; return what they describe
    apply_preset()                         on_change of the preset box: fill every control
    apply_link(link)                       a shared link or a lesson (app.inputs.links) -> the form
    read_link_from_url()                   the page's query parameters, once
    lesson_card(), share_popover(dataset)  the lesson being followed, "Share these settings"
    memory_line(model_config, train_config, raw) -> str | None   what the run will take
                                           (core.memory); the refusal when over the cap
"""
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st

from app.data import load_raw
from app.inputs.form import (
    DEFAULT_PRESET,
    EXPERIMENTS,
    HELP,
    LABELS,
    LAYER_EXAMPLES,
    LINK_PARAMS,
    NETWORK,
    TRAINING,
    K,
    build_configs,
    layers_reading,
    plan_text,
    preset_settings,
    set_form,
    setting,
    shared_settings,
    training_images,
)
from app.inputs.links import LESSONS, SETTINGS, link_query, read_link
from app.inputs.scales import BATCH_SIZES, LEARNING_RATES, WEIGHT_DECAYS
from app.runs.line import run_limit
from app.runs.replay import BUDGET
from core import memory, modelio, options, settings
from core.errors import ConfigError, NNError
from core.model import MAX_DROPOUT, ModelConfig
from core.training import PRESETS, TrainConfig


def apply_preset():
    """Fill every control from the preset just chosen."""
    dataset = st.session_state["dataset"]
    set_form(preset_settings(st.session_state[K + "preset"], training_images(dataset)))


def apply_link(link):
    """Set the controls from a shared link or a lesson (an app.inputs.links.Link): the link's preset (or
    the recommended one) with the link's settings over it; keep only the controls it shows.
    Returns what to tell the visitor, or None."""
    ss = st.session_state
    if link.dataset is not None and ss["dataset"] != link.dataset:
        ss["dataset"] = link.dataset          # (the frame has usually set it already)
    preset = link.settings.get("preset", DEFAULT_PRESET)
    set_form({**preset_settings(preset, training_images(ss["dataset"])), **link.settings})
    ss["train_show"], ss["train_lesson"] = link.show, link.lesson
    ss["train_locked"] = link.locked
    ss["dataset_locked"] = link.locked and link.dataset is not None
    if link.refused:
        return ("warning", "This link had settings that cannot be used, left as they were: "
                           + ", ".join(link.refused) + ".")
    if link.lesson is None:
        return ("info", "The settings come from a shared link" + (
            ": change the ones shown in the side panel, the others are fixed." if link.locked
            else "."))
    return None


@dataclass(frozen=True)
class Form:
    """What the controls describe: the data (None when it cannot be loaded), the configs (None
    when a setting is wrong) and the message for what is wrong."""
    raw: object = None
    model_config: ModelConfig | None = None
    train_config: TrainConfig | None = None
    error: str | None = None


def controls(dataset, busy):
    """Draw the controls (disabled while a run is going) and return the Form they describe."""
    raw = None
    try:
        raw = load_raw(dataset)
        st.caption(raw.describe())
    except NNError as e:
        st.error(str(e))

    if _shown("preset"):
        st.selectbox(LABELS["preset"], list(PRESETS), **_keyed("preset", busy), on_change=apply_preset,
                     help="A complete starting point: picking one fills every control below. "
                          "Then change what you like.")
        st.caption(PRESETS[setting("preset")].description)
    few = st.session_state["train_show"] is not None     # a link's few controls: open
    shown = None                                  # an error the layer editor has shown
    for title, names, draw in (("The network", NETWORK, _network_controls),
                               ("Training", TRAINING, _training_controls)):
        if any(_shown(name) for name in names):
            with st.expander(title, expanded=few, icon=GROUP_ICONS[title]):
                shown = draw(busy) or shown
        if title == "The network":
            memory_slot = st.container()          # filled below, once the configs are read

    try:
        model_config, train_config = build_configs(dataset)
    except NNError as e:
        if str(e) != shown:
            st.error(str(e))
        return Form(raw=raw, error=str(e))
    too_large = modelio.too_large_to_save(model_config)
    if too_large:
        st.warning(too_large, icon=":material/save:")
    if raw is not None:
        try:
            st.caption(plan_text(model_config, train_config, len(raw.train_labels)))
        except NNError as e:
            st.error(str(e))
            return Form(raw=raw, error=str(e))
    with memory_slot:
        refused = memory_line(model_config, train_config, raw)
    return Form(raw, model_config, train_config, error=refused)


def _keyed(name, disabled):
    """Keyword arguments of the control for setting ``name``: its key, kept for the whole session
    (so a page switch does not lose it), and whether it is disabled."""
    return {"key": K + name, "persist_state": "session", "disabled": disabled}


GROUP_ICONS = {"The network": ":material/hub:", "Training": ":material/tune:"}


def _shown(name):
    """Whether the control of setting ``name`` is on screen (a lesson link may keep only some)."""
    show = st.session_state["train_show"]
    return show is None or name in show


def _choose(where, name, choices, busy):
    """A selectbox over one of core.options' lists, shown with human names."""
    if _shown(name):
        where.selectbox(LABELS[name], choices, **_keyed(name, busy), format_func=options.label,
                        help=HELP[name])


def _use_example():
    """on_change of the examples: put the one clicked in the layers box (and let go of it, so
    the same one can be clicked again after an edit)."""
    chosen = st.session_state[K + "layer_example"]
    if chosen in LAYER_EXAMPLES:
        st.session_state[K + "hidden"] = LAYER_EXAMPLES[chosen]
    st.session_state[K + "layer_example"] = None


def _layer_editor(busy):
    """The layers box, its examples one click away, and what the layers make of an image (or
    the error naming the bad part, which is returned)."""
    st.text_input(LABELS["hidden"], **_keyed("hidden", busy), help=HELP["hidden"])
    st.pills("Examples: click one to use it", list(LAYER_EXAMPLES), key=K + "layer_example",
             on_change=_use_example, disabled=busy,
             help="Put an example in the box: " + "; ".join(
                 f"{name}: “{text}”" for name, text in LAYER_EXAMPLES.items() if text) + ".")
    try:
        st.caption(layers_reading(setting("hidden")))
    except NNError as e:
        st.error(str(e))
        return str(e)
    return None


def _network_controls(busy):
    error = _layer_editor(busy) if _shown("hidden") else None
    _choose(st, "activation", options.ACTIVATIONS, busy)
    _choose(st, "loss", options.LOSSES, busy)
    c1 = c2 = st                    # one column: the side panel is narrow
    _choose(c1, "output_activation", options.OUTPUT_ACTIVATIONS, busy)
    _choose(c2, "init", options.INITIALIZERS, busy)
    if _shown("dropout"):
        st.slider(LABELS["dropout"], 0.0, MAX_DROPOUT, step=0.05, **_keyed("dropout", busy),
                  help=HELP["dropout"])
    return error


def _training_controls(busy):
    if _shown("learning_rate"):
        st.select_slider(LABELS["learning_rate"], LEARNING_RATES, **_keyed("learning_rate", busy),
                         format_func=lambda v: f"{v:g}", help=HELP["learning_rate"])
    c1 = c2 = st                    # one column: the side panel is narrow
    _choose(c1, "optimizer", options.OPTIMIZERS, busy)
    if _shown("momentum"):
        c2.slider(LABELS["momentum"], 0.0, 0.99, step=0.01,
                  **_keyed("momentum", busy or setting("optimizer") != "momentum"),
                  help=HELP["momentum"])
    _choose(c1, "lr_schedule", options.LR_SCHEDULES, busy)
    if _shown("weight_decay"):
        c2.select_slider(LABELS["weight_decay"], WEIGHT_DECAYS, **_keyed("weight_decay", busy),
                         format_func=lambda v: f"{v:g}", help=HELP["weight_decay"])
    if _shown("batch_size"):
        st.select_slider(LABELS["batch_size"], BATCH_SIZES, **_keyed("batch_size", busy), format_func=str,
                         help=HELP["batch_size"])
    c1 = c2 = st                    # one column: the side panel is narrow
    if _shown("length_unit"):
        c1.radio(LABELS["length_unit"], ["epochs", "iterations"], **_keyed("length_unit", busy),
                 horizontal=True, help=HELP["length_unit"])
    unit = setting("length_unit")
    if _shown(unit):
        c2.number_input(LABELS[unit], step=1 if unit == "epochs" else 100,
                        **_keyed(unit, busy), help=HELP[unit])
    c1 = c2 = st                    # one column: the side panel is narrow
    if _shown("validation_size"):
        c1.number_input(LABELS["validation_size"], step=1000, **_keyed("validation_size", busy),
                        help=HELP["validation_size"])
    if _shown("seed"):
        c2.number_input(LABELS["seed"], step=1, **_keyed("seed", busy), help=HELP["seed"])
    _choose(c1, "scaling", options.SCALINGS, busy)
    if _shown("augment"):
        st.toggle(LABELS["augment"], **_keyed("augment", busy), help=HELP["augment"])


def read_link_from_url():
    """Apply the settings of a shared link or a lesson (query parameters of the Train page's URL)
    unless a run is going, then take them out of the URL. The frame reads ?dataset= first."""
    params = {k: st.query_params[k] for k in st.query_params if k in LINK_PARAMS}
    if not params:
        return None
    for name in params:
        del st.query_params[name]
    if "experiment" in params:
        lesson = EXPERIMENTS.get(params.pop("experiment"))
        if lesson is not None:
            params.setdefault("lesson", lesson)
    return apply_link(read_link(params))


def _all_settings():
    st.session_state["train_show"] = None


def has_lesson_card():
    """Whether ``lesson_card()`` shows anything."""
    return (st.session_state["train_lesson"] is not None
            or st.session_state["train_show"] is not None)


def lesson_card():
    """The lesson opened by a link (what to do, a question, what to look for), and which
    controls it keeps on screen."""
    name, show = st.session_state["train_lesson"], st.session_state["train_show"]
    if not has_lesson_card():
        return
    # one compact box: the run below must stay on the screen
    with st.container(border=True, gap="small"):
        # with no controls to name, "What to look for" stands beside the text, not below it
        head = (st.container(horizontal=True, vertical_alignment="center", gap="small")
                if show is None else st)
        if name is not None:
            lesson = LESSONS[name]
            head.markdown(f"**Lesson: {lesson.title}.** {lesson.steps}  \n"
                          f"**Question:** {lesson.question}")
        row = head if show is None else st.container(horizontal=True, vertical_alignment="center",
                                                      gap="small")
        if name is not None:
            with row.popover("What to look for", icon=":material/visibility:"):
                st.markdown(lesson.look_for)
        if show is None:
            return
        shown = ", ".join(LABELS[n] for n in SETTINGS if n in show) or "none"
        if st.session_state["train_locked"]:
            row.caption(f"Your teacher's link lets you change: {shown}. The other settings"
                        + (" and the dataset" if st.session_state["dataset_locked"] else "")
                        + " are fixed.")
            return
        row.caption(f"This lesson lets you change: {shown}.")
        row.button("Show every setting", key=K + "show_all", on_click=_all_settings)


def share_popover(dataset):
    """A link that opens this page with these settings, optionally showing only some controls."""
    with st.popover("Share these settings", icon=":material/link:"):
        only = st.multiselect("Students may change only", SETTINGS, key=K + "share_show",
                              format_func=LABELS.get, placeholder="every setting",
                              help="Leave empty to let students change everything. Otherwise "
                                   "the link locks the others (and the dataset) to the values "
                                   "set now: students cannot show them.")
        settings = shared_settings({name: setting(name) for name in SETTINGS},
                                   training_images(dataset))
        query = link_query(settings, dataset, show=frozenset(only) or None,
                                 lesson=st.session_state["train_lesson"])
        try:
            scheme, host, path, _, _ = urlsplit(st.context.url or "")
        except (AttributeError, ValueError):
            scheme = host = path = ""
        st.code(urlunsplit((scheme, host, path or "/train", urlencode(query), "")),
                language=None, wrap_lines=True)
        st.caption("Copy it with the button in its corner. It holds these settings, never your "
                   "session or your models.")


def memory_line(model_config, train_config, raw):
    """Say what the run will take: a caption (its parts in the ?), or, over the server's cap, a
    warning saying what to change; then return that warning, which keeps Start disabled. The
    dataset copy is a worker's: the splits of ``raw`` (the full dataset's size without it)."""
    n_images, n_test = ((len(raw.train_labels), len(raw.test_labels)) if raw is not None
                        else (memory.FULL_TRAIN_IMAGES, memory.FULL_TEST_IMAGES))
    try:
        needs = memory.check_run_memory(
            model_config, train_config, snapshot_budget=BUDGET, n_images=n_images,
            n_test=n_test, data_bytes=memory.dataset_bytes(n_images, n_test), limit=run_limit())
    except ConfigError as e:
        st.warning(str(e), icon=":material/memory:")
        return str(e)
    limit = settings.get().max_run_bytes
    of = f", of the {memory.format_bytes(limit)} a run may use here" if limit else " here"
    st.caption(f"**Memory:** training this network needs about "
               f"{memory.format_bytes(needs.total)}{of}.",
               help=f"A{needs.describe(detailed=True)[1:]}. The copies of the weights serve "
                    f"the update, the way back when training blows up, and the replay.")
    return None
