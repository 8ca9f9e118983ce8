"""Per-operator profiles of exported artifacts (``edgemark profile``): each runtime's own
profiler, its operators mapped back to the model's layers by name, so two runtimes or two
precisions of one model compare row by row."""
