"""One module per CLI verb (plan, run, status, report, figures, preflight, measure, data, weights),
each with its ``cmd_<verb>(args) -> exit code``; ``shared.py`` holds what several verbs use.
cli.py imports only the verb it runs, so `plan` and `status` never import what `preflight` needs.
A ``UserError`` raised here becomes exit 2 with its one line (cli.py)."""
