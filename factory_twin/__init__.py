"""factory-twin: a digital twin of production lines whose stations are learning agents."""
