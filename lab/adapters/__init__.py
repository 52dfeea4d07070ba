"""Thin Twisted adapters (Protocol, Factory, wiretap) around the pure protocol cores."""
