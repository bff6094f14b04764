"""JAX / Flax backend (``engine.backends.jax.backend:JaxBackend``).

Nothing here imports JAX: the framework is loaded only when the backend is constructed.
``layout.py`` holds the neutral <-> Flax layout conversion, ``model.py`` the Flax model, ``loss.py`` its loss.
"""
