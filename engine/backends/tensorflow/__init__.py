"""TensorFlow implementation of the backend protocol (imported only when this backend is chosen).

``backend.TensorFlowBackend`` holds the model as plain ``tf.Variable`` s in TensorFlow layouts;
``layout`` is the single place that converts to and from the neutral (PyTorch) layout.
"""
