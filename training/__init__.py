"""Training stage: datasets (numpy only) and the Keras models (TensorFlow imported lazily)."""
