"""The one validation engine (``rules``) and the one YAML reader (``yaml_file``) of ssa-bench.

Every file and value a user writes -- specs, ``--set`` values, classifier settings, cluster
profiles, the weights catalog, the paper's numbers -- is read by :func:`yaml_file.read_yaml` and
checked by the rules of :mod:`rules` against tables that say each fact once (the key tables of
``ssa_bench.vocabulary``). A floor-1 room: it imports only ``ssa_bench.errors``.
"""
