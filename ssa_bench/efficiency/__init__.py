"""Efficiency measurement of a segmentor's inference graph: FLOPs (two conventions), params, latency.

``flops`` counts, ``latency`` times, ``inference`` builds the inference-only view of a model that
both of them (and the measure stage) use. Imports torch; planning and reporting must not import it.
"""
