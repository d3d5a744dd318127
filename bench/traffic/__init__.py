"""Traffic evaluations with known answers: flow forecasts (MASE) and incident detection (SUMO)."""
