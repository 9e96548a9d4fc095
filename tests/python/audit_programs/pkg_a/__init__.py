"""A package whose submodule is imported after the package."""
VALUE = 1
