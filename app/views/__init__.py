"""The Streamlit panels the pages call: each reads widgets, calls inputs/runs/render/store, draws.
"""
