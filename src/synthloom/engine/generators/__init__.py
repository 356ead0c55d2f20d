"""Column generators: what each column type runs to fill its column."""
