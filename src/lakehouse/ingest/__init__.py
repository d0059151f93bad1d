"""Sources into bronze: landing-zone files and Kafka, exactly once."""
