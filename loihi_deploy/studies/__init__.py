"""Studies: the benchmark suite (bench), simulator performance (perf) and error analysis
(analysis) behind docs/results/. Built on the product API; nothing in the product imports it."""
