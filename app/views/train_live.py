"""The Train page's run, as an instrument: one screen that shows a run learning.

    dashboard_style()                      the page's CSS: a tighter frame, so the run fits a screen
    live_view(busy, overlay, log_scale, inside)   the fragment below Start / Stop / Reset
    validation_note(record, model_config, train_config) -> str | None   why validation beats training

The fragment reruns on its own every ``POLL_SECONDS`` while a run is going: it reads a snapshot of
the trainer (never waits for it) and redraws, in places that keep their size from one refresh to
the next (the layout never jumps):

    progress (or the replay's moment) | Replay | the moment's slider
    step · epoch · train loss · train accuracy · val. accuracy · images/s   (the headline)
      (a run that has ended, not replayed: no progress row; Replay ends the headline's row)
    loss curve | accuracy curve | hidden-space map
    why validation beats training, when it does
    what the units look for | the guesses | layer health
      (a conv net: its filters | one image's feature maps | the guesses | layer health)
    (below the screen: the visitor's drawing, guessed live; the accuracy on their drawings)

At 1400x900 the headline, both curves and the four inside views are in view together, and still
once the run has ended with its verdict above them (the charts a little lower then); on a phone
the columns stack. The replay moves everything that belongs to a moment: the headline, a cursor on
every curve, the inside views.
"""
import math

import streamlit as st

from app.inputs.form import K
from app.render.curves import curves_spec, curves_title, loss_words, runs_text
from app.runs import adopt
from app.views.inside import chart_height, drawing_guess, inside_views
from app.views.my_drawings import training_curve

POLL_SECONDS = 0.5
FIGURE_WIDTH = 150        # px: a headline figure; six in a row on a screen, two on a phone
# Validation this much above training (a share) gets a line saying why; less is noise.
ABOVE_BY = 0.003
# A conv net's second row: its filters, one image's feature maps, the guesses, layer health
CONV_ROW = [0.66, 1.5, 0.95, 1.25]

# Streamlit's frame leaves ~100 px above the title and 5rem on each side: on the Train page the
# run needs them. Style-only st.html takes no space on the page.
STYLE = """<style>
[data-testid="stHeader"] { background: transparent; }
[data-testid="stMainBlockContainer"] { padding-top: 0.9rem; padding-left: 1.6rem;
                                        padding-right: 1.6rem; padding-bottom: 3rem; }
/* a refresh of the live view must not fade it: on a busy server a rerun takes a second, and the
   dashboard would blink twice a second on the projector (the status widget still says Running) */
[data-testid="stMainBlockContainer"] [data-stale="true"] { opacity: 1 !important;
                                                           transition: none !important; }
/* on a phone the header's menu spans the top: start below it */
@media (max-width: 640px) { [data-testid="stMainBlockContainer"] { padding-top: 3.8rem; } }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.9rem; padding: 0 0 0.1rem 0; }
[data-testid="stMetricValue"] { font-size: 1.9rem; }
[data-testid="stMetricLabel"] p { font-size: 0.95rem; }
</style>"""


def dashboard_style():
    st.html(STYLE)


