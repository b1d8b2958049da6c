"""`gantext protocol`: MLE + chosen objectives + the control x seeds on any corpus, one report.

    gantext protocol run --recipe coco                         # the COCO benchmark, 3 seeds
    gantext protocol run --files 'data/mine/*.txt' --losses rsgan coldgan --seeds 0 1 2
    gantext protocol run --engine ray --address auto --git-remote origin --recipe coco
    gantext protocol report --recipe coco                      # the report again (no runs)
    gantext protocol flags --recipe coco --seed 0 --loss rsgan # one experiment's -S overrides

Modules: :mod:`~gantext.protocol.recipe` (corpus + overrides), :mod:`~gantext.protocol.run`
(experiments through :mod:`gantext.sweep`: resumable, stale ones superseded),
:mod:`~gantext.protocol.collect` (each experiment's files and stage times),
:mod:`~gantext.protocol.aggregate` (the multi-seed verdict) and :mod:`~gantext.protocol.report`
(report.md / .json, the PNG, the CSV and its dvc plot). The CLI glue is
:mod:`~gantext.protocol.command`. Nothing is imported here: `gantext --help` stays fast.
"""

