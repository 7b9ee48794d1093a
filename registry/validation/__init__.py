"""Independent validation of a filed model version against its locked validation plan.

``python -m registry.validation --spec SPEC.json --out RESULT.json`` downloads the
version from MLflow, verifies its artifact hashes and the datasets' hashes, measures the
planned metrics (with bootstrap confidence intervals and per subgroup), robustness under
input perturbations, train/test overlap and latency, and logs a report as an MLflow run.
Whether the run passes is decided by ``registry.validation.judge.judge``.
"""
