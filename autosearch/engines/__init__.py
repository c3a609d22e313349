"""Search engines: each runs the trials of one search space and returns their TrialRecords.

An engine asks for parameters, trains each network with `training.train_network`, hands every
finished trial to `on_trial` (which logs it), and stops at the trial count or the deadline.
"""
