"""Judge meta-evaluation: can this judge be trusted, and is judge A better than judge B?

One meta-evaluation::

    finished run (bench dir | grade results | data graded in both orders) ──runs──▶ pairs ──summary──▶ sections
                                                                                               │
                                                               meta.md, meta.json, reliability.png ◀──report, plots

| module        | what it holds                                                                         |
|---------------|---------------------------------------------------------------------------------------|
| pairs         | the Pair record: a labelled two-response sample and its judgments, per order          |
| style         | the length and markdown heuristics                                                    |
| bias          | position (accuracy per order, consistency, first-shown rate, sign test), length, style |
| agreement     | confusion matrix with ties and errors, Cohen's kappa, coverage                         |
| calibration   | reliability bins, ECE, Brier score, the score-gap logistic map and its temperature fit |
| cost          | tokens, wall time and money per 1,000 verdicts                                         |
| significance  | exact binomial test, McNemar's exact test, Holm's correction                           |
| summary       | every section of one judge's meta-evaluation, and what each compares                   |
| runs          | a finished run read back as pairs (data rebuilt and matched by sample id)               |
| compare       | judge A vs judge B: alignment, paired bootstrap CI, McNemar, Holm                      |
| report, plots | markdown (also embedded in benchmark reports) and PNGs                                 |
| cli           | ``rm-gallery meta-eval`` and ``rm-gallery compare``                                    |

Pure Python: matplotlib is imported only to draw.
"""
