"""Dagster definitions, one module per concept; ``mianshen_pipeline.definitions`` merges them."""
