"""The course kit: practice service, Spark session helper, self-checks, lab builder, CLI."""
