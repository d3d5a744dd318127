"""The citizen API (Flask, Open311). Arrives with the citizen API issue."""
