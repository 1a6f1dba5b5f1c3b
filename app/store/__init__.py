"""What is kept: model files (where, who sees them, quotas) and the visitor's labelled drawings.
"""
