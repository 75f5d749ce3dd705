"""The studies' library code, a package each (`studies/<study>/` holds its dvc.yaml, params and stage scripts).

A study imports the library layers and `rnnlab.studies.shared`, never another study; no library layer imports a
study (tests/unit/test_layers.py checks both over the import graph).
"""
