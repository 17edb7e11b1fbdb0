"""Running a model: the interpreter back-end, the crash probe, the Classifier, quantization, evaluation.

- ``backend``: choose the interpreter module (ai_edge_litert, tflite_runtime, tensorflow).
- ``probe``: load and invoke a model in a child process, so a crash becomes a message.
- ``classifier``: one model, its contract checked, batches of 28x28 pixels in, scores out.
- ``quant``: the one place scale and zero point are applied.
- ``evaluation``: accuracy, agreement, confusion, precision and recall on labelled arrays.
"""