def live_view(busy, overlay, log_scale=True, inside=True):
    """The fragment: progress, headline, curves, the inside of the network, the drawing's guess.
    Polls only while ``busy``."""
    @st.fragment(run_every=POLL_SECONDS if busy else None)
    def view():
        t = st.session_state["trainer"]
        snap = t.snapshot() if t is not None else None
        if snap is not None and snap.finished and not adopt.adopted("train", snap):
            st.rerun(scope="app")            # show the result and adopt the model
        history = snap.history if snap is not None else []
        if snap is None or (snap.status == "idle" and not history):
            st.info("Press **Start** to train. The loss and accuracy curves, what the units (a "
                    "conv net: its filters) look for, the guesses, the hidden space and the health of each layer appear here "
                    "and move as the network learns. The settings are in the side panel (on a "
                    "phone: **>** at the top left).")
            return
        # a run that has ended, not replayed, has no progress line: its Replay switch ends the
        # headline's row instead of taking a row of its own (the verdict above needs the room)
        compact = (history and not snap.active and not st.session_state.get(K + "replay")
                   and not (snap.snapshots is not None and snap.snapshots.refused))
        moment = None
        if not compact:
            line, replay_switch, replay_slider = st.columns([5, 1.3, 3.2],
                                                            vertical_alignment="center")
            moment = _replay_moment(snap, replay_switch, replay_slider) if history else None
            with line:
                if moment is not None:
                    st.markdown(f":red[**Replay**] · Showing the network at step {moment.step:,} "
                                f"(epoch {moment.epoch:.2f}, {moment.elapsed:,.1f} s into "
                                "training)",
                                help=f"{len(snap.snapshots.items())} moments of the run are kept "
                                     f"({snap.snapshots.nbytes / 2**20:,.1f} MB).")
                elif snap.active:
                    _progress(snap)
                elif snap.snapshots is not None and snap.snapshots.refused:
                    st.caption(snap.snapshots.refused)
        if history:
            record = history[moment.record] if moment is not None else history[-1]
            switch_at = _headline(snap, history,
                                  moment.record if moment is not None else len(history) - 1,
                                  with_switch=compact)
            if compact:
                _replay_moment(snap, switch_at, None)
        if inside and history:
            loss_at, accuracy_at, map_at = st.columns(3, gap="small")
        else:
            loss_at, accuracy_at = st.columns(2, gap="small")
        earlier = _curves(snap, history, overlay, log_scale, moment, loss_at, accuracy_at)
        notes = [runs_text(snap.label if history else None, earlier),
                 validation_note(record, snap.model_config, snap.train_config) if history
                 else None]
        if any(notes):
            st.caption("  \n".join(filter(None, notes)))
        if inside and history:
            slots = {"map": map_at}
            if snap.model_config is not None and snap.model_config.is_convolutional:
                slots["units"], slots["maps"], slots["guesses"], slots["health"] = st.columns(
                    CONV_ROW, gap="small")
            else:
                slots["units"], slots["guesses"], slots["health"] = st.columns(
                    [0.85, 1.4, 1.5], gap="small")
            inside_views(t, snap, moment, slots)
        drawing_guess(t, snap)
        training_curve(snap)     # accuracy on the visitor's drawings (>= 10)
    view()


def _progress(snap):
    last = snap.last
    if snap.status == "waiting":
        st.info(snap.waiting_text, icon=":material/hourglass_top:")
        return
    if last is None:
        st.progress(0.0, text="Starting the training process…")
        return
    eta_text = f" · about {snap.eta:,.0f} s left" if math.isfinite(snap.eta) else ""
    stopping = " · stopping…" if snap.status == "stopping" else ""
    st.progress(min(1.0, snap.progress),
                text=f"Step {last['step']:,} of {snap.total_steps:,} · epoch {last['epoch']:.2f} · "
                     f"{last['elapsed']:,.1f} s{eta_text}{stopping}")


def _headline(snap, history, index, with_switch=False):
    """The figures of record ``index`` (the latest, or the replay's moment); a diverged run's loss
    says what it blew up to. No changes since the last refresh: the curves show the trend, and
    figures that keep their size keep the dashboard still. ``with_switch``: a seventh place at
    the row's end, returned, for the Replay switch (else None)."""
    last = history[index]
    row = st.container(horizontal=True, horizontal_alignment="distribute", gap="small",
                       vertical_alignment="center")
    # room for the switch: six figures of 135 px, the switch and their gaps fit 1,048 px
    m = [row.container(width=FIGURE_WIDTH - 15 * with_switch) for _ in range(6)]
    m[0].metric("Step", f"{last['step']:,}", help=f"Weight updates so far, of "
                f"{snap.total_steps:,} planned (epoch {last['epoch']:.2f}).")
    m[1].metric("Epoch", f"{last['epoch']:.2f}", help="Passes over the training images.")
    blew_up = snap.blew_up if snap.status == "diverged" and index == len(history) - 1 else None
    if blew_up is not None:
        words = loss_words(blew_up.get("loss"))
        m[2].metric("Train loss", f"{last['train_loss']:.3f}", f"blew up to {words}",
                    delta_color="inverse", help="The last loss measured before the step that blew "
                    f"up; on the next step (step {blew_up.get('step', 0):,}) it became {words}.")
    else:
        m[2].metric("Train loss", f"{last['train_loss']:.3f}",
                    help="Average loss on the last steps' batches.")
    m[3].metric("Train accuracy", f"{last['train_accuracy']:.1%}",
                help="Share of the last steps' training images classified correctly.")
    val = last["val_accuracy"]
    m[4].metric("Val. accuracy", f"{val:.1%}" if not math.isnan(val) else "n/a",
                help="On held-out images the network never trains on (up to 1,000 of them while "
                     "training; all of them at the end).")
    speed = last["samples_per_second"]
    m[5].metric("Images/s", f"{speed / 1000:.1f}k" if speed >= 10_000 else f"{speed:,.0f}",
                help="Training images processed per second.")
    return row.container(width="content") if with_switch else None


