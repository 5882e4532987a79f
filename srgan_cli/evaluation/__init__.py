"""Evaluation: benchmark datasets, the one scoring path, metrics, reports."""
