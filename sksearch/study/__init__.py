"""A study folder and what is read from it: the trials table, Pareto fronts and hypervolume,
the report, a trained trial's files (which ``exports/`` writes out as an export folder). Reads
a folder; never imports Ray, and torch only to build a network."""
