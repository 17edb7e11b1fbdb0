"""Images into the model's form: pure numpy functions, image files through Pillow.

- ``image_files``: read a file as an HxW uint8 grayscale array in bounded memory (``load_image``,
  ``read_image`` with the scale of a large image, ``load_digit``).
- ``preprocess``: a photo or frame -> 28x28 MNIST-form crops (``to_mnist``, ``find_digits``).
- ``segment``: connected components, the main digit's box, the row of a written number.
- ``row``: a written number's row -> one glyph per digit (``--digits``: joins and splits to the count).
- ``splitting``: touching digits cut where the outline dips and the model reads the pieces best.
"""
