"""Dashboard services: plain Python over the engine; no Dash imports here."""
