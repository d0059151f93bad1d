"""Lake tables: names, Delta access."""
