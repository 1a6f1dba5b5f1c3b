"""Work that outlives a rerun: the line, background jobs in worker processes, the replay, adopting.
"""
