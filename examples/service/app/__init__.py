"""A tiny service: app.config holds settings, app.handlers serves requests,
app.startup wires them and freezes every module at the end of startup."""
