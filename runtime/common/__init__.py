"""What every stage shares: the project's errors, atomic file writes and the input convention.

Nothing here imports numpy or an interpreter, so training, export and the device
runtime can all depend on it cheaply.
"""
