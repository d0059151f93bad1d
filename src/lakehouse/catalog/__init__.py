"""The catalog: tables, catalog entries, lineage, runs and quality results (`CatalogService`)."""
