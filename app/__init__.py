"""The app: everything the Streamlit pages call, in folders named for the flow of a visitor's action.

    inputs/   what the visitor gives: the Train form and its presets, shared links and lessons,
              the scales of the sliders, uploaded pictures decoded safely
    runs/     work that outlives a rerun: the line (admission), background jobs in worker
              processes (training, teaching), the replay, adopting a job's model with a way back
    render/   what is shown, without Streamlit: the palette, pictures, Vega-Lite charts, the
              inside of a network, the why pictures
    views/    the Streamlit panels the pages call (each reads widgets, calls the rest, draws)
    store/    what is kept: model files (hosting policy, quotas) and the visitor's drawings

beside ``settings`` (every NN_* variable, read once), ``session`` (every session key, the current
model), ``data`` (cached datasets, shipped models, evaluations) and ``visitor`` (the cookie that
finds a visitor's work after a reload). Dependencies run one way: views -> render, runs, store,
inputs -> data, session, settings -> core. docs/ARCHITECTURE.md draws the flow.
"""
