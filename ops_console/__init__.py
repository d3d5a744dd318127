"""The control-room console (Dash). Arrives with the console issue."""
