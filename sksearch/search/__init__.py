"""The search: Ray Tune runs the trials, the Optuna searcher proposes them and tells the study
the truth, ASHA and MO-ASHA stop them early. The only part of sksearch that imports Ray."""
