"""What the visitor gives: the Train form, shared links and lessons, the sliders' scales, pictures.
"""
