"""What every stage shares: the project's errors, atomic file writes and safe opens, the input
convention, and keeping library chatter off the terminal.

Nothing here imports numpy or an interpreter, so training, export and the device
runtime can all depend on it cheaply.
"""
