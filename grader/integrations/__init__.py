"""Bridges to other tools: nbgrader, and the helpers notebooks run."""
