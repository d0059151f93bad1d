"""Silver and gold SQL models, their registry, engine and incremental runner."""
