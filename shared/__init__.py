"""smartcity's model layer: everything the console, the citizen API and the worker import."""
