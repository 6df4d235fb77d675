"""A study folder and what is read from it: the trials table, Pareto fronts and hypervolume,
the report, exports. Reads a folder; never imports Ray, and torch only to build a network."""
