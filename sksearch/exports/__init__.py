"""Export folders, a file format that users keep: its file names (``layout.py``), where one may
be written (``targets.py``), writing one (``write.py``) and reading one back (``read.py``).
Built on the study wing (an export of a trial reads the study); never imports Ray."""
