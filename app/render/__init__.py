"""What is shown, without Streamlit: palette, pictures, charts, the inside, the why pictures.
"""
