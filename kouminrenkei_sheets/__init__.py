"""kouminrenkei-sheets: validate, sync and publish a public-private partnership desk's spreadsheets."""

__version__ = "0.1.0"
