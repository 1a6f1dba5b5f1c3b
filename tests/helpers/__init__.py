"""What the tests and the benchmarks share: tiny real data, hostile files, the handwriting style
set, /proc readers, the app's server and the browser harness. Tests import from here and never
from ``benchmarks``; benchmarks import from here too. Nothing here is imported by the product.

    splits       tiny real core.datasets.Splits: random, separable blobs, the bundled sample
    hostile      hostile and careless files: huge PNGs, model files, gzip bombs
    uploads      the worst pictures, decoded in a fresh memory-limited process
    procs        /proc readers (trees, CPU, RSS, peaks, exit), address-space limits, fresh children
    runs         training runs as the app starts them: simultaneous Starts, a killed server, memory
    strokes      digits as mouse strokes, and a renderer that draws them like the canvas
    handwriting  a personal style of digits the shipped model reads poorly (for "Teach it")
    browser      Chromium, the app's server (``served``), the Draw page's scripts, waits
    replay       digits drawn with the mouse on the real Draw page, beside the same offline
    protocol     a visitor as a websocket client speaking Streamlit's protocol (no browser)
    visitors     drawing and training visitors of a load round, the round and its target
"""
