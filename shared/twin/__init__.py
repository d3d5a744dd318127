"""The SUMO digital twin: scenarios, detectors, controllers, evaluation, emergency runs."""
