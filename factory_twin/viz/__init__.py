"""Pygame viewer for line snapshots: drivers (what to show), layout/render (how to draw it),
app (window loop and PNG/GIF export). Importing this package imports nothing heavy; only the
render, layout, text and app modules need pygame, and the simulator never imports any of it."""