def _curves(snap, history, overlay, log_scale, moment, loss_at, accuracy_at):
    current = (snap.label, history) if history else None
    earlier = []
    if overlay:
        earlier = [(r["label"], r["history"]) for r in st.session_state["runs"]
                   if r["dataset"] == st.session_state["dataset"]
                   and (snap is None or r["label"] != snap.label)]
    if not (current or earlier):
        return []
    diverged = snap is not None and snap.status == "diverged"
    # a fixed axis of the planned run, except for a run that blew up early: its few points
    # would be a sliver at the left edge
    planned = snap.planned_epochs if snap is not None and current and not diverged else None
    options = {"epochs": planned, "blew_up": snap.blew_up if diverged else None,
               "position": moment.epoch if moment is not None else None,
               "height": chart_height(snap)}
    for metric, where in (("loss", loss_at), ("accuracy", accuracy_at)):
        where.markdown(f"**{curves_title(metric, log_scale, options['blew_up'])}**")
        where.vega_lite_chart(curves_spec(metric, current, earlier, log_scale=log_scale,
                                          titled=False, legend_inside=True, **options),
                              width="stretch", key=f"{K}{metric}_chart")
    return [label for label, _ in earlier]


def validation_note(record, model_config, train_config):
    """One line when validation accuracy beats training accuracy in ``record``, saying why; None
    otherwise. The training figures are measured while training, with dropout switching units
    off and augmentation moving the images; validation sees the whole network and plain images."""
    train, val = record.get("train_accuracy"), record.get("val_accuracy")
    if not all(isinstance(v, float) and math.isfinite(v) for v in (train, val)):
        return None
    if val < train + ABOVE_BY:
        return None
    dropout = model_config is not None and model_config.dropout > 0 and model_config.hidden_sizes
    augment = train_config is not None and train_config.augment
    if dropout or augment:
        acts = " and ".join(filter(None, (
            f"dropout ({model_config.dropout:.0%} of units off at random)" if dropout else "",
            "augmentation (images shifted and turned)" if augment else "")))
        return (f"**Why is validation above training?** {acts[0].upper()}{acts[1:]} "
                f"act{'s' if not (dropout and augment) else ''} only in training: training is "
                "measured on a handicapped network, validation on the whole one.")
    return ("**Why is validation above training?** Training is the average over the last steps, "
            "while the network was still a little worse; validation is measured after them.")


def _replay_moment(snap, switch, slider):
    """The snapshot the replay slider points at, or None to show the network as it is now."""
    kept = snap.snapshots.items() if snap.snapshots is not None else ()
    if not switch.toggle("Replay", key=K + "replay", disabled=not kept,
                         help="Go back to any moment of the run: the figures, the pictures, "
                              "guesses, map and health show the network as it was then, and a red "
                              "line marks the moment on the curves."):
        return None
    if slider is None:
        return None
    share = slider.slider("Moment of the run", 0, 100, 100, step=1, key=K + "replay_at",
                          format="%d%%", label_visibility="collapsed",
                          help="0% is the random start; 100% the latest weights.")
    target = share / 100 * kept[-1].elapsed
    return min(kept, key=lambda k: abs(k.elapsed - target))
