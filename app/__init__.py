"""Streamlit-side helpers that are not pages: session state, the background trainer, charts.

May import streamlit; never imported by ``core``.
"""
