"""Environmental indices: air quality (US EPA AQI), heat index and noise bands."""
